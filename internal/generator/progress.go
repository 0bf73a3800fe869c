package generator

import (
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Progress shows how far a run is on a terminal; it is silent (and nearly free)
// when its writer is not one, e.g. in CI logs or when stderr is redirected. A
// nil *Progress is silent too.
type Progress struct {
	bar     *progressbar.ProgressBar
	total   int64
	done    int64
	pending int
}

// progressBatch is how many messages Add collects before touching the bar,
// which locks and may render.
const progressBatch = 512

// NewProgress returns a progress bar on w counting the messages of a run of
// cfg, or a silent Progress when w is not a terminal. The total is estimated
// from a small pilot simulation; the bar stretches if the run goes past it.
func NewProgress(cfg Config, w io.Writer) *Progress {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return &Progress{}
	}
	total := EstimateMessages(cfg)
	return &Progress{
		total: int64(total),
		bar: progressbar.NewOptions64(int64(total),
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("generating"),
			progressbar.OptionSetItsString("msg"),
			progressbar.OptionShowIts(),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionFullWidth(),
			progressbar.OptionOnCompletion(func() { _, _ = io.WriteString(w, "\n") }),
		),
	}
}

// Add counts n more messages.
func (p *Progress) Add(n int) {
	if p == nil || p.bar == nil {
		return
	}
	p.pending += n
	if p.pending < progressBatch {
		return
	}
	p.flush()
}

func (p *Progress) flush() {
	p.done += int64(p.pending)
	p.pending = 0
	if p.done >= p.total*95/100 { // the estimate was short: keep the bar below 100%
		p.total = p.done * 11 / 10
		p.bar.ChangeMax64(p.total)
	}
	_ = p.bar.Set64(p.done)
}

// Finish completes the bar at the final count.
func (p *Progress) Finish() {
	if p == nil || p.bar == nil {
		return
	}
	p.done += int64(p.pending)
	p.pending = 0
	p.bar.ChangeMax64(max(p.done, 1))
	_ = p.bar.Finish()
}
