package event

import "time"

// Times are stored as ClickHouse DateTime: whole seconds since the epoch in a
// UInt32. A time outside that range would be stored wrong, so it is bad_time.
const (
	minUnix = 0
	maxUnix = 1<<32 - 1 // 2106-02-07T06:28:15Z
)

// parseTime parses an RFC 3339 date-time that carries its offset:
//
//	2026-03-02T14:05:00Z   2026-03-02T09:05:00.123-05:00
//
// "T" and "Z" may be lower case (RFC 3339 §5.6); any number of fraction
// digits is accepted. Leap seconds (:60) are rejected: ClickHouse cannot
// store them. It returns the instant as Unix seconds and nanoseconds, or a
// non-empty detail for the error. Hand-written because time.Parse wants a
// string (an allocation per call) and is laxer about the layout.
//
// The detail never contains the value: appointment and event times of a
// patient's referral are PHI.
func parseTime(b []byte) (sec int64, nsec int, bad string) {
	const layout = "not RFC 3339 with offset (like 2026-03-02T14:05:00Z or 2026-03-02T09:05:00-05:00)"
	if len(b) < len("2006-01-02T15:04:05Z") ||
		b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != 't') || b[13] != ':' || b[16] != ':' {
		return 0, 0, layout
	}
	year, ok1 := num(b[0:4])
	month, ok2 := num(b[5:7])
	day, ok3 := num(b[8:10])
	hour, ok4 := num(b[11:13])
	minute, ok5 := num(b[14:16])
	second, ok6 := num(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return 0, 0, layout
	}
	rest := b[19:]
	if rest[0] == '.' {
		i := 1
		for ; i < len(rest) && rest[i] >= '0' && rest[i] <= '9'; i++ {
			if i <= 9 {
				nsec = nsec*10 + int(rest[i]-'0')
			}
		}
		if i == 1 {
			return 0, 0, layout
		}
		for d := i; d <= 9; d++ { // scale to nanoseconds
			nsec *= 10
		}
		rest = rest[i:]
	}
	var offset int // seconds east of UTC
	switch {
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := num(rest[1:3])
		om, ok2 := num(rest[4:6])
		if !ok1 || !ok2 {
			return 0, 0, layout
		}
		if oh > 23 || om > 59 {
			return 0, 0, "offset out of range"
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, 0, layout
	}
	switch {
	case month < 1 || month > 12:
		return 0, 0, "month out of range"
	case day < 1 || day > daysIn(month, year):
		return 0, 0, "day out of range"
	case hour > 23:
		return 0, 0, "hour out of range"
	case minute > 59:
		return 0, 0, "minute out of range"
	case second > 59:
		return 0, 0, "second out of range"
	}
	sec = time.Date(year, time.Month(month), day, hour, minute, second, 0, time.UTC).Unix() - int64(offset)
	if sec < minUnix || sec > maxUnix {
		return 0, 0, "outside 1970-01-01T00:00:00Z..2106-02-07T06:28:15Z (ClickHouse DateTime)"
	}
	return sec, nsec, ""
}

// num parses fixed-width decimal digits.
func num(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
