package kpi

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Window is a KPI window W: the cohort interval (T−W, T] before the evaluation
// time T. Windows are whole seconds.
type Window time.Duration

const day = 24 * time.Hour

// maxWindow bounds a window to what the facts can answer in reasonable time.
const maxWindow = 3660 * day

// DefaultWindows are KPIS.md's defaults: 30 and 90 days.
func DefaultWindows() []Window { return []Window{Window(30 * day), Window(90 * day)} }

// ParseWindow reads "30d" (whole days) or a Go duration such as "36h".
func ParseWindow(s string) (Window, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return 0, fmt.Errorf("window %q: want whole days like 30d or a duration like 36h", s)
		}
		d = time.Duration(days) * day
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("window %q: want whole days like 30d or a duration like 36h", s)
		}
	}
	w := Window(d)
	return w, w.Validate()
}

// Validate accepts positive whole-second windows up to ten years.
func (w Window) Validate() error {
	d := time.Duration(w)
	switch {
	case d <= 0:
		return fmt.Errorf("window %s: must be positive", w)
	case d%time.Second != 0:
		return fmt.Errorf("window %s: must be whole seconds", w)
	case d > maxWindow:
		return fmt.Errorf("window %s: must be at most %s", w, Window(maxWindow))
	}
	return nil
}

// Duration is the window's length.
func (w Window) Duration() time.Duration { return time.Duration(w) }

// Seconds is the window's length in seconds.
func (w Window) Seconds() int64 { return int64(time.Duration(w) / time.Second) }

// String is "30d" for whole days, else the Go duration ("36h0m0s").
func (w Window) String() string {
	d := time.Duration(w)
	if d > 0 && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return d.String()
}

// MarshalText writes String, so YAML and JSON carry "30d".
func (w Window) MarshalText() ([]byte, error) { return []byte(w.String()), nil }

// UnmarshalText reads what ParseWindow reads.
func (w *Window) UnmarshalText(b []byte) error {
	v, err := ParseWindow(string(b))
	if err != nil {
		return err
	}
	*w = v
	return nil
}

// Windows is a list of windows; as a flag, a comma-separated list that
// replaces the default ("30d,90d").
type Windows []Window

// String implements flag.Value.
func (ws *Windows) String() string {
	parts := make([]string, len(*ws))
	for i, w := range *ws {
		parts[i] = w.String()
	}
	return strings.Join(parts, ",")
}

// Set implements flag.Value; it replaces the list.
func (ws *Windows) Set(s string) error {
	var out Windows
	for _, part := range strings.Split(s, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		w, err := ParseWindow(part)
		if err != nil {
			return err
		}
		out = append(out, w)
	}
	*ws = out
	return nil
}

// Validate wants at least one window, each valid, none twice.
func (ws Windows) Validate() error {
	if len(ws) == 0 {
		return errors.New("at least one window is needed")
	}
	seen := map[Window]bool{}
	var errs []error
	for _, w := range ws {
		if err := w.Validate(); err != nil {
			errs = append(errs, err)
		}
		if seen[w] {
			errs = append(errs, fmt.Errorf("window %s: listed twice", w))
		}
		seen[w] = true
	}
	return errors.Join(errs...)
}
