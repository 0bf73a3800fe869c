package generator_test

import (
	"context"
	"io"
	"testing"

	"github.com/referralops/referralops/internal/generator"
)

// BenchmarkGenerate measures generation speed in events per second, for the
// default run (10% binary mode) handed to a no-op emit, and for NDJSON written
// to io.Discard. Run with -cpu 1 for the single-core figure; events/cpu-s
// (process CPU time, GC included) is the figure to trust on a busy machine.
func BenchmarkGenerate(b *testing.B) {
	for _, bc := range []struct {
		name   string
		binary float64
		emit   func() func(generator.Message) error
	}{
		{"noop", 0.1, func() func(generator.Message) error { return func(generator.Message) error { return nil } }},
		{"ndjson", 0, func() func(generator.Message) error { return generator.WriteNDJSON(io.Discard) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := testConfig(20_000)
			cfg.BinaryRatio = bc.binary
			b.ReportAllocs()
			events, bytes := 0, int64(0)
			cpu0 := cpuTime()
			for b.Loop() {
				emit := bc.emit()
				stats, err := generator.Generate(context.Background(), cfg, func(m generator.Message) error {
					bytes += int64(len(m.Value))
					return emit(m)
				})
				if err != nil {
					b.Fatal(err)
				}
				events += stats.Events
			}
			b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
			if cpu := cpuTime() - cpu0; cpu > 0 {
				b.ReportMetric(float64(events)/cpu.Seconds(), "events/cpu-s")
			}
			b.SetBytes(bytes / int64(max(1, b.N)))
		})
	}
}
