package report

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Formats are the output formats Write knows, in the order it writes them.
var Formats = []string{"html", "pdf"}

// FileName is the report's file name for a format: the as-of time in it, so
// the weekly reports of --every sit side by side.
func (r Report) FileName(format string) string {
	return "referralops-report-" + r.AsOf.Format("2006-01-02T150405Z") + "." + format
}

// Write renders the report in each format into dir (created if missing), each
// file written whole or not at all (a temporary file renamed), and returns the
// paths written.
func (r Report) Write(dir string, formats []string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var paths []string
	for _, f := range formats {
		var buf bytes.Buffer
		var err error
		switch f {
		case "html":
			err = r.WriteHTML(&buf)
		case "pdf":
			err = r.WritePDF(&buf)
		default:
			err = fmt.Errorf("unknown format %q (want %s)", f, strings.Join(Formats, " or "))
		}
		if err != nil {
			return paths, fmt.Errorf("report: %s: %w", f, err)
		}
		path := filepath.Join(dir, r.FileName(f))
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
			return paths, fmt.Errorf("report: %w", err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return paths, fmt.Errorf("report: %w", err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}
