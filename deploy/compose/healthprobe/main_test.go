package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestProbe(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }))
	defer srv.Close()

	if code := run([]string{srv.URL}, io.Discard); code != 0 {
		t.Errorf("200: exit %d, want 0", code)
	}
	status = http.StatusServiceUnavailable
	if code := run([]string{srv.URL}, io.Discard); code != 1 {
		t.Errorf("503: exit %d, want 1", code)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	if code := run([]string{"-timeout", "500ms", closed.URL}, io.Discard); code != 1 {
		t.Errorf("refused: exit %d, want 1", code)
	}
	if code := run(nil, io.Discard); code != 2 {
		t.Errorf("no URL: exit %d, want 2", code)
	}
}

func TestProbeTimeout(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	if err := probe(srv.URL, 50*time.Millisecond); err == nil {
		t.Error("a server that never answers passed the probe")
	}
}
