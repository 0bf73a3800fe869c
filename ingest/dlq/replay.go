package dlq

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/internal/broker"
)

// ReplayGroup is the consumer group remembering which dead letters of reason
// were replayed, beside the ingester's group: one group per reason, so that
// replaying one reason passes over no dead letter of another.
func ReplayGroup(ingestGroup, reason string) string {
	return ingestGroup + "-dlq-replay-" + reason
}

// Replay is one replay run's settings.
type Replay struct {
	Filter        // Reason is required
	Group  string // the ingester's consumer group; the replay group is ReplayGroup(Group, Reason)
	DryRun bool   // count what would be replayed; produce and commit nothing
	// Progress receives a line per partition of the dead-letter topic read.
	Progress io.Writer
}

// Counts is what a replay did.
type Counts struct {
	Replayed      int // re-produced and acknowledged (or, dry, would be)
	NotReplayable int // of the reason, but truncated or stubs: passed over
	BeforeSince   int // of the reason, but older than Since: passed over
}

// replayBatch is how many records are produced between two commits.
const replayBatch = 500

// Run replays the dead letters of r.Reason not replayed before, partition by
// partition. Dead letters older than r.Since are passed over for good, like
// those not replayable: the group remembers a position, not a set.
func (r Replay) Run(ctx context.Context, c broker.Config) (Counts, error) {
	var n Counts
	if r.Reason == "" {
		return n, errors.New("a reason is required")
	}
	group := ReplayGroup(r.Group, r.Reason)
	first, end, err := broker.PartitionOffsets(ctx, c, c.Topics.DeadLetters)
	if err != nil {
		return n, err
	}
	done, err := broker.CommittedOffsets(ctx, c, group, c.Topics.DeadLetters)
	if err != nil {
		return n, err
	}
	p, err := broker.NewProducer(c, 2*replayBatch)
	if err != nil {
		return n, err
	}
	inputs := c.Topics.Inputs()
	for partition := range len(end) {
		from := first[partition]
		if off, ok := done[partition]; ok && off > from {
			from = off
		}
		var part Counts
		pending := 0
		// settle produces the pending records and, once the brokers
		// acknowledged them, remembers everything before next as done.
		settle := func(next int64) error {
			if r.DryRun {
				return nil
			}
			if err := p.Flush(ctx); err != nil {
				return err
			}
			part.Replayed += pending
			pending = 0
			return broker.CommitOffset(ctx, c, group, c.Topics.DeadLetters, partition, next)
		}
		err := scanPartition(ctx, c, partition, from, end[partition], func(m kafka.Message) error {
			l := Parse(m)
			switch {
			case l.Reason != r.Reason:
			case !r.Since.IsZero() && l.Time.Before(r.Since):
				part.BeforeSince++
			case !l.Replayable:
				part.NotReplayable++
			case !slices.Contains(inputs, l.SourceTopic):
				return fmt.Errorf("dead letter %d/%d comes from topic %q, not one of the input topics %s: set --topic-*",
					l.Partition, l.Offset, l.SourceTopic, strings.Join(inputs, ", "))
			case r.DryRun:
				part.Replayed++
			default:
				o := Original(m, l)
				if err := p.Send(ctx, o.Topic, o.Key, o.Value, o.Headers); err != nil {
					return err
				}
				if pending++; pending == replayBatch {
					return settle(m.Offset + 1)
				}
			}
			return nil
		})
		if err == nil && from < end[partition] {
			err = settle(end[partition])
		}
		n.Replayed += part.Replayed
		n.NotReplayable += part.NotReplayable
		n.BeforeSince += part.BeforeSince
		if r.Progress != nil {
			fmt.Fprintf(r.Progress, "dlq replay: %s partition %d (offsets %d to %d): %d replayed, %d not replayable, %d before --since\n",
				c.Topics.DeadLetters, partition, from, end[partition], part.Replayed, part.NotReplayable, part.BeforeSince)
		}
		if err != nil {
			// Records sent but not committed are produced by Close: the next
			// replay produces them again, which changes no fact.
			_ = p.Close(context.WithoutCancel(ctx))
			return n, fmt.Errorf("partition %d: %w", partition, err)
		}
	}
	return n, p.Close(ctx)
}
