package gossip

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
)

// att builds an attachment of task on network "n1".
func att(task, prefix string) Attachment {
	return Attachment{NetworkID: "n1", TaskID: task, Addr: netip.MustParsePrefix(prefix)}
}

// pair is an origin member a and a receiver b; messages go through the
// wire encoding.
type pair struct {
	t    *testing.T
	a, b *table
}

func (p *pair) deliver(states ...nodeState) []Change {
	p.t.Helper()
	decoded, err := decode(encode(states))
	if err != nil {
		p.t.Fatalf("decode: %v", err)
	}
	var changes []Change
	for _, ns := range decoded {
		_, c := p.b.merge(ns)
		changes = append(changes, c...)
	}
	return changes
}

func (p *pair) publish(a Attachment) nodeState {
	d, _ := p.a.publish(a)
	return *d
}

func (p *pair) withdraw(task string) nodeState {
	d, _ := p.a.withdraw(task)
	if len(d) != 1 {
		p.t.Fatalf("withdraw %s: %d deltas, want 1", task, len(d))
	}
	return *d[0]
}

func entryStrings(es []Entry) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, fmt.Sprintf("%s/%s@%s=%s", e.NetworkID, e.TaskID, e.NodeID, e.Addr))
	}
	return out
}

func TestTableMerge(t *testing.T) {
	tests := []struct {
		name string
		run  func(p *pair)
		want []string // b's entries
	}{
		{"delta publishes", func(p *pair) {
			p.deliver(p.publish(att("t1", "10.0.0.2/24")))
		}, []string{"n1/t1@a=10.0.0.2/24"}},
		{"delta withdraws", func(p *pair) {
			p.deliver(p.publish(att("t1", "10.0.0.2/24")))
			p.deliver(p.withdraw("t1"))
		}, []string{}},
		{"stale delta does not revive a withdrawn entry", func(p *pair) {
			pub := p.publish(att("t1", "10.0.0.2/24"))
			p.deliver(pub)
			p.deliver(p.withdraw("t1"))
			p.deliver(pub)
		}, []string{}},
		{"stale full state does not revive a withdrawn entry", func(p *pair) {
			p.publish(att("t1", "10.0.0.2/24"))
			old := p.a.state()
			p.deliver(old...)
			p.deliver(p.withdraw("t1"))
			p.deliver(old...)
		}, []string{}},
		{"stale full state after a newer one changes nothing", func(p *pair) {
			p.publish(att("t1", "10.0.0.2/24"))
			old := p.a.state()
			p.withdraw("t1")
			p.publish(att("t2", "10.0.0.3/24"))
			p.deliver(p.a.state()...)
			p.deliver(old...)
		}, []string{"n1/t2@a=10.0.0.3/24"}},
		{"withdraw arriving before its publish wins", func(p *pair) {
			pub := p.publish(att("t1", "10.0.0.2/24"))
			p.deliver(p.withdraw("t1"))
			p.deliver(pub)
		}, []string{}},
		{"full state removes entries whose withdraw was missed", func(p *pair) {
			p.deliver(p.publish(att("t1", "10.0.0.2/24")))
			p.deliver(p.publish(att("t2", "10.0.0.3/24")))
			p.withdraw("t1")
			p.deliver(p.a.state()...)
		}, []string{"n1/t2@a=10.0.0.3/24"}},
		{"full state keeps deltas newer than itself", func(p *pair) {
			old := p.a.state()
			p.deliver(p.publish(att("t1", "10.0.0.2/24")))
			p.deliver(old...)
		}, []string{"n1/t1@a=10.0.0.2/24"}},
		{"republish replaces the address", func(p *pair) {
			p.deliver(p.publish(att("t1", "10.0.0.2/24")))
			p.deliver(p.publish(att("t1", "10.0.0.9/24")))
		}, []string{"n1/t1@a=10.0.0.9/24"}},
		{"a dead node's entries are dropped and its late gossip ignored", func(p *pair) {
			pub := p.publish(att("t1", "10.0.0.2/24"))
			p.deliver(pub)
			p.b.left("a")
			p.deliver(pub)
		}, []string{}},
		{"a node back from the dead is heard again", func(p *pair) {
			p.deliver(p.publish(att("t1", "10.0.0.2/24")))
			p.b.left("a")
			p.b.joined("a")
			p.deliver(p.a.state()...)
		}, []string{"n1/t1@a=10.0.0.2/24"}},
		{"news about itself leaves own entries alone", func(p *pair) {
			p.b.publish(att("mine", "10.0.0.7/24"))
			p.deliver(nodeState{node: "b", floor: 1 << 62})
		}, []string{"n1/mine@b=10.0.0.7/24"}},
		{"a third member relays a full table", func(p *pair) {
			c := newTable("c", 1)
			for _, ns := range p.a.state() {
				c.merge(ns)
			}
			p.publish(att("t1", "10.0.0.2/24"))
			for _, ns := range p.a.state() {
				c.merge(ns)
			}
			p.deliver(c.state()...)
		}, []string{"n1/t1@a=10.0.0.2/24"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &pair{t: t, a: newTable("a", 100), b: newTable("b", 100)}
			p.a.selfAddr = netip.MustParseAddr("192.0.2.1")
			tt.run(p)
			if got := entryStrings(p.b.entries()); !slices.Equal(got, tt.want) {
				t.Fatalf("b's entries = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTableChanges(t *testing.T) {
	p := &pair{t: t, a: newTable("a", 1), b: newTable("b", 1)}
	var got []string
	record := func(cs []Change) {
		for _, c := range cs {
			got = append(got, fmt.Sprintf("%s %s=%s", c.Kind, c.Entry.TaskID, c.Entry.Addr))
		}
	}
	record(p.deliver(p.publish(att("t1", "10.0.0.2/24"))))
	record(p.deliver(p.publish(att("t1", "10.0.0.3/24"))))
	if d, cs := p.a.publish(att("t1", "10.0.0.3/24")); d != nil || cs != nil {
		t.Fatalf("publishing an unchanged attachment = %v, %v; want no delta, no change", d, cs)
	}
	record(p.deliver(p.withdraw("t1")))
	record(p.b.left("a"))
	want := []string{"added t1=10.0.0.2/24", "removed t1=10.0.0.2/24", "added t1=10.0.0.3/24", "removed t1=10.0.0.3/24"}
	if !slices.Equal(got, want) {
		t.Fatalf("changes = %q, want %q", got, want)
	}
}

func TestNewsAboutItselfMovesOwnVersionsAhead(t *testing.T) {
	b := newTable("b", 5)
	b.merge(nodeState{node: "b", floor: 40, records: []record{{seq: 50, att: att("old", "10.0.0.1/24")}}})
	d, _ := b.publish(att("new", "10.0.0.2/24"))
	if d.records[0].seq <= 50 {
		t.Fatalf("seq after refute = %d, want > 50", d.records[0].seq)
	}
}
