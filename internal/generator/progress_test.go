package generator_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/referralops/referralops/internal/generator"
)

// Off a terminal the progress bar says nothing; a nil one is silent too.
func TestProgressIsSilentOffTerminal(t *testing.T) {
	var buf bytes.Buffer
	p := generator.NewProgress(testConfig(100), &buf)
	for range 10_000 {
		p.Add(1)
	}
	p.Finish()
	if buf.Len() != 0 {
		t.Errorf("wrote %q to a non-terminal", buf.String())
	}
	f, err := os.CreateTemp(t.TempDir(), "progress")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p = generator.NewProgress(testConfig(100), f)
	p.Add(1000)
	p.Finish()
	if st, _ := f.Stat(); st.Size() != 0 {
		t.Errorf("wrote %d bytes to a regular file", st.Size())
	}
	var nilP *generator.Progress
	nilP.Add(1)
	nilP.Finish()
}
