package generated

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/referralops/referralops/metrics"
)

// region is a generated part of a hand-written file, between the lines
// <!-- name:begin --> and <!-- name:end -->.
type region struct {
	file   string // slash-separated, relative to the repository root
	name   string
	render func(io.Writer) error
}

var regions = []region{
	{"README.md", "kpi-metrics", metrics.WriteReference},
}

// renderRegions makes each file holding regions with every region rewritten.
func renderRegions(root string) ([]File, error) {
	var out []File
	for _, r := range regions {
		i := slices.IndexFunc(out, func(f File) bool { return f.Path == r.file })
		if i < 0 {
			b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(r.file)))
			if err != nil {
				return nil, err
			}
			out = append(out, File{Path: r.file, Data: b})
			i = len(out) - 1
		}
		b, err := r.replace(out[i].Data)
		if err != nil {
			return nil, err
		}
		out[i].Data = b
	}
	return out, nil
}

// replace returns doc with the region's content rendered anew.
func (r region) replace(doc []byte) ([]byte, error) {
	begin, end := "<!-- "+r.name+":begin -->\n", "<!-- "+r.name+":end -->"
	b, e := bytes.Index(doc, []byte(begin)), bytes.Index(doc, []byte(end))
	if b < 0 || e < b {
		return nil, fmt.Errorf("%s has no %q ... %q region", r.file, begin, end)
	}
	b += len(begin)
	var content bytes.Buffer
	if err := r.render(&content); err != nil {
		return nil, fmt.Errorf("%s region %s: %w", r.file, r.name, err)
	}
	return slices.Concat(doc[:b], content.Bytes(), doc[e:]), nil
}
