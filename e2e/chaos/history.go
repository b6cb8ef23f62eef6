package chaos

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Outcome is what a client knows of an operation it made.
type Outcome int

const (
	// OK: acknowledged.
	OK Outcome = iota
	// Failed: refused; it did not and never will take effect (a
	// compare-and-set on a stale version).
	Failed
	// Unknown: no answer, or an error that does not say; the operation
	// may take effect at any time after its call, so it stays open to the
	// end of the history (porcupine's way with indeterminate operations).
	Unknown
)

func (o Outcome) String() string { return [...]string{"ok", "failed", "unknown"}[o] }

// InitValue is every register's value when its round starts.
const InitValue = "init"

// RegInput is a register operation: a read, or a compare-and-set from the
// value the client read (at the version it read) to To.
type RegInput struct {
	Key      string
	Read     bool
	From, To string
}

// RegOutput is what a register operation gave: the value read, or the
// outcome of a write.
type RegOutput struct {
	Value   string
	Outcome Outcome
}

// SetInput is a set operation: add Elem to Set, or read Set.
type SetInput struct {
	Set  string
	Read bool
	Elem string
}

// SetOutput is what a set operation gave: the elements read (sorted), or
// the outcome of an add.
type SetOutput struct {
	Elems   []string
	Outcome Outcome
}

// History records the operations of concurrent clients; it is safe for
// concurrent use.
type History struct {
	mu    sync.Mutex
	start time.Time
	ops   []porcupine.Operation
}

// NewHistory starts a history at start (times are kept relative to it).
func NewHistory(start time.Time) *History { return &History{start: start} }

// Record adds one operation of client, called at call and answered at ret.
// An Unknown outcome is recorded as never answered.
func (h *History) Record(client int, call, ret time.Time, in, out any) {
	r := ret.Sub(h.start).Nanoseconds()
	if outcomeOf(out) == Unknown {
		r = math.MaxInt64
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call.Sub(h.start).Nanoseconds(), Return: r})
}

// Ops returns a copy of the recorded operations.
func (h *History) Ops() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ops)
}

func outcomeOf(out any) Outcome {
	switch o := out.(type) {
	case RegOutput:
		return o.Outcome
	case SetOutput:
		return o.Outcome
	}
	return OK
}

// RegisterModel is a set of registers (one partition per key) written with
// compare-and-set. Every written value is unique, so a version the client
// read names one value: a compare-and-set that succeeded found From there.
// One that failed changed nothing (the version may have moved without the
// value, so it says nothing of the value). An unknown one may or may not
// have happened.
var RegisterModel = porcupine.NondeterministicModel{
	Partition: func(ops []porcupine.Operation) [][]porcupine.Operation {
		parts := partitionBy(func(in any) string { return in.(RegInput).Key })(ops)
		for i, p := range parts {
			parts[i] = pruneUnseenWrites(p)
		}
		return parts
	},
	Init: func() []any { return []any{InitValue} },
	Step: func(state, input, output any) []any {
		s, in, out := state.(string), input.(RegInput), output.(RegOutput)
		switch {
		case in.Read:
			return keepIf(out.Value == s, s)
		case out.Outcome == OK:
			return keepIf(s == in.From, in.To)
		case out.Outcome == Unknown && s == in.From:
			return []any{s, in.To}
		}
		return []any{s}
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(RegInput), output.(RegOutput)
		if in.Read {
			return fmt.Sprintf("read %s -> %s", in.Key, out.Value)
		}
		return fmt.Sprintf("cas %s %s->%s: %s", in.Key, in.From, in.To, out.Outcome)
	},
}

// SetModel is a set of grow-only sets, checked one element at a time: an
// add of e goes to e's partition, and every read of a set goes to the
// partition of each element added to that set or seen in it, as "is e in
// it?". Per element the state is present or absent; an unknown add may or
// may not have happened. Checking per element keeps the search small with
// many unknown adds (a whole-set state doubles with each), at the cost of
// anomalies that only show across elements.
var SetModel = porcupine.NondeterministicModel{
	Partition: partitionSet,
	Init:      func() []any { return []any{false} },
	Step: func(state, input, output any) []any {
		present, in, out := state.(bool), input.(SetInput), output.(SetOutput)
		switch {
		case in.Read:
			if slices.Contains(out.Elems, in.Elem) == present {
				return []any{present}
			}
			return nil
		case out.Outcome == OK:
			return []any{true}
		case out.Outcome == Unknown:
			return []any{present, true}
		}
		return []any{present}
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(SetInput), output.(SetOutput)
		if in.Read {
			return fmt.Sprintf("read %s: %s in it: %v", in.Set, in.Elem, slices.Contains(out.Elems, in.Elem))
		}
		return fmt.Sprintf("add %s to %s: %s", in.Elem, in.Set, out.Outcome)
	},
	DescribeState: func(state any) string {
		if state.(bool) {
			return "present"
		}
		return "absent"
	},
}

// partitionSet splits set operations by element (see SetModel).
func partitionSet(ops []porcupine.Operation) [][]porcupine.Operation {
	type elem struct{ set, e string }
	var order []elem
	seen := map[elem]bool{}
	note := func(x elem) {
		if !seen[x] {
			seen[x] = true
			order = append(order, x)
		}
	}
	for _, op := range ops {
		in := op.Input.(SetInput)
		if !in.Read {
			note(elem{in.Set, in.Elem})
			continue
		}
		for _, e := range op.Output.(SetOutput).Elems {
			note(elem{in.Set, e})
		}
	}
	out := make([][]porcupine.Operation, 0, len(order))
	for _, x := range order {
		var part []porcupine.Operation
		for _, op := range ops {
			in := op.Input.(SetInput)
			switch {
			case in.Set != x.set, !in.Read && in.Elem != x.e:
				continue
			case in.Read:
				op.Input = SetInput{Set: in.Set, Read: true, Elem: x.e}
			}
			part = append(part, op)
		}
		out = append(out, part)
	}
	return out
}

// pruneUnseenWrites drops the compare-and-sets of unknown outcome whose
// value nobody saw: no read returned it and no kept compare-and-set
// started from it. Such a write need never have happened for any
// linearization, so dropping it keeps the verdict, and it spares porcupine
// the search over every subset of them (a client that cannot reach the
// leader piles them up).
func pruneUnseenWrites(ops []porcupine.Operation) []porcupine.Operation {
	seen := map[string]bool{InitValue: true}
	for _, op := range ops {
		in, out := op.Input.(RegInput), op.Output.(RegOutput)
		switch {
		case in.Read:
			seen[out.Value] = true
		case out.Outcome == OK:
			seen[in.From] = true
		}
	}
	kept := map[int]bool{}
	for grew := true; grew; {
		grew = false
		for i, op := range ops {
			in, out := op.Input.(RegInput), op.Output.(RegOutput)
			if !in.Read && out.Outcome == Unknown && !kept[i] && seen[in.To] {
				kept[i], grew = true, true
				seen[in.From] = true
			}
		}
	}
	var out []porcupine.Operation
	for i, op := range ops {
		in, o := op.Input.(RegInput), op.Output.(RegOutput)
		if in.Read || o.Outcome != Unknown || kept[i] {
			out = append(out, op)
		}
	}
	return out
}

func keepIf(ok bool, s string) []any {
	if ok {
		return []any{s}
	}
	return nil
}

func partitionBy(key func(in any) string) func([]porcupine.Operation) [][]porcupine.Operation {
	return func(ops []porcupine.Operation) [][]porcupine.Operation {
		idx := map[string]int{}
		var out [][]porcupine.Operation
		for _, op := range ops {
			k := key(op.Input)
			i, ok := idx[k]
			if !ok {
				i = len(out)
				idx[k] = i
				out = append(out, nil)
			}
			out[i] = append(out[i], op)
		}
		return out
	}
}

// ErrNotLinearizable is the result of a history porcupine refutes.
var ErrNotLinearizable = fmt.Errorf("history is not linearizable")

// Check checks ops against model within timeout. When porcupine refutes
// the history it writes the visualisation to dir/name.html and returns
// ErrNotLinearizable naming that file; a check that runs out of time is
// an error too (it proves nothing).
func Check(model porcupine.NondeterministicModel, ops []porcupine.Operation, timeout time.Duration, dir, name string) error {
	m := model.ToModel()
	res, info := porcupine.CheckOperationsVerbose(m, ops, timeout)
	switch res {
	case porcupine.Ok:
		return nil
	case porcupine.Unknown:
		return fmt.Errorf("%s: porcupine found no answer within %s (%d operations)", name, timeout, len(ops))
	}
	path := filepath.Join(dir, name+".html")
	if err := porcupine.VisualizePath(m, info, path); err != nil {
		return fmt.Errorf("%w: %s (%d operations; visualisation: %v)", ErrNotLinearizable, name, len(ops), err)
	}
	return fmt.Errorf("%w: %s (%d operations): see %s", ErrNotLinearizable, name, len(ops), path)
}
