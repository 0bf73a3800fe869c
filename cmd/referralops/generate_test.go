package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/referralops/referralops/internal/testenv"
)

// TestGenerateFormats: `generate --format hl7v2|fhir --out` writes the
// format's messages, which convert maps with the example site config without
// a skip or a dead letter, and the CloudEvents beside them; together they are
// every message of the CloudEvents run of the same seed.
func TestGenerateFormats(t *testing.T) {
	dir := t.TempDir()
	args := []string{"generate", "--seed", "11", "--referrals", "60", "--end", "2026-03-31"}
	run := func(extra ...string) (string, int) {
		cmd := exec.Command(testenv.Binary(t), append(args, extra...)...)
		out, err := cmd.CombinedOutput()
		if _, ok := err.(*exec.ExitError); err != nil && !ok {
			t.Fatal(err)
		}
		return string(out), cmd.ProcessState.ExitCode()
	}
	lines := func(path string) int {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Count(b, []byte("\n"))
	}
	all := filepath.Join(dir, "all.ndjson")
	if out, code := run("--out", all); code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	total := lines(all)
	key := []string{"REFERRALOPS_PATIENT_TOKEN_KEY=" + convertKey}
	for _, f := range []string{"hl7v2", "fhir"} {
		feed, beside := filepath.Join(dir, f+".feed"), filepath.Join(dir, f+".ndjson")
		if out, code := run("--format", f, "--out", feed, "--out-cloudevents", beside); code != 0 {
			t.Fatalf("%s: exit %d:\n%s", f, code, out)
		}
		stdout, stderr, code := runConvert(t, nil, key, "--from", f, "--site-config", exampleSite, feed)
		if code != 0 {
			t.Fatalf("convert %s: exit %d\n%s", f, code, stderr)
		}
		outcomes := strings.Split(strings.TrimSpace(stderr), "\n")
		for _, o := range outcomes {
			if fields := strings.Fields(o); len(fields) != 3 || fields[1] != "event" {
				t.Fatalf("convert %s: %q, want one event per message", f, o)
			}
		}
		if n := strings.Count(stdout, "\n"); n != len(outcomes) {
			t.Errorf("%s: %d events from %d messages", f, n, len(outcomes))
		}
		if got := len(outcomes) + lines(beside); got != total || len(outcomes) < total/2 {
			t.Errorf("%s: %d messages + %d CloudEvents beside, want %d in all, most of them %s", f, len(outcomes), lines(beside), total, f)
		}
	}
	for _, tc := range []struct{ args []string }{
		{[]string{"--format", "xml", "--out", all}},
		{[]string{"--format", "hl7v2", "--out", all}},                          // no --out-cloudevents
		{[]string{"--out", all, "--out-cloudevents", filepath.Join(dir, "x")}}, // cloudevents has nothing beside
		{[]string{"--out", all, "--site-config-out", filepath.Join(dir, "x")}}, // no --site-config to start from
	} {
		if out, code := run(tc.args...); code != exitBadConfig {
			t.Errorf("%v: exit %d, want %d:\n%s", tc.args, code, exitBadConfig, out)
		}
	}
}

// TestGenerateSiteConfig: `generate --site-config --site-config-out` writes a
// site config (the example's tables and the network's provider directory)
// with which convert gives every referral of the FHIR feed the referrer type
// of its CloudEvent, also where the organisation table alone would not; a
// --site-config that does not load fails the run.
func TestGenerateSiteConfig(t *testing.T) {
	dir := t.TempDir()
	args := []string{"generate", "--seed", "11", "--referrals", "300", "--end", "2026-03-31"}
	all, feed, beside, site := filepath.Join(dir, "all.ndjson"), filepath.Join(dir, "fhir.feed"), filepath.Join(dir, "beside.ndjson"), filepath.Join(dir, "site.yaml")
	for _, extra := range [][]string{{"--out", all}, {"--format", "fhir", "--out", feed, "--out-cloudevents", beside,
		"--site-config", exampleSite, "--site-config-out", site}} {
		if out, err := exec.Command(testenv.Binary(t), append(args, extra...)...).CombinedOutput(); err != nil {
			t.Fatalf("generate %v: %v\n%s", extra, err, out)
		}
	}
	types := func(ndjson string) map[string]string {
		m := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(ndjson), "\n") {
			var e struct {
				Type, Subject string
				Data          struct {
					ReferrerType string `json:"referrer_type"`
					PatientToken string `json:"patient_token"`
				}
			}
			// A referral without a patient token has no FHIR message: the
			// feed leaves it a CloudEvent beside it (sitefeed).
			if json.Unmarshal([]byte(line), &e) == nil && e.Type == "referral.created" && e.Data.PatientToken != "" {
				m[e.Subject] = e.Data.ReferrerType
			}
		}
		return m
	}
	b, err := os.ReadFile(all)
	if err != nil {
		t.Fatal(err)
	}
	want := types(string(b))
	for name, cfg := range map[string]string{"generated": site, "example": exampleSite} {
		stdout, stderr, code := runConvert(t, nil, []string{"REFERRALOPS_PATIENT_TOKEN_KEY=" + convertKey}, "--from", "fhir", "--site-config", cfg, feed)
		if code != 0 {
			t.Fatalf("convert with the %s site config: exit %d\n%s", name, code, stderr)
		}
		got := types(stdout)
		differ := 0
		for sub, typ := range want {
			if got[sub] != typ {
				differ++
			}
		}
		switch {
		case len(got) != len(want):
			t.Errorf("%s: %d referrals converted, want %d", name, len(got), len(want))
		case name == "generated" && differ != 0:
			t.Errorf("%d of %d referrals have another referrer type than their CloudEvent", differ, len(want))
		case name == "example" && differ == 0:
			t.Errorf("the organisation table alone types every referral right: the test shows nothing")
		}
	}
	cmd := exec.Command(testenv.Binary(t), append(args, "--out", all, "--site-config", filepath.Join(dir, "nope.yaml"), "--site-config-out", site)...)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "site-config") {
		t.Errorf("a missing --site-config: %v\n%s", err, out)
	}
}
