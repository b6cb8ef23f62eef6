package chaos

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// op is one operation of a test history: client, call and return in ms.
type op struct {
	client    int
	call, ret int
	io
}

// io is an operation's input and output.
type io struct{ in, out any }

func at(client, call, ret int, x io) op { return op{client, call, ret, x} }

func historyOf(ops ...op) *History {
	t0 := time.Unix(0, 0)
	h := NewHistory(t0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	for _, o := range ops {
		h.Record(o.client, ms(o.call), ms(o.ret), o.in, o.out)
	}
	return h
}

func read(key, v string) io {
	return io{RegInput{Key: key, Read: true}, RegOutput{Value: v}}
}

func cas(key, from, to string, o Outcome) io {
	return io{RegInput{Key: key, From: from, To: to}, RegOutput{Outcome: o}}
}

func TestRegisterModel(t *testing.T) {
	tests := []struct {
		name string
		h    *History
		ok   bool
	}{
		{"a read after an acknowledged write sees it", historyOf(
			at(0, 0, 10, cas("a", InitValue, "x", OK)),
			at(1, 20, 30, read("a", "x")),
		), true},
		{"a stale read after an acknowledged write is refuted", historyOf(
			at(0, 0, 10, cas("a", InitValue, "x", OK)),
			at(1, 20, 30, read("a", InitValue)),
		), false},
		{"a read overlapping the write may see either value", historyOf(
			at(0, 0, 10, cas("a", InitValue, "x", OK)),
			at(1, 5, 8, read("a", InitValue)),
		), true},
		{"an unknown write may show up much later", historyOf(
			at(0, 0, 10, cas("a", InitValue, "x", Unknown)),
			at(1, 20, 30, read("a", InitValue)),
			at(1, 40, 50, read("a", "x")),
		), true},
		{"an unknown write never seen is fine", historyOf(
			at(0, 0, 10, cas("a", InitValue, "x", Unknown)),
			at(1, 20, 30, read("a", InitValue)),
		), true},
		{"a failed write is never seen", historyOf(
			at(0, 0, 10, cas("a", InitValue, "x", Failed)),
			at(1, 20, 30, read("a", "x")),
		), false},
		{"an acknowledged write from a value the register did not hold is refuted", historyOf(
			at(0, 0, 10, cas("a", InitValue, "x", OK)),
			at(1, 20, 30, cas("a", InitValue, "y", OK)),
		), false},
		{"a value flipping back is refuted", historyOf(
			at(0, 0, 10, cas("a", InitValue, "x", OK)),
			at(0, 20, 30, cas("a", "x", "y", OK)),
			at(1, 40, 50, read("a", "x")),
		), false},
		{"a chain of unknown writes seen at its end", historyOf(
			at(0, 0, 10, cas("a", InitValue, "x", Unknown)),
			at(1, 0, 10, cas("a", "x", "y", Unknown)),
			at(2, 20, 30, read("a", "y")),
		), true},
		{"a chain of unknown writes whose start was refused", historyOf(
			at(0, 0, 10, cas("a", InitValue, "x", Failed)),
			at(1, 0, 10, cas("a", "x", "y", Unknown)),
			at(2, 20, 30, read("a", "y")),
		), false},
		{"registers are independent", historyOf(
			at(0, 0, 10, cas("a", InitValue, "x", OK)),
			at(1, 20, 30, read("b", InitValue)),
		), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			err := Check(RegisterModel, tt.h.Ops(), 10*time.Second, dir, "register")
			checkVerdict(t, err, tt.ok, dir, "register")
		})
	}
}

func TestSetModel(t *testing.T) {
	add := func(e string, o Outcome) io {
		return io{SetInput{Set: "s", Elem: e}, SetOutput{Outcome: o}}
	}
	rd := func(elems ...string) io {
		return io{SetInput{Set: "s", Read: true}, SetOutput{Elems: elems}}
	}
	tests := []struct {
		name string
		h    *History
		ok   bool
	}{
		{"acknowledged adds are read", historyOf(
			at(0, 0, 10, add("x", OK)), at(1, 0, 10, add("y", OK)),
			at(2, 20, 30, rd("x", "y")),
		), true},
		{"a lost acknowledged add is refuted", historyOf(
			at(0, 0, 10, add("x", OK)), at(1, 0, 10, add("y", OK)),
			at(2, 20, 30, rd("y")),
		), false},
		{"an element that goes away is refuted", historyOf(
			at(0, 0, 10, add("x", Unknown)),
			at(2, 20, 30, rd("x")),
			at(2, 40, 50, rd()),
		), false},
		{"a failed add never shows", historyOf(
			at(0, 0, 10, add("x", Failed)),
			at(2, 20, 30, rd("x")),
		), false},
		{"an element never added is refuted", historyOf(
			at(0, 0, 10, add("x", OK)),
			at(2, 20, 30, rd("x", "y")),
		), false},
		{"an unknown add shows late", historyOf(
			at(0, 0, 10, add("x", Unknown)),
			at(2, 20, 30, rd()),
			at(2, 40, 50, rd("x")),
		), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			err := Check(SetModel, tt.h.Ops(), 10*time.Second, dir, "set")
			checkVerdict(t, err, tt.ok, dir, "set")
		})
	}
}

// checkVerdict: a linearizable history passes; another fails with
// ErrNotLinearizable and leaves the visualisation.
func checkVerdict(t *testing.T, err error, ok bool, dir, name string) {
	t.Helper()
	if ok {
		if err != nil {
			t.Fatalf("want linearizable: %v", err)
		}
		return
	}
	if !errors.Is(err, ErrNotLinearizable) {
		t.Fatalf("want ErrNotLinearizable, got %v", err)
	}
	if _, serr := os.Stat(filepath.Join(dir, name+".html")); serr != nil {
		t.Fatalf("no visualisation: %v", serr)
	}
}

// Many adds of unknown outcome (a manager that hangs) and many reads: the
// per-element check answers at once, where a whole-set state would double
// with each unknown add.
func TestSetModelWithManyUnknownAddsIsQuick(t *testing.T) {
	var ops []op
	var all []string
	for i := range 200 {
		e := fmt.Sprintf("e%03d", i)
		o := Unknown
		if i%2 == 0 {
			o = OK
			all = append(all, e)
		}
		ops = append(ops, at(i%4, i*10, i*10+5, io{SetInput{Set: "s", Elem: e}, SetOutput{Outcome: o}}))
		ops = append(ops, at(4, i*10+6, i*10+9, io{SetInput{Set: "s", Read: true}, SetOutput{Elems: slices.Clone(all)}}))
	}
	start := time.Now()
	if err := Check(SetModel, historyOf(ops...).Ops(), time.Minute, t.TempDir(), "set"); err != nil {
		t.Fatal(err)
	}
	t.Logf("400 operations, 100 unknown adds: checked in %s", time.Since(start).Round(time.Millisecond))
}

// Many compare-and-sets of unknown outcome from one value (a client cut
// off with the leader) before a stale read: refuted at once, not after
// porcupine searched every subset of them.
func TestRegisterModelWithManyUnknownWritesIsQuick(t *testing.T) {
	ops := []op{at(0, 0, 10, cas("a", InitValue, "x", OK))}
	for i := range 40 {
		ops = append(ops, at(1, 20+i, 21+i, cas("a", "x", fmt.Sprintf("u%d", i), Unknown)))
	}
	ops = append(ops, at(2, 100, 110, read("a", InitValue)))
	start := time.Now()
	dir := t.TempDir()
	err := Check(RegisterModel, historyOf(ops...).Ops(), time.Minute, dir, "register")
	checkVerdict(t, err, false, dir, "register")
	t.Logf("42 operations, 40 unknown writes: refuted in %s", time.Since(start).Round(time.Millisecond))
}
