package store

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"google.golang.org/protobuf/proto"
)

var rewrite = flag.Bool("rewrite", false, "rewrite testdata/*.txt expectations")

// ddCase is one command block of a datadriven file:
//
//	command args...
//	input lines...
//	----
//	expected output...
//	<blank line>
type ddCase struct {
	notes []string // comment lines before the command
	line  int
	cmd   string
	input []string
	want  string
}

func parseDD(t *testing.T, path string) []ddCase {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	var cases []ddCase
	var notes []string
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if l == "" {
			continue
		}
		if strings.HasPrefix(l, "#") {
			notes = append(notes, l)
			continue
		}
		c := ddCase{notes: notes, line: i + 1, cmd: l}
		notes = nil
		i++
		for ; i < len(lines) && strings.TrimSpace(lines[i]) != "----"; i++ {
			c.input = append(c.input, strings.TrimSpace(lines[i]))
		}
		if i >= len(lines) {
			t.Fatalf("%s:%d: missing ----", path, c.line)
		}
		var out []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != ""; i++ {
			out = append(out, lines[i])
		}
		c.want = strings.Join(out, "\n")
		cases = append(cases, c)
	}
	return cases
}

func writeDD(path string, cases []ddCase) error {
	var b strings.Builder
	for _, c := range cases {
		for _, n := range c.notes {
			b.WriteString(n + "\n")
		}
		b.WriteString(c.cmd + "\n")
		for _, in := range c.input {
			b.WriteString(in + "\n")
		}
		b.WriteString("----\n")
		if c.want != "" {
			b.WriteString(c.want + "\n")
		}
		b.WriteString("\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func TestDataDriven(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			cases := parseDD(t, path)
			r := &ddRunner{s: newTestStore(t)}
			defer r.stopWatch()
			for i := range cases {
				c := &cases[i]
				got := r.run(c)
				if *rewrite {
					c.want = got
					continue
				}
				if got != c.want {
					t.Errorf("%s:%d: %s\n got:\n%s\nwant:\n%s", path, c.line, c.cmd, got, c.want)
				}
			}
			if *rewrite {
				if err := writeDD(path, cases); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

type ddRunner struct {
	s         *Store
	events    <-chan Event
	cancel    func()
	lastOK    uint64 // index of the last entry applied without error
	drained   uint64 // last commit index printed by events
	nextIndex uint64 // for raw apply
}

func (r *ddRunner) stopWatch() {
	if r.cancel != nil {
		r.cancel()
	}
}

func splitArgs(fields []string) map[string]string {
	m := map[string]string{}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		m[k] = v
	}
	return m
}

func (r *ddRunner) run(c *ddCase) string {
	f := strings.Fields(c.cmd)
	switch f[0] {
	case "create", "update", "delete":
		return r.update([]string{c.cmd})
	case "tx":
		return r.update(c.input)
	case "apply":
		return r.apply(c.input)
	case "view":
		return r.view(f[1:])
	case "resolve":
		k, _ := ParseKind(f[1])
		var id string
		err := r.s.View(func(tx ReadTx) error {
			var err error
			id, err = tx.Resolve(k, f[2])
			return err
		})
		if err != nil {
			return "error: " + errName(err)
		}
		return id
	case "dump":
		return strings.TrimRight(r.s.dump(), "\n")
	case "snapshot-restore":
		data, err := r.s.Snapshot()
		if err != nil {
			return "error: " + err.Error()
		}
		fresh := NewLocal()
		if err := fresh.Restore(r.s.AppliedIndex(), data); err != nil {
			return "error: " + err.Error()
		}
		if fresh.dump() != r.s.dump() {
			return "differs:\n" + fresh.dump()
		}
		data2, _ := fresh.Snapshot()
		if string(data2) != string(data) {
			return "snapshot bytes differ"
		}
		return "identical"
	case "watch":
		r.stopWatch()
		var filters []EventFilter
		for k, v := range splitArgs(f[1:]) {
			switch k {
			case "kind":
				kind, _ := ParseKind(v)
				filters = append(filters, ForKind(kind))
			case "service":
				filters = append(filters, ForService(v))
			case "node":
				filters = append(filters, ForNode(v))
			case "id":
				filters = append(filters, ForID(v))
			}
		}
		r.events, r.cancel = r.s.Watch(filters...)
		return "ok"
	case "events":
		return r.drain()
	}
	return "unknown command " + f[0]
}

func errName(err error) string {
	for _, e := range []error{ErrExist, ErrNotExist, ErrSequenceConflict, ErrNameConflict,
		ErrAmbiguousPrefix, ErrInvalidPayload, ErrInvalidObject, ErrStaleIndex, ErrInvalidFindBy} {
		if errors.Is(err, e) {
			return err.Error()
		}
	}
	return "UNEXPECTED " + err.Error()
}

// update runs the op lines in one Tx.
func (r *ddRunner) update(lines []string) string {
	err := r.s.Update(context.Background(), func(tx Tx) error {
		for _, l := range lines {
			f := strings.Fields(l)
			kind, ok := ParseKind(f[1])
			if !ok {
				return fmt.Errorf("bad kind %q", f[1])
			}
			args := splitArgs(f[2:])
			switch f[0] {
			case "create":
				o, err := buildObject(kind, nil, args)
				if err != nil {
					return err
				}
				if err := tx.Create(o); err != nil {
					return err
				}
			case "update":
				cur := tx.Get(kind, args["id"])
				if cur == nil {
					cur = newEmpty(kind, args["id"], nil)
				}
				o, err := buildObject(kind, cur, args)
				if err != nil {
					return err
				}
				if err := tx.Update(o); err != nil {
					return err
				}
			case "delete":
				if err := tx.Delete(kind, args["id"]); err != nil {
					return err
				}
			default:
				return fmt.Errorf("bad op %q", f[0])
			}
		}
		return nil
	})
	if err != nil {
		return "error: " + errName(err)
	}
	r.lastOK = r.s.AppliedIndex()
	return fmt.Sprintf("ok index=%d", r.s.AppliedIndex())
}

// apply builds a raw StoreRequest (no Tx checks) and applies it at the next index.
func (r *ddRunner) apply(lines []string) string {
	req := &shoalv1.StoreRequest{}
	for _, l := range lines {
		f := strings.Fields(l)
		kind, _ := ParseKind(f[1])
		o, err := buildObject(kind, nil, splitArgs(f[2:]))
		if err != nil {
			return "error: " + err.Error()
		}
		act := map[string]shoalv1.StoreActionKind{
			"create": shoalv1.StoreActionKind_STORE_ACTION_KIND_CREATE,
			"update": shoalv1.StoreActionKind_STORE_ACTION_KIND_UPDATE,
			"remove": shoalv1.StoreActionKind_STORE_ACTION_KIND_REMOVE,
		}[f[0]]
		req.Actions = append(req.Actions, &shoalv1.StoreAction{Kind: act, Object: wrap(o)})
	}
	payload, _ := proto.Marshal(req)
	// Raw entries go through the store's own proposer so indexes stay in sequence.
	err := r.s.proposer.Propose(context.Background(), payload)
	if err != nil {
		return "error: " + errName(err)
	}
	r.lastOK = r.s.AppliedIndex()
	return fmt.Sprintf("ok index=%d", r.s.AppliedIndex())
}

var viewBy = map[string]func(args []string) (Kind, By, error){
	"tasks-by-service": func(a []string) (Kind, By, error) { return KindTask, ByService(a[0]), nil },
	"tasks-by-node":    func(a []string) (Kind, By, error) { return KindTask, ByNode(strings.Join(a, "")), nil },
	"tasks-by-desired": func(a []string) (Kind, By, error) {
		s, err := parseTaskState(a[0])
		return KindTask, ByDesiredState(s), err
	},
	"tasks-by-state": func(a []string) (Kind, By, error) {
		s, err := parseTaskState(a[0])
		return KindTask, ByTaskState(s), err
	},
	"tasks-by-slot": func(a []string) (Kind, By, error) {
		var slot uint64
		_, err := fmt.Sscan(a[1], &slot)
		return KindTask, BySlot(a[0], slot), err
	},
	"nodes-by-role": func(a []string) (Kind, By, error) {
		role, err := parseRole(a[0])
		return KindNode, ByRole(role), err
	},
	"nodes-by-availability": func(a []string) (Kind, By, error) {
		av, err := parseAvail(a[0])
		return KindNode, ByAvailability(av), err
	},
	"nodes-by-hostname": func(a []string) (Kind, By, error) { return KindNode, ByHostname(a[0]), nil },
}

func (r *ddRunner) view(f []string) string {
	var kind Kind
	var by By
	if mk, ok := viewBy[f[0]]; ok {
		var err error
		kind, by, err = mk(f[1:])
		if err != nil {
			return "error: " + err.Error()
		}
	} else {
		// <kind> <id> | <kind>s | <kind>s-by-name X | <kind>s-by-prefix P
		name, sel, _ := strings.Cut(f[0], "-by-")
		k, ok := ParseKind(strings.TrimSuffix(name, "s"))
		if !ok {
			return "bad view " + f[0]
		}
		kind = k
		switch {
		case sel == "" && !strings.HasSuffix(name, "s"):
			var out string
			_ = r.s.View(func(tx ReadTx) error {
				if o := tx.Get(kind, f[1]); o != nil {
					out = render(o)
				} else {
					out = "not found"
				}
				return nil
			})
			return out
		case sel == "":
			by = All()
		case sel == "name":
			by = ByName(f[1])
		case sel == "prefix":
			by = ByIDPrefix(f[1])
		default:
			return "bad view " + f[0]
		}
	}
	var lines []string
	err := r.s.View(func(tx ReadTx) error {
		objs, err := tx.Find(kind, by)
		for _, o := range objs {
			lines = append(lines, render(o))
		}
		return err
	})
	if err != nil {
		return "error: " + errName(err)
	}
	if len(lines) == 0 {
		return "(none)"
	}
	return strings.Join(lines, "\n")
}

// drain prints the events received up to the last successful entry.
func (r *ddRunner) drain() string {
	if r.events == nil {
		return "no watch"
	}
	var lines []string
	deadline := time.After(10 * time.Second)
	for {
		if r.lastOK <= r.drained {
			break
		}
		select {
		case e, ok := <-r.events:
			if !ok {
				return strings.Join(append(lines, "closed"), "\n")
			}
			switch e.Kind {
			case EventCommit:
				r.drained = e.Index
				lines = append(lines, e.String())
			case EventResync:
				lines = append(lines, e.String())
			default:
				s := fmt.Sprintf("%s %s", e.Kind, render(e.Object))
				if e.Old != nil && e.Kind == EventUpdate {
					s += fmt.Sprintf(" (old v%d)", e.Old.GetMeta().GetVersion())
				}
				lines = append(lines, s)
			}
		case <-deadline:
			return strings.Join(append(lines, "timeout"), "\n")
		}
	}
	if len(lines) == 0 {
		lines = append(lines, "(none)")
	}
	// Anything queued beyond that would be a bug.
	select {
	case e := <-r.events:
		lines = append(lines, "unexpected extra: "+e.String())
	default:
	}
	return strings.Join(lines, "\n")
}
