package gossip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

var (
	key1 = bytes.Repeat([]byte{1}, 32)
	key2 = bytes.Repeat([]byte{2}, 32)
)

// fastFailure detects a dead member in about a second on loopback.
var fastFailure = Timing{ProbeInterval: 200 * time.Millisecond, ProbeTimeout: 100 * time.Millisecond, SuspicionMult: 2}

const waitLong = 30 * time.Second

func newMember(t testing.TB, id string, keys [][]byte, timing Timing) *Member {
	t.Helper()
	m, err := New(Config{
		NodeID:   id,
		BindAddr: "127.0.0.1:0",
		Keys:     keys,
		Timing:   timing,
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("New(%s): %v", id, err)
	}
	t.Cleanup(func() { _ = m.shutdown(false) })
	return m
}

// newCluster starts n members named m0..m(n-1) and joins them through m0.
func newCluster(t testing.TB, n int, timing Timing) []*Member {
	t.Helper()
	ms := make([]*Member, n)
	for i := range ms {
		ms[i] = newMember(t, fmt.Sprintf("m%d", i), [][]byte{key1}, timing)
		if i > 0 {
			if err := ms[i].Join([]string{ms[0].Addr()}); err != nil {
				t.Fatalf("join m%d: %v", i, err)
			}
		}
	}
	eventually(t, "every member sees all", func() error { return allSee(ms, n) })
	return ms
}

func allSee(ms []*Member, n int) error {
	for i, m := range ms {
		if got := m.NumMembers(); got != n {
			return fmt.Errorf("m%d sees %d members, want %d", i, got, n)
		}
	}
	return nil
}

func eventually(t testing.TB, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, waitLong, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tablesAre waits until every member's table is want (entry strings).
func tablesAre(t testing.TB, ms []*Member, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	eventually(t, fmt.Sprintf("tables = %v", want), func() error {
		for i, m := range ms {
			es, err := m.Snapshot()
			if err != nil {
				return err
			}
			if got := entryStrings(es); !slices.Equal(got, want) {
				return fmt.Errorf("m%d has %v", i, got)
			}
		}
		return nil
	})
}

func TestPublishAndWithdrawReachEveryMember(t *testing.T) {
	ms := newCluster(t, 3, Timing{})
	if err := ms[1].Publish(att("t1", "10.0.0.2/24")); err != nil {
		t.Fatal(err)
	}
	tablesAre(t, ms, "n1/t1@m1=10.0.0.2/24")
	es, _ := ms[2].Snapshot()
	if es[0].NodeAddr.String() != "127.0.0.1" {
		t.Errorf("underlay address = %s, want the advertised 127.0.0.1", es[0].NodeAddr)
	}
	if err := ms[1].Withdraw("t1"); err != nil {
		t.Fatal(err)
	}
	tablesAre(t, ms)
}

func TestJoinBringsTheWholeTable(t *testing.T) {
	ms := newCluster(t, 2, Timing{})
	_ = ms[0].Publish(att("t0", "10.0.0.2/24"))
	_ = ms[1].Publish(att("t1", "10.0.0.3/24"))
	tablesAre(t, ms, "n1/t0@m0=10.0.0.2/24", "n1/t1@m1=10.0.0.3/24")

	late := newMember(t, "late", [][]byte{key1}, Timing{})
	if err := late.Join([]string{ms[0].Addr()}); err != nil {
		t.Fatal(err)
	}
	// The join's push-pull is merged before Join returns.
	es, _ := late.Snapshot()
	if got := entryStrings(es); len(got) != 2 {
		t.Fatalf("right after Join the new member has %v, want both entries", got)
	}
}

func TestDeadMembersEntriesAreDropped(t *testing.T) {
	for _, leave := range []bool{false, true} {
		t.Run(fmt.Sprintf("leave=%v", leave), func(t *testing.T) {
			ms := newCluster(t, 3, fastFailure)
			_ = ms[0].Publish(att("t0", "10.0.0.2/24"))
			_ = ms[2].Publish(att("t2", "10.0.0.4/24"))
			tablesAre(t, ms, "n1/t0@m0=10.0.0.2/24", "n1/t2@m2=10.0.0.4/24")
			// leave=false is a crash: no leave message, only failure detection.
			if err := ms[2].shutdown(leave); err != nil {
				t.Fatal(err)
			}
			tablesAre(t, ms[:2], "n1/t0@m0=10.0.0.2/24")
		})
	}
}

func TestStaleGossipDoesNotReviveAWithdrawnEntry(t *testing.T) {
	ms := newCluster(t, 3, Timing{})
	_ = ms[0].Publish(att("t0", "10.0.0.2/24"))
	tablesAre(t, ms, "n1/t0@m0=10.0.0.2/24")
	oldState := (*delegate)(ms[0]).LocalState(false)
	var oldDelta []byte
	_ = ms[0].do(func() { oldDelta = encode([]nodeState{*ms[0].table.delta(ms[0].table.own[key{"n1", "t0"}])}) })

	_ = ms[0].Withdraw("t0")
	tablesAre(t, ms)
	// A lagging peer's push-pull and a late copy of the publish arrive.
	(*delegate)(ms[1]).MergeRemoteState(oldState, false)
	(*delegate)(ms[2]).NotifyMsg(oldDelta)
	for _, m := range ms[1:] {
		if es, _ := m.Snapshot(); len(es) != 0 {
			t.Fatalf("stale gossip revived %v", entryStrings(es))
		}
	}
}

func TestWatchStreamsTheTableThenItsChanges(t *testing.T) {
	ms := newCluster(t, 2, Timing{})
	_ = ms[0].Publish(att("t1", "10.0.0.2/24"))
	tablesAre(t, ms, "n1/t1@m0=10.0.0.2/24")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := ms[1].Watch(ctx)
	next := func() string {
		select {
		case c := <-ch:
			return fmt.Sprintf("%s %s", c.Kind, c.Entry.TaskID)
		case <-time.After(waitLong):
			return "nothing"
		}
	}
	if got := next(); got != "added t1" {
		t.Fatalf("first change = %q, want the existing entry (added t1)", got)
	}
	_ = ms[0].Publish(att("t2", "10.0.0.3/24"))
	if got := next(); got != "added t2" {
		t.Fatalf("after a publish: %q, want added t2", got)
	}
	_ = ms[0].Withdraw("t1")
	if got := next(); got != "removed t1" {
		t.Fatalf("after a withdraw: %q, want removed t1", got)
	}
	cancel()
	for range ch { // closed once ctx ends
	}
}

func TestMemberWithoutTheKeyCannotJoin(t *testing.T) {
	ms := newCluster(t, 2, Timing{})
	_ = ms[0].Publish(att("secret", "10.0.0.2/24"))

	stranger := newMember(t, "stranger", [][]byte{key2}, Timing{})
	if err := stranger.Join([]string{ms[0].Addr()}); !errors.Is(err, ErrJoin) {
		t.Fatalf("join with another key = %v, want ErrJoin", err)
	}
	plain := plainMemberlist(t)
	if n, err := plain.Join([]string{ms[0].Addr()}); err == nil || n != 0 {
		t.Fatalf("unencrypted join = %d, %v; want refused", n, err)
	}
	time.Sleep(time.Second) // a few gossip rounds
	if err := allSee(ms, 2); err != nil {
		t.Fatal(err)
	}
	if es, _ := stranger.Snapshot(); len(es) != 0 {
		t.Fatalf("stranger read %v", entryStrings(es))
	}
}

func plainMemberlist(t *testing.T) *memberlist.Memberlist {
	t.Helper()
	c := memberlist.DefaultLANConfig()
	c.Name, c.BindAddr, c.BindPort = "plain", "127.0.0.1", 0
	c.Logger = newLogBridge(slog.New(slog.DiscardHandler))
	ml, err := memberlist.Create(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ml.Shutdown() })
	return ml
}

func TestKeyRotationKeepsTheClusterWhole(t *testing.T) {
	ms := newCluster(t, 3, fastFailure)
	steps := [][][]byte{{key1, key2}, {key2, key1}, {key2}}
	for i, keys := range steps {
		for _, m := range ms {
			if err := m.SetKeys(keys); err != nil {
				t.Fatal(err)
			}
		}
		task := fmt.Sprintf("t%d", i)
		_ = ms[i].Publish(att(task, fmt.Sprintf("10.0.0.%d/24", i+2)))
		eventually(t, "entry "+task+" everywhere", func() error {
			for j, m := range ms {
				es, _ := m.Snapshot()
				if !slices.ContainsFunc(es, func(e Entry) bool { return e.TaskID == task }) {
					return fmt.Errorf("m%d lacks it", j)
				}
			}
			return nil
		})
	}
	time.Sleep(2 * time.Second) // several probe rounds with the new key only
	if err := allSee(ms, 3); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	if err := newMember(t, "old-key", [][]byte{key1}, Timing{}).Join([]string{ms[0].Addr()}); !errors.Is(err, ErrJoin) {
		t.Fatalf("join with the dropped key = %v, want ErrJoin", err)
	}
	if err := newMember(t, "new-key", [][]byte{key2}, Timing{}).Join([]string{ms[0].Addr()}); err != nil {
		t.Fatalf("join with the new key: %v", err)
	}
}

func TestBadInputIsRefusedWithTheField(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no node ID", Config{Keys: [][]byte{key1}}, "NodeID"},
		{"no keys", Config{NodeID: "a"}, "Keys is empty"},
		{"short key", Config{NodeID: "a", Keys: [][]byte{key1, []byte("short")}}, "Keys[1] has 5 bytes"},
		{"bind without port", Config{NodeID: "a", Keys: [][]byte{key1}, BindAddr: "127.0.0.1"}, "BindAddr"},
		{"advertise a name", Config{NodeID: "a", Keys: [][]byte{key1}, BindAddr: "127.0.0.1:0", AdvertiseAddr: "host:1"}, "AdvertiseAddr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if !errors.Is(err, ErrInvalidConfig) || !bytes.Contains([]byte(err.Error()), []byte(tt.want)) {
				t.Fatalf("New = %v, want ErrInvalidConfig naming %q", err, tt.want)
			}
		})
	}
	m := newMember(t, "a", [][]byte{key1}, Timing{})
	bad := []Attachment{
		{TaskID: "t", Addr: att("t", "10.0.0.2/24").Addr},
		{NetworkID: "n"},
		{NetworkID: "n", TaskID: "t"},
		{NetworkID: "n", TaskID: "t", Addr: att("t", "10.0.0.2/24").Addr, MAC: []byte{1}},
	}
	for _, a := range bad {
		if err := m.Publish(a); !errors.Is(err, ErrInvalidAttachment) {
			t.Errorf("Publish(%+v) = %v, want ErrInvalidAttachment", a, err)
		}
	}
	if err := m.SetKeys(nil); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("SetKeys(nil) = %v, want ErrInvalidConfig", err)
	}
}

func TestClosedMemberRefusesCalls(t *testing.T) {
	m := newMember(t, "a", [][]byte{key1}, Timing{})
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Publish(att("t", "10.0.0.2/24")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Publish after Close = %v, want ErrClosed", err)
	}
	if _, ok := <-m.Watch(context.Background()); ok {
		t.Fatal("Watch after Close delivered a change")
	}
}
