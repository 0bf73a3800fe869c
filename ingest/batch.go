package ingest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unsafe"

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

// rows holds a batch in buffers without pointers: the garbage collector never
// scans them, and a batch's memory is a few slices reused from one batch to the
// next. The String values are copied in row by row, end to end in one buffer,
// so that adding a row writes two streams of memory, not two per column; an
// insert hands clickhouse-go views of them, column by column (blockViews).
type rows struct {
	text        []byte   // every row's String values, in eventColumns order
	ends        []uint32 // per row, numStringCols ends in text (a batch holds far less than 4 GiB)
	eventTime   []int64  // Unix seconds
	scheduled   []int64  // Unix seconds, 0 when the event has none
	missing     strList  // every row's `missing` items, end to end
	missingEnds []uint32 // per row: the end of its items in missing
	partition   []int32
	offset      []int64
}

// str is String column c (colEventID...) of row i, sharing the rows' memory:
// valid until they are reset or added to.
func (r *rows) str(i, c int) string {
	k := i*numStringCols + c
	var start uint32
	if k > 0 {
		start = r.ends[k-1]
	}
	return view(r.text, start, r.ends[k])
}

// strList is a list of strings: their bytes end to end, and where each ends.
type strList struct {
	buf  []byte
	ends []uint32
}

func (l *strList) add(s string) {
	l.buf = append(l.buf, s...)
	l.ends = append(l.ends, uint32(len(l.buf)))
}

// at is string i, sharing the list's memory: valid until it is reset or
// added to.
func (l *strList) at(i int) string {
	var start uint32
	if i > 0 {
		start = l.ends[i-1]
	}
	return view(l.buf, start, l.ends[i])
}

func (l *strList) reset() { l.buf, l.ends = l.buf[:0], l.ends[:0] }

// view is buf[start:end] as a string sharing its memory.
func view(buf []byte, start, end uint32) string {
	if end == start {
		return ""
	}
	return unsafe.String(&buf[start], end-start)
}

// patientReferrals are the referrals of the rows' referral.created events
// with a patient token, copied out of the rows into one allocation they
// share: the patients whose order a stored batch changes (Store.Refresh),
// which a backlog holds for several INSERTs (finisher).
func (r *rows) patientReferrals() []string {
	n, size := 0, 0
	for i := range r.len() {
		if r.patientCreated(i) {
			n++
			size += len(r.str(i, colReferralID))
		}
	}
	if n == 0 {
		return nil
	}
	arena := make([]byte, 0, size) // never grown: the strings below point into it
	referrals := make([]string, 0, n)
	for i := range r.len() {
		if id := r.str(i, colReferralID); r.patientCreated(i) && id != "" {
			arena = append(arena, id...)
			referrals = append(referrals, unsafe.String(&arena[len(arena)-len(id)], len(id)))
		}
	}
	return referrals
}

func (r *rows) patientCreated(i int) bool {
	return r.str(i, colEventType) == string(event.ReferralCreated) && r.str(i, colPatientToken) != ""
}

// The String columns (rows.str, blockViews.strs), in the order they appear in
// eventColumns.
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

func (r *rows) len() int { return len(r.eventTime) }

func (r *rows) reset() {
	r.text, r.ends = r.text[:0], r.ends[:0]
	r.missing.reset()
	r.eventTime, r.scheduled, r.missingEnds = r.eventTime[:0], r.scheduled[:0], r.missingEnds[:0]
	r.partition, r.offset = r.partition[:0], r.offset[:0]
}

func (r *rows) add(e *event.Event, topic string, partition int, offset int64) {
	d := &e.Data
	n := len(r.ends)
	r.ends = reserve(r.ends, numStringCols)[:n+numStringCols]
	r.text = reserve(r.text, rowTextReserve) // a longer row's appends grow it as well
	ends := (*[numStringCols]uint32)(r.ends[n:])
	str := func(c int, s string) {
		r.text = append(r.text, s...)
		ends[c] = uint32(len(r.text))
	}
	str(colEventID, e.ID)
	str(colEventType, string(e.Type))
	str(colReferralID, e.Subject)
	str(colSource, e.Source)
	str(colReferrerID, d.ReferrerID)
	str(colReferrerOrgID, d.ReferrerOrgID)
	str(colReferrerType, d.ReferrerType)
	str(colReferrerNetwork, d.ReferrerNetwork)
	str(colServiceLine, d.ServiceLine)
	str(colLocationID, d.LocationID)
	str(colDestinationNetwork, d.DestinationNetwork)
	str(colDestinationOrgID, d.DestinationOrgID)
	str(colPayerClass, d.PayerClass)
	str(colPriority, d.Priority)
	str(colChannel, d.Channel)
	str(colPatientToken, d.PatientToken)
	str(colReason, d.Reason)
	str(colAppointmentID, d.AppointmentID)
	str(colVisitType, d.VisitType)
	str(colCancelledBy, d.CancelledBy)
	str(colRecipient, d.Recipient)
	str(colOutcome, d.Outcome)
	str(colKafkaTopic, topic)
	r.eventTime = append(reserve(r.eventTime, 1), e.Time.Unix())
	var scheduled int64 // the epoch, ClickHouse's zero DateTime
	if !d.ScheduledFor.IsZero() {
		scheduled = d.ScheduledFor.Unix()
	}
	r.scheduled = append(reserve(r.scheduled, 1), scheduled)
	for _, m := range d.Missing {
		r.missing.add(m)
	}
	r.missingEnds = append(reserve(r.missingEnds, 1), uint32(len(r.missing.ends)))
	r.partition = append(reserve(r.partition, 1), int32(partition))
	r.offset = append(reserve(r.offset, 1), offset)
}

// rowTextReserve is the room rows.add makes in rows.text before a row: more
// than a typical row's String values (a few hundred bytes).
const rowTextReserve = 1024

// reserve returns s with room for n more elements, doubling its capacity
// when it must grow. append grows a large slice by a quarter at a time, so a
// batch's buffers, grown from empty to 50,000 rows, were allocated and copied
// some five times their size on the way (about 110 B per event of a
// million-event backlog, make bench); doubling makes it twice.
func reserve[T any](s []T, n int) []T {
	if cap(s)-len(s) >= n {
		return s
	}
	grown := make([]T, len(s), max(2*cap(s), len(s)+n))
	copy(grown, s)
	return grown
}

// blockViews are the columns of one block of rows as clickhouse-go appends
// them, in slices reused from block to block. The strings share the rows'
// memory: clickhouse-go copies them into its own block as they are appended.
type blockViews struct {
	strs         [numStringCols][]string
	eventTime    []int64
	scheduled    []int64
	missing      []any // per row a []string: appended row by row (appendColumns)
	missingItems []string
	missingAt    []int // scratch of fill
	partition    []int32
	offset       []int64
	ingestedAt   []int64
}

// fill makes v the rows idx[lo:hi] of r, or the rows lo to hi-1 when idx is
// nil, each with ingested_at ingested (Unix seconds).
func (v *blockViews) fill(r *rows, idx []int, lo, hi int, ingested int64) {
	v.reset()
	// Column by column: each column's slice stays in a register (row by row,
	// the 23 appends took a fifth longer in a benchmark of fill over 60,000
	// generated rows).
	for c := range v.strs {
		s := slices.Grow(v.strs[c], hi-lo)
		for k := lo; k < hi; k++ {
			i := k
			if idx != nil {
				i = idx[k]
			}
			s = append(s, r.str(i, c))
		}
		v.strs[c] = s
	}
	for k := lo; k < hi; k++ {
		i := k
		if idx != nil {
			i = idx[k]
		}
		v.eventTime = append(v.eventTime, r.eventTime[i])
		v.scheduled = append(v.scheduled, r.scheduled[i])
		v.partition = append(v.partition, r.partition[i])
		v.offset = append(v.offset, r.offset[i])
		v.ingestedAt = append(v.ingestedAt, ingested)
	}
	// The `missing` lists are cut from one slice of items once every item
	// is in it, so that none is moved by a later append. An empty list is
	// an empty array, never nil.
	at := v.missingAt[:0]
	for k := lo; k < hi; k++ {
		i := k
		if idx != nil {
			i = idx[k]
		}
		var first uint32
		if i > 0 {
			first = r.missingEnds[i-1]
		}
		at = append(at, len(v.missingItems))
		for j := first; j < r.missingEnds[i]; j++ {
			v.missingItems = append(v.missingItems, r.missing.at(int(j)))
		}
	}
	for n, start := range at {
		end := len(v.missingItems)
		if n+1 < len(at) {
			end = at[n+1]
		}
		list := emptyList
		if end > start {
			list = v.missingItems[start:end:end]
		}
		v.missing = append(v.missing, list)
	}
	v.missingAt = at
}

// emptyList is the `missing` of most rows, converted to an interface once.
var emptyList any = []string{}

// reset empties v, dropping its views of the last rows.
func (v *blockViews) reset() {
	for c := range v.strs {
		clear(v.strs[c])
		v.strs[c] = v.strs[c][:0]
	}
	clear(v.missing)
	clear(v.missingItems)
	v.missing, v.missingItems = v.missing[:0], v.missingItems[:0]
	v.eventTime, v.scheduled, v.ingestedAt = v.eventTime[:0], v.scheduled[:0], v.ingestedAt[:0]
	v.partition, v.offset = v.partition[:0], v.offset[:0]
}

// columns returns the column slices in eventColumns order.
func (v *blockViews) columns() []any {
	s := &v.strs
	return []any{
		s[colEventID], s[colEventType], v.eventTime, s[colReferralID], s[colSource],
		s[colReferrerID], s[colReferrerOrgID], s[colReferrerType], s[colReferrerNetwork], s[colServiceLine],
		s[colLocationID], s[colDestinationNetwork], s[colDestinationOrgID], s[colPayerClass], s[colPriority],
		s[colChannel], s[colPatientToken], s[colReason], v.missing, s[colAppointmentID],
		v.scheduled, s[colVisitType], s[colCancelledBy], s[colRecipient], s[colOutcome],
		s[colKafkaTopic], v.partition, v.offset, v.ingestedAt,
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
	// Records come in runs from one partition's fetch: track and counted
	// keep the current run here and add it to the maps above when the run
	// ends (fold), a few map updates per run instead of per record. Only
	// fold, ledger and offsets read the maps.
	span    offsetSpan
	tally   storedTally
	started time.Time // arrival of the first message; zero when empty
	count   int       // messages, valid or not
	bytes   int64     // of the budget, given back once the batch is stored
}

// offsetSpan is the current run of records of one partition: the first and
// the next offsets seen (from < next, or next == 0 when there is no run).
type offsetSpan struct {
	topic      string
	partition  int
	from, next int64
}

// storedTally is the current run of valid records of one topic and format.
type storedTally struct {
	topic, format   string
	records, events int
}

func newBatch() *batch {
	return &batch{rows: &rows{}, next: map[string]map[int]int64{}, from: map[string]map[int]int64{}, stored: map[string]int{},
		skipped: map[skipSource]int{}, events: map[string]int{}}
}

func (b *batch) empty() bool { return b.count == 0 }

// ledger takes what the commit of a stored batch needs, all but its rows and
// dead letters, and gives b fresh maps for the next batch.
func (b *batch) ledger() batch {
	b.fold()
	l := *b
	l.rows, l.deadLetters = nil, nil
	b.deadSource = nil
	b.stored, b.skipped, b.events = map[string]int{}, map[skipSource]int{}, map[string]int{}
	b.next, b.from = map[string]map[int]int64{}, map[string]map[int]int64{}
	return l
}

// absorb adds a stored batch's ledger and referrals to s, the batches of one
// super-batch INSERT, committed together: the offsets after the later.
func (s *storedBatch) absorb(l batch, referrals []string) {
	if len(referrals) > 0 {
		s.referrals = append(s.referrals, referrals)
	}
	a := &s.ledger
	if a.count == 0 {
		s.ledger = l
		return
	}
	a.count += l.count
	a.deadSource = append(a.deadSource, l.deadSource...)
	for topic, n := range l.stored {
		a.stored[topic] += n
	}
	for k, n := range l.skipped {
		a.skipped[k] += n
	}
	for f, n := range l.events {
		a.events[f] += n
	}
	keepLater(a.next, l.next)
	for topic, parts := range l.from {
		if a.from[topic] == nil {
			a.from[topic] = map[int]int64{}
		}
		for p, from := range parts {
			if first, ok := a.from[topic][p]; !ok || from < first {
				a.from[topic][p] = from
			}
		}
	}
}

// keepLater sets each partition's offset in dst to the later of its own and
// src's: the offsets to commit after batches stored one after the other.
func keepLater(dst, src map[string]map[int]int64) {
	for topic, parts := range src {
		if dst[topic] == nil {
			dst[topic] = map[int]int64{}
		}
		for p, off := range parts {
			if cur, ok := dst[topic][p]; !ok || off > cur {
				dst[topic][p] = off
			}
		}
	}
}

func (b *batch) reset() {
	b.rows.reset()
	clear(b.deadLetters)
	b.deadLetters = b.deadLetters[:0]
	b.deadSource = b.deadSource[:0]
	clear(b.stored)
	clear(b.skipped)
	clear(b.events)
	b.next, b.from = map[string]map[int]int64{}, map[string]map[int]int64{}
	b.span, b.tally = offsetSpan{}, storedTally{}
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
func (b *batch) addEvents(evs []event.Event, format, topic string, partition int, offset int64) {
	for i := range evs {
		b.rows.add(&evs[i], topic, partition, offset)
	}
	b.counted(topic, format, len(evs))
}

// counted counts a stored record of n events.
func (b *batch) counted(topic, format string, n int) {
	if t := &b.tally; t.topic != topic || t.format != format || t.records == 0 {
		b.foldTally()
		*t = storedTally{topic: topic, format: format}
	}
	b.tally.records++
	b.tally.events += n
}

func (b *batch) track(topic string, partition int, offset int64, now time.Time) {
	if b.count == 0 {
		b.started = now
	}
	b.count++
	if sp := &b.span; sp.next != 0 && sp.partition == partition && sp.topic == topic {
		sp.from, sp.next = min(sp.from, offset), max(sp.next, offset+1)
		return
	}
	b.foldSpan()
	b.span = offsetSpan{topic: topic, partition: partition, from: offset, next: offset + 1}
}

// fold adds the current runs to the maps.
func (b *batch) fold() {
	b.foldSpan()
	b.foldTally()
}

func (b *batch) foldSpan() {
	sp := b.span
	if sp.next == 0 {
		return
	}
	b.span = offsetSpan{}
	p, f := b.next[sp.topic], b.from[sp.topic]
	if p == nil {
		p, f = map[int]int64{}, map[int]int64{}
		b.next[sp.topic], b.from[sp.topic] = p, f
	}
	if sp.next > p[sp.partition] {
		p[sp.partition] = sp.next
	}
	if first, ok := f[sp.partition]; !ok || sp.from < first {
		f[sp.partition] = sp.from
	}
}

func (b *batch) foldTally() {
	t := b.tally
	if t.records == 0 {
		return
	}
	b.tally = storedTally{}
	b.stored[t.topic] += t.records
	b.events[t.format] += t.events
}

// offsets names the batch's records by where they are, for an operator who
// must know what was not stored: "topic/partition first-last, ...", sorted;
// never an id.
func (b *batch) offsets() string {
	b.fold()
	var parts []string
	for _, topic := range slices.Sorted(maps.Keys(b.next)) {
		for _, p := range slices.Sorted(maps.Keys(b.next[topic])) {
			parts = append(parts, fmt.Sprintf("%s/%d %d-%d", topic, p, b.from[topic][p], b.next[topic][p]-1))
		}
	}
	return strings.Join(parts, ", ")
}
