package ingest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/ingest/mapping"
	"github.com/referralops/referralops/schema"
)

// eventColumns are the `events` columns in insert order; rows.columns returns
// its slices in this order.
var eventColumns = schema.EventColumns

func insertQuery(table string) string {
	return "INSERT INTO " + table + " (" + strings.Join(eventColumns, ", ") + ")"
}

// rows holds a batch column by column, the layout the native protocol sends, so
// an insert (and each retry of it) is a handful of slice appends.
type rows struct {
	strs       [][]string // the String columns, in eventColumns order, by index in stringCols
	eventTime  []time.Time
	scheduled  []time.Time
	missing    [][]string
	partition  []int32
	offset     []int64
	ingestedAt []time.Time
}

// Indexes into rows.strs, in the order the String columns appear in eventColumns.
const (
	colEventID = iota
	colEventType
	colReferralID
	colSource
	colReferrerID
	colReferrerOrgID
	colReferrerType
	colReferrerNetwork
	colServiceLine
	colLocationID
	colDestinationNetwork
	colDestinationOrgID
	colPayerClass
	colPriority
	colChannel
	colPatientToken
	colReason
	colAppointmentID
	colVisitType
	colCancelledBy
	colRecipient
	colOutcome
	colKafkaTopic
	numStringCols
)

func newRows(capacity int) *rows {
	r := &rows{strs: make([][]string, numStringCols)}
	for i := range r.strs {
		r.strs[i] = make([]string, 0, capacity)
	}
	r.eventTime = make([]time.Time, 0, capacity)
	r.scheduled = make([]time.Time, 0, capacity)
	r.missing = make([][]string, 0, capacity)
	r.partition = make([]int32, 0, capacity)
	r.offset = make([]int64, 0, capacity)
	r.ingestedAt = make([]time.Time, 0, capacity)
	return r
}

func (r *rows) len() int { return len(r.eventTime) }

func (r *rows) reset() {
	for i := range r.strs {
		clear(r.strs[i]) // drop references so old batches' strings can be collected
		r.strs[i] = r.strs[i][:0]
	}
	clear(r.missing)
	r.eventTime, r.scheduled, r.missing = r.eventTime[:0], r.scheduled[:0], r.missing[:0]
	r.partition, r.offset, r.ingestedAt = r.partition[:0], r.offset[:0], r.ingestedAt[:0]
}

var epoch = time.Unix(0, 0).UTC()

func (r *rows) add(e *event.Event, topic string, partition int, offset int64, now time.Time) {
	d := &e.Data
	s := r.strs
	s[colEventID] = append(s[colEventID], e.ID)
	s[colEventType] = append(s[colEventType], string(e.Type))
	s[colReferralID] = append(s[colReferralID], e.Subject)
	s[colSource] = append(s[colSource], e.Source)
	s[colReferrerID] = append(s[colReferrerID], d.ReferrerID)
	s[colReferrerOrgID] = append(s[colReferrerOrgID], d.ReferrerOrgID)
	s[colReferrerType] = append(s[colReferrerType], d.ReferrerType)
	s[colReferrerNetwork] = append(s[colReferrerNetwork], d.ReferrerNetwork)
	s[colServiceLine] = append(s[colServiceLine], d.ServiceLine)
	s[colLocationID] = append(s[colLocationID], d.LocationID)
	s[colDestinationNetwork] = append(s[colDestinationNetwork], d.DestinationNetwork)
	s[colDestinationOrgID] = append(s[colDestinationOrgID], d.DestinationOrgID)
	s[colPayerClass] = append(s[colPayerClass], d.PayerClass)
	s[colPriority] = append(s[colPriority], d.Priority)
	s[colChannel] = append(s[colChannel], d.Channel)
	s[colPatientToken] = append(s[colPatientToken], d.PatientToken)
	s[colReason] = append(s[colReason], d.Reason)
	s[colAppointmentID] = append(s[colAppointmentID], d.AppointmentID)
	s[colVisitType] = append(s[colVisitType], d.VisitType)
	s[colCancelledBy] = append(s[colCancelledBy], d.CancelledBy)
	s[colRecipient] = append(s[colRecipient], d.Recipient)
	s[colOutcome] = append(s[colOutcome], d.Outcome)
	s[colKafkaTopic] = append(s[colKafkaTopic], topic)
	r.eventTime = append(r.eventTime, e.Time)
	scheduled := d.ScheduledFor
	if scheduled.IsZero() {
		scheduled = epoch
	}
	r.scheduled = append(r.scheduled, scheduled)
	missing := d.Missing
	if missing == nil {
		missing = []string{}
	}
	r.missing = append(r.missing, missing)
	r.partition = append(r.partition, int32(partition))
	r.offset = append(r.offset, offset)
	r.ingestedAt = append(r.ingestedAt, now)
}

// columns returns the column slices in eventColumns order.
func (r *rows) columns() []any {
	s := r.strs
	return []any{
		s[colEventID], s[colEventType], r.eventTime, s[colReferralID], s[colSource],
		s[colReferrerID], s[colReferrerOrgID], s[colReferrerType], s[colReferrerNetwork], s[colServiceLine],
		s[colLocationID], s[colDestinationNetwork], s[colDestinationOrgID], s[colPayerClass], s[colPriority],
		s[colChannel], s[colPatientToken], s[colReason], r.missing, s[colAppointmentID],
		r.scheduled, s[colVisitType], s[colCancelledBy], s[colRecipient], s[colOutcome],
		s[colKafkaTopic], r.partition, r.offset, r.ingestedAt,
	}
}

// batch is what one flush writes: valid events for ClickHouse, invalid messages
// for the dead-letter topic, and the offsets to commit once both are stored.
type batch struct {
	rows        *rows
	deadLetters []kafka.Message
	deadSource  []deadSource   // beside deadLetters: where each came from and why
	stored      map[string]int // valid records by topic
	skipped     map[skipSource]int
	events      map[string]int // events stored by input format
	// next[topic][partition] is the offset after the last message of the batch,
	// from[topic][partition] that of its first.
	next, from map[string]map[int]int64
	started    time.Time // arrival of the first message; zero when empty
	count      int       // messages, valid or not
	bytes      int64     // of the budget, given back once the batch is settled
}

func newBatch(capacity int) *batch {
	return &batch{rows: newRows(capacity), next: map[string]map[int]int64{}, from: map[string]map[int]int64{}, stored: map[string]int{},
		skipped: map[skipSource]int{}, events: map[string]int{}}
}

func (b *batch) empty() bool { return b.count == 0 }

func (b *batch) reset() {
	b.rows.reset()
	clear(b.deadLetters)
	b.deadLetters = b.deadLetters[:0]
	b.deadSource = b.deadSource[:0]
	clear(b.stored)
	clear(b.skipped)
	clear(b.events)
	b.next, b.from = map[string]map[int]int64{}, map[string]map[int]int64{}
	b.started = time.Time{}
	b.count = 0
	b.bytes = 0
}

type deadSource struct {
	topic   string
	reason  event.Reason
	reduced string
}

func (b *batch) addDeadLetter(topic string, m kafka.Message, reason event.Reason, reduced string) {
	b.deadLetters = append(b.deadLetters, m)
	b.deadSource = append(b.deadSource, deadSource{topic: topic, reason: reason, reduced: reduced})
}

// skipSource is where a skipped record came from and why it carries no
// referral work.
type skipSource struct {
	topic, format string
	reason        mapping.SkipReason
}

func (b *batch) addSkip(topic, format string, reason mapping.SkipReason) {
	b.skipped[skipSource{topic, format, reason}]++
}

// addEvents adds the events of one record (a FHIR Bundle may carry several).
func (b *batch) addEvents(evs []event.Event, format, topic string, partition int, offset int64, now time.Time) {
	for i := range evs {
		b.rows.add(&evs[i], topic, partition, offset, now)
	}
	b.stored[topic]++
	b.events[format] += len(evs)
}

func (b *batch) track(topic string, partition int, offset int64, now time.Time) {
	if b.count == 0 {
		b.started = now
	}
	b.count++
	p, f := b.next[topic], b.from[topic]
	if p == nil {
		p, f = map[int]int64{}, map[int]int64{}
		b.next[topic], b.from[topic] = p, f
	}
	if offset+1 > p[partition] {
		p[partition] = offset + 1
	}
	if first, ok := f[partition]; !ok || offset < first {
		f[partition] = offset
	}
}

// offsets names the batch's records by where they are, for an operator who
// must know what was not stored: "topic/partition first-last, ...", sorted;
// never an id.
func (b *batch) offsets() string {
	var parts []string
	for _, topic := range slices.Sorted(maps.Keys(b.next)) {
		for _, p := range slices.Sorted(maps.Keys(b.next[topic])) {
			parts = append(parts, fmt.Sprintf("%s/%d %d-%d", topic, p, b.from[topic][p], b.next[topic][p]-1))
		}
	}
	return strings.Join(parts, ", ")
}
