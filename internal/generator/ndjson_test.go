package generator_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/generator"
)

func TestWriteNDJSON(t *testing.T) {
	cfg := testConfig(1000)
	cfg.BinaryRatio = 0
	cfg.InvalidRatio = 0.05
	cfg.DuplicateRatio = 0.02
	cfg.MaxMessageBytes = 8 << 10
	var buf bytes.Buffer
	write := generator.WriteNDJSON(&buf)
	var want []generator.Message
	_, err := generator.Generate(context.Background(), cfg, func(m generator.Message) error {
		want = append(want, m)
		return write(m)
	})
	if err != nil {
		t.Fatal(err)
	}
	dcfg := event.DefaultConfig()
	dcfg.MaxMessageBytes = cfg.MaxMessageBytes
	dec := event.NewDecoder(dcfg)
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	i := 0
	for ; sc.Scan(); i++ {
		if i >= len(want) {
			t.Fatal("more lines than messages")
		}
		if !bytes.Equal(sc.Bytes(), want[i].Value) {
			t.Fatalf("line %d differs from its message", i+1)
		}
		_, err := dec.Decode(sc.Bytes(), nil)
		if got := event.ReasonOf(err); got != want[i].Invalid {
			t.Fatalf("line %d: got %v, want reason %q", i+1, err, want[i].Invalid)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if i != len(want) {
		t.Fatalf("%d lines for %d messages", i, len(want))
	}

	err = generator.WriteNDJSON(&buf)(generator.Message{Value: []byte("x"), Headers: []event.Header{{Key: "ce_id"}}})
	if !errors.Is(err, generator.ErrBinaryMode) {
		t.Errorf("binary-mode message: got %v, want ErrBinaryMode", err)
	}
}
