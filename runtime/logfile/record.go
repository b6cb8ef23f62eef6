package logfile

import (
	"bytes"
	"time"

	"github.com/shoal-project/shoal/runtime"
)

const (
	// TimeLayout is the layout of a record's time (always UTC, fixed width).
	TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"
	// MaxLineBytes is the longest data a record holds; longer lines are cut.
	MaxLineBytes = 16 << 10
)

// AppendRecord appends the record for one line (data without '\n') to buf.
func AppendRecord(buf []byte, t time.Time, stream string, data []byte) []byte {
	buf = t.UTC().AppendFormat(buf, TimeLayout)
	buf = append(buf, ' ')
	buf = append(buf, stream...)
	buf = append(buf, ' ')
	buf = append(buf, data...)
	return append(buf, '\n')
}

// ParseRecord decodes one record (without its '\n'). It reports false for a
// line that is not a record; Data is a copy.
func ParseRecord(line []byte) (runtime.LogLine, bool) {
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return runtime.LogLine{}, false
	}
	stream, data, ok := bytes.Cut(rest, []byte{' '})
	if !ok || len(stream) == 0 {
		return runtime.LogLine{}, false
	}
	t, err := time.Parse(TimeLayout, string(ts))
	if err != nil {
		return runtime.LogLine{}, false
	}
	return runtime.LogLine{Time: t, Stream: string(stream), Data: bytes.Clone(data)}, true
}
