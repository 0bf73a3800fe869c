package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
)

// RequireServers reports whether a missing server fails the test instead of
// skipping it.
func RequireServers() bool { return os.Getenv("REFERRALOPS_REQUIRE_SERVERS") == "1" }

func unavailable(t testing.TB, what string, err error) {
	t.Helper()
	missing(t, what, "make services-up", err)
}

// missing skips the test, or fails it under REFERRALOPS_REQUIRE_SERVERS=1;
// fix is the make target that provides what.
func missing(t testing.TB, what, fix string, err error) {
	t.Helper()
	if RequireServers() {
		t.Fatalf("%s is required (REFERRALOPS_REQUIRE_SERVERS=1) but unavailable: %v; run `%s`", what, err, fix)
	}
	t.Skipf("%s unavailable (%v); run `%s` or set REFERRALOPS_REQUIRE_SERVERS=1 to fail instead", what, err, fix)
}

// UniqueName returns prefix followed by random hex, safe as a database or topic name.
func UniqueName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
