package generator

import (
	"errors"
	"io"
)

// ErrBinaryMode is returned by WriteNDJSON's emit function for a binary-mode
// message: NDJSON carries message values only, and a binary-mode event's
// attributes live in its headers. Generate with BinaryRatio 0 for NDJSON.
var ErrBinaryMode = errors.New("generator: NDJSON cannot carry binary-mode messages (set BinaryRatio to 0)")

// WriteNDJSON returns an emit function that writes each message's value as one
// line of w, so the file can be replayed as structured-mode CloudEvents.
//
// Valid events are single-line JSON (the encoder escapes control characters),
// and the generator never puts a newline in an invalid value, so not_json
// values are written raw and stay on their line; keys, streams and the
// expected reasons are not written. Messages with headers (binary mode, valid
// or invalid) are refused with ErrBinaryMode; with BinaryRatio 0 there are
// none. w is not buffered here: wrap files in a bufio.Writer.
func WriteNDJSON(w io.Writer) func(Message) error {
	newline := []byte{'\n'}
	return func(m Message) error {
		if len(m.Headers) > 0 {
			return ErrBinaryMode
		}
		if _, err := w.Write(m.Value); err != nil {
			return err
		}
		_, err := w.Write(newline)
		return err
	}
}
