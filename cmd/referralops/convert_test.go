package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/referralops/referralops/internal/testenv"
)

const convertKey = "test-only-patient-token-key-0123456789" // the key of ingest/mapping's golden files

var (
	mappingTestdata = filepath.Join("..", "..", "ingest", "mapping", "testdata")
	exampleSite     = filepath.Join("..", "..", "docs", "examples", "site-config.yaml")
)

// runConvert runs the real binary; env replaces the patient token key setting.
func runConvert(t *testing.T, stdin []byte, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(testenv.Binary(t), append([]string{"convert"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

// TestConvertFixtures runs convert on every fixture of ingest/mapping and
// compares with its golden file: stdout the events, stderr one outcome line
// per message named <file>[:N]; exit 1 exactly when a message would be
// dead-lettered.
func TestConvertFixtures(t *testing.T) {
	key := []string{"REFERRALOPS_PATIENT_TOKEN_KEY=" + convertKey}
	for dir, from := range map[string]string{"hl7v2": "hl7v2", "fhir": "fhir"} {
		files, err := filepath.Glob(filepath.Join(mappingTestdata, dir, "*"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no fixtures in %s: %v", dir, err)
		}
		for _, path := range files {
			t.Run(filepath.Base(path), func(t *testing.T) {
				golden, err := os.ReadFile(filepath.Join(mappingTestdata, "golden", filepath.Base(path)+".golden"))
				if err != nil {
					t.Fatal(err)
				}
				var wantEvents, wantLines []string
				dead := false
				lines := strings.Split(strings.TrimSuffix(string(golden), "\n"), "\n")
				n := strings.Count(string(golden), "# message ")
				for _, l := range lines {
					num, outcome, ok := strings.Cut(strings.TrimPrefix(l, "# message "), ": ")
					if !strings.HasPrefix(l, "# message ") || !ok {
						wantEvents = append(wantEvents, l)
						continue
					}
					name := path
					if n > 1 {
						name += ":" + num
					}
					wantLines = append(wantLines, name+" "+outcome)
					dead = dead || strings.HasPrefix(outcome, "dead_letter ")
				}
				stdout, stderr, code := runConvert(t, nil, key, "--from", from, "--site-config", exampleSite, path)
				if want := strings.Join(wantEvents, "\n"); strings.TrimSuffix(stdout, "\n") != want {
					t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
				}
				var gotLines []string
				for _, l := range strings.Split(strings.TrimSuffix(stderr, "\n"), "\n") {
					if strings.HasPrefix(l, path) {
						gotLines = append(gotLines, l)
					}
				}
				if strings.Join(gotLines, "\n") != strings.Join(wantLines, "\n") {
					t.Errorf("outcome lines:\n%s\nwant:\n%s\n(stderr:\n%s)", strings.Join(gotLines, "\n"), strings.Join(wantLines, "\n"), stderr)
				}
				if wantCode := map[bool]int{false: exitOK, true: exitFailure}[dead]; code != wantCode {
					t.Errorf("exit %d, want %d; stderr:\n%s", code, wantCode, stderr)
				}
				assertNoPHI(t, stdout+stderr)
			})
		}
	}
}

// assertNoPHI fails if any value of ingest/mapping/testdata/phi.txt appears.
func assertNoPHI(t *testing.T, out string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(mappingTestdata, "phi.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range strings.Split(string(b), "\n") {
		if v = strings.TrimSpace(v); v != "" && !strings.HasPrefix(v, "#") && strings.Contains(strings.ToLower(out), strings.ToLower(v)) {
			t.Errorf("PHI %q in the output", v)
		}
	}
}

// TestConvertStdinAndSeveralFiles: "-" reads stdin; several files are
// converted in order, each message named by its file.
func TestConvertStdinAndSeveralFiles(t *testing.T) {
	in, err := os.ReadFile(filepath.Join(mappingTestdata, "hl7v2", "rri_i12.hl7"))
	if err != nil {
		t.Fatal(err)
	}
	i14 := filepath.Join(mappingTestdata, "hl7v2", "ref_i14.hl7")
	stdout, stderr, code := runConvert(t, in, []string{"REFERRALOPS_PATIENT_TOKEN_KEY=" + convertKey},
		"--from", "hl7v2", "--site-config", exampleSite, "-", i14)
	want := "-:1 event referral.accepted\n-:2 event referral.rejected\n" + i14 + " event referral.cancelled\n"
	if code != exitOK || stderr != want {
		t.Errorf("exit %d, stderr:\n%s\nwant:\n%s", code, stderr, want)
	}
	if n := strings.Count(stdout, `"specversion":"1.0"`); n != 3 {
		t.Errorf("%d events on stdout, want 3:\n%s", n, stdout)
	}
}

// TestConvertBadConfig: exit 2 and the reason, before reading any input.
func TestConvertBadConfig(t *testing.T) {
	dir := t.TempDir()
	badZone := filepath.Join(dir, "zone.yaml")
	if err := os.WriteFile(badZone, []byte("time_zone: Mars/Olympus_Mons\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	unknownKey := filepath.Join(dir, "unknown.yaml")
	if err := os.WriteFile(unknownKey, []byte("time_zone: UTC\nterminologies: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	key := "REFERRALOPS_PATIENT_TOKEN_KEY=" + convertKey
	for name, c := range map[string]struct {
		env  []string
		args []string
		want string
	}{
		"no key":         {[]string{"REFERRALOPS_PATIENT_TOKEN_KEY="}, []string{"--from", "hl7v2", "--site-config", exampleSite}, "REFERRALOPS_PATIENT_TOKEN_KEY is not set"},
		"short key":      {[]string{"REFERRALOPS_PATIENT_TOKEN_KEY=short"}, []string{"--from", "hl7v2", "--site-config", exampleSite}, "at least 32 bytes"},
		"no format":      {[]string{key}, []string{"--site-config", exampleSite}, "from: must be hl7v2 or fhir"},
		"bad format":     {[]string{key}, []string{"--from", "x12", "--site-config", exampleSite}, "from: must be hl7v2 or fhir"},
		"no site config": {[]string{key}, []string{"--from", "fhir"}, "site-config: required"},
		"missing file":   {[]string{key}, []string{"--from", "fhir", "--site-config", filepath.Join(dir, "nope.yaml")}, "no such file"},
		"bad zone":       {[]string{key}, []string{"--from", "fhir", "--site-config", badZone}, "time_zone: unknown time zone"},
		"unknown key":    {[]string{key}, []string{"--from", "fhir", "--site-config", unknownKey}, "field terminologies not found"},
	} {
		t.Run(name, func(t *testing.T) {
			stdout, stderr, code := runConvert(t, nil, c.env, c.args...)
			if code != exitBadConfig || !strings.Contains(stderr, c.want) || stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit 2 and %q", code, stdout, stderr, c.want)
			}
		})
	}
}

// TestConvertUnreadableInput: a file that cannot be read fails the run.
func TestConvertUnreadableInput(t *testing.T) {
	_, stderr, code := runConvert(t, nil, []string{"REFERRALOPS_PATIENT_TOKEN_KEY=" + convertKey},
		"--from", "fhir", "--site-config", exampleSite, filepath.Join(t.TempDir(), "missing.json"))
	if code != exitFailure || !strings.Contains(stderr, "no such file") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}
