package logfile

import (
	"bytes"
	"testing"
	"time"
)

func TestRecordCodec(t *testing.T) {
	at := time.Date(2026, 11, 25, 16, 27, 9, 123, time.UTC)
	tests := []struct {
		name   string
		t      time.Time
		stream string
		data   string
		want   string
	}{
		{"plain", at, "stdout", "hello world", "2026-11-25T16:27:09.000000123Z stdout hello world\n"},
		{"empty data", at, "stderr", "", "2026-11-25T16:27:09.000000123Z stderr \n"},
		{"spaces kept", at, "stdout", "  a  b ", "2026-11-25T16:27:09.000000123Z stdout   a  b \n"},
		{"local time stored as UTC", at.In(time.FixedZone("X", 3600)), "stdout", "x", "2026-11-25T16:27:09.000000123Z stdout x\n"},
		{"binary data", at, "stdout", "\x00\xff\r\t", "2026-11-25T16:27:09.000000123Z stdout \x00\xff\r\t\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := AppendRecord(nil, tc.t, tc.stream, []byte(tc.data))
			if string(got) != tc.want {
				t.Fatalf("AppendRecord = %q, want %q", got, tc.want)
			}
			ll, ok := ParseRecord(bytes.TrimSuffix(got, []byte{'\n'}))
			if !ok {
				t.Fatalf("ParseRecord(%q) failed", got)
			}
			if !ll.Time.Equal(tc.t) || ll.Stream != tc.stream || string(ll.Data) != tc.data {
				t.Fatalf("round trip = %v %q %q", ll.Time, ll.Stream, ll.Data)
			}
		})
	}
}

func TestParseRecordRejects(t *testing.T) {
	for _, line := range []string{
		"",
		"no-spaces-at-all",
		"2026-11-25T16:27:09.000000123Z",
		"2026-11-25T16:27:09.000000123Z stdout",   // no separator before data
		"2026-11-25T16:27:09.000000123Z  data",    // empty stream
		"yesterday stdout data",                   // bad time
		"2026-13-25T16:27:09.000000123Z stdout x", // bad month
		"raw output line from an old cio.LogFile task",
	} {
		if ll, ok := ParseRecord([]byte(line)); ok {
			t.Errorf("ParseRecord(%q) = %+v, want rejection", line, ll)
		}
	}
}

func FuzzParseRecord(f *testing.F) {
	f.Add([]byte("2026-11-25T16:27:09.000000123Z stdout hello"))
	f.Add([]byte("2026-11-25T16:27:09.000000123Z stderr "))
	f.Add([]byte("2026-11-25T16:27:09Z stdout x"))
	f.Add([]byte(" a b"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, line []byte) {
		ll, ok := ParseRecord(line)
		if !ok {
			return
		}
		if ll.Stream == "" || bytes.IndexByte([]byte(ll.Stream), ' ') >= 0 {
			t.Fatalf("stream %q", ll.Stream)
		}
		// What parses re-encodes to a record that parses to the same line
		// (the time may be re-formatted: only the instant must survive).
		again, ok := ParseRecord(bytes.TrimSuffix(AppendRecord(nil, ll.Time, ll.Stream, ll.Data), []byte{'\n'}))
		if !ok || !again.Time.Equal(ll.Time) || again.Stream != ll.Stream || !bytes.Equal(again.Data, ll.Data) {
			t.Fatalf("re-encoding %q: %+v, %v", line, again, ok)
		}
	})
}
