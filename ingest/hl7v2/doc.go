// Package hl7v2 parses HL7 version 2 messages in their ER7 ("pipe and hat")
// encoding, v2.3 to v2.8.
//
// The delimiters come from each message's MSH segment; segments may end with
// \r (the standard), \n or \r\n (files and some engines). Split cuts a file or
// stream into messages (MLLP framing bytes and FHS/BHS/BTS/FTS batch segments
// are dropped). Values are read by position, Field → repetition → component →
// subcomponent, and unescaped (\F\ \S\ \T\ \R\ \E\, \Xhh\, \.br\) only when
// read, so a message is parsed with one split per segment.
//
// It knows no message structures and keeps nothing: it is the syntax layer
// below the mapping onto events (package mapping). Errors name positions and
// rules, never values (values may be PHI).
package hl7v2
