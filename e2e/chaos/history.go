package chaos

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
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
	Partition: partitionBy(func(in any) string { return in.(RegInput).Key }),
	Init:      func() []any { return []any{InitValue} },
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

// SetModel is a set of sets (one partition per set) grown by adds and
// read whole.
var SetModel = porcupine.NondeterministicModel{
	Partition: partitionBy(func(in any) string { return in.(SetInput).Set }),
	Init:      func() []any { return []any{""} },
	Step: func(state, input, output any) []any {
		s, in, out := state.(string), input.(SetInput), output.(SetOutput)
		switch {
		case in.Read:
			return keepIf(strings.Join(out.Elems, ",") == s, s)
		case out.Outcome == OK:
			return []any{addElem(s, in.Elem)}
		case out.Outcome == Unknown:
			return []any{s, addElem(s, in.Elem)}
		}
		return []any{s}
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(SetInput), output.(SetOutput)
		if in.Read {
			return fmt.Sprintf("read %s -> {%s}", in.Set, strings.Join(out.Elems, ","))
		}
		return fmt.Sprintf("add %s to %s: %s", in.Elem, in.Set, out.Outcome)
	},
}

func keepIf(ok bool, s string) []any {
	if ok {
		return []any{s}
	}
	return nil
}

// addElem adds e to the set written as sorted comma-joined elements.
func addElem(s, e string) string {
	var elems []string
	if s != "" {
		elems = strings.Split(s, ",")
	}
	if !slices.Contains(elems, e) {
		elems = append(elems, e)
		slices.Sort(elems)
	}
	return strings.Join(elems, ",")
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
