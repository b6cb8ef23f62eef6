package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
)

const (
	ready = shoalv1.NodeState_NODE_STATE_READY
	down  = shoalv1.NodeState_NODE_STATE_DOWN
)

func TestSessionRegistersNodeReady(t *testing.T) {
	h := newHarness(t, Config{})
	first, _ := h.openSession(h.client("n1"), "n1", Version)
	if first.GetSessionId() == "" || first.GetNodeId() != "n1" || first.GetLeaderAddr() != "" {
		t.Fatalf("first message = %v", first)
	}
	if got := first.GetHeartbeatPeriod().AsDuration(); got != time.Hour {
		t.Fatalf("heartbeat period = %v", got)
	}
	h.eventually("node READY", func() bool { return h.nodeState("n1") == ready })
	n := h.node("n1")
	if n.GetDescription().GetHostname() != "host-n1" || n.GetStatus().GetAddr() == "" || n.GetRole() != shoalv1.NodeRole_NODE_ROLE_WORKER {
		t.Fatalf("node = %v", n)
	}
}

func TestSessionNeedsIdentity(t *testing.T) {
	h := newHarness(t, Config{})
	c := h.client("") // no identity header
	stream, err := c.Session(h.ctx, connect.NewRequest(&shoalv1.SessionRequest{AgentVersion: Version}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if stream.Receive() {
		t.Fatal("got a message without identity")
	}
	if connect.CodeOf(stream.Err()) != connect.CodeUnauthenticated {
		t.Fatalf("err = %v", stream.Err())
	}
}

func TestHeartbeatsKeepReadyMissedMarkDown(t *testing.T) {
	downs := make(chan bool, 4)
	h := newHarness(t, Config{HeartbeatPeriod: 5 * time.Second, NodeDown: func(never bool) { downs <- never }})
	c := h.client("n1")
	first, _ := h.openSession(c, "n1", Version)
	h.eventually("node READY", func() bool { return h.nodeState("n1") == ready })
	hb := func() error {
		_, err := c.Heartbeat(h.ctx, connect.NewRequest(&shoalv1.HeartbeatRequest{SessionId: first.GetSessionId()}))
		return err
	}
	for range 10 { // 40 s of heartbeats every 4 s
		h.clock.Advance(4 * time.Second)
		if err := hb(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if s := h.nodeState("n1"); s != ready {
		t.Fatalf("state after heartbeats = %v", s)
	}
	// 14.5 s of silence: still READY.
	for range 29 {
		h.clock.Advance(500 * time.Millisecond)
		time.Sleep(5 * time.Millisecond)
	}
	if s := h.nodeState("n1"); s != ready || h.d.SessionCount() != 1 {
		t.Fatalf("state after 14.5s = %v, sessions %d", s, h.d.SessionCount())
	}
	h.clock.Advance(time.Second)
	h.eventually("node DOWN", func() bool { return h.nodeState("n1") == down })
	if msg := h.node("n1").GetStatus().GetMessage(); msg != "heartbeat failure" {
		t.Fatalf("message = %q", msg)
	}
	if len(downs) != 1 || <-downs {
		t.Fatal("NodeDown was not told of one node whose heartbeats stopped")
	}
	err := hb()
	if code := connect.CodeOf(err); code != connect.CodeNotFound && code != connect.CodeFailedPrecondition {
		t.Fatalf("heartbeat after expiry: %v", err)
	}
	// A new session brings it back.
	h.openSession(c, "n1", Version)
	h.eventually("node READY again", func() bool { return h.nodeState("n1") == ready })
}

func TestReconnectGraceAfterLeaderChange(t *testing.T) {
	// Nodes READY under an earlier leader are in the store before Run.
	seed := func(st *store.Store) error {
		return st.Update(t.Context(), func(tx store.Tx) error {
			for _, id := range []string{"old1", "old2"} {
				if err := tx.Create(&shoalv1.Node{Id: id, Status: &shoalv1.NodeStatus{State: ready}}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	downs := make(chan bool, 4)
	h := newHarnessSeeded(t, Config{HeartbeatPeriod: 5 * time.Second, NodeDown: func(never bool) { downs <- never }}, seed)
	// old1 reconnects to the new leader, old2 does not.
	c := h.client("old1")
	first, _ := h.openSession(c, "old1", Version)
	for range 5 {
		h.clock.Advance(4 * time.Second)
		time.Sleep(20 * time.Millisecond)
		if _, err := c.Heartbeat(h.ctx, connect.NewRequest(&shoalv1.HeartbeatRequest{SessionId: first.GetSessionId()})); err != nil {
			t.Fatal(err)
		}
	}
	h.eventually("old2 DOWN", func() bool { return h.nodeState("old2") == down })
	if s := h.nodeState("old1"); s != ready {
		t.Fatalf("old1 = %v", s)
	}
	if msg := h.node("old2").GetStatus().GetMessage(); !strings.Contains(msg, "leader change") {
		t.Fatalf("old2 message = %q", msg)
	}
	if len(downs) != 1 || !<-downs {
		t.Fatal("NodeDown was not told of one node that never reconnected")
	}
}

func TestAssignmentsCompleteThenIncremental(t *testing.T) {
	h := newHarness(t, Config{})
	h.createTasks(
		newTask("t1", "n1", shoalv1.TaskState_TASK_STATE_ASSIGNED, shoalv1.TaskState_TASK_STATE_RUNNING),
		newTask("t2", "", shoalv1.TaskState_TASK_STATE_PENDING, shoalv1.TaskState_TASK_STATE_RUNNING),
		newTask("t3", "n2", shoalv1.TaskState_TASK_STATE_ASSIGNED, shoalv1.TaskState_TASK_STATE_RUNNING),
		newTask("t4", "n1", shoalv1.TaskState_TASK_STATE_RUNNING, shoalv1.TaskState_TASK_STATE_RUNNING),
		newTask("t6", "n1", shoalv1.TaskState_TASK_STATE_COMPLETE, shoalv1.TaskState_TASK_STATE_REMOVE),
	)
	c := h.client("n1")
	first, _ := h.openSession(c, "n1", Version)
	as, err := c.Assignments(h.ctx, connect.NewRequest(&shoalv1.AssignmentsRequest{SessionId: first.GetSessionId()}))
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	next := func() *shoalv1.AssignmentsMessage {
		t.Helper()
		if !as.Receive() {
			t.Fatalf("assignments ended: %v", as.Err())
		}
		return as.Msg()
	}
	m := next()
	if m.GetType() != shoalv1.AssignmentsType_ASSIGNMENTS_TYPE_COMPLETE || m.GetSequence() != 1 || !slices.Equal(taskIDs(m.GetUpdates()), []string{"t1", "t4"}) {
		t.Fatalf("complete = %v", m)
	}

	// A status-only change (the node's own report echoed) and a task of
	// another node send nothing: the next message is t5's alone.
	h.updateTask("t1", func(t *shoalv1.Task) { t.Status = status(shoalv1.TaskState_TASK_STATE_RUNNING, "") })
	h.createTasks(newTask("t7", "n2", shoalv1.TaskState_TASK_STATE_ASSIGNED, shoalv1.TaskState_TASK_STATE_RUNNING))
	h.createTasks(newTask("t5", "n1", shoalv1.TaskState_TASK_STATE_ASSIGNED, shoalv1.TaskState_TASK_STATE_RUNNING))
	m = next()
	if m.GetType() != shoalv1.AssignmentsType_ASSIGNMENTS_TYPE_INCREMENTAL || m.GetSequence() != 2 ||
		!slices.Equal(taskIDs(m.GetUpdates()), []string{"t5"}) || len(m.GetRemoves()) != 0 {
		t.Fatalf("first incremental = %v, want t5 alone", m)
	}

	h.updateTask("t1", func(t *shoalv1.Task) { t.DesiredState = shoalv1.TaskState_TASK_STATE_SHUTDOWN })
	err = h.st.Update(h.ctx, func(tx store.Tx) error { return tx.Delete(store.KindTask, "t4") })
	if err != nil {
		t.Fatal(err)
	}
	h.updateTask("t5", func(t *shoalv1.Task) { t.DesiredState = shoalv1.TaskState_TASK_STATE_REMOVE })

	// Entries taken at once share a message: apply the messages as the
	// agent does until its set is t1, to be shut down.
	set := map[string]*shoalv1.Task{"t1": nil, "t4": nil, "t5": nil}
	seq := m.GetSequence()
	for !(len(set) == 1 && set["t1"].GetDesiredState() == shoalv1.TaskState_TASK_STATE_SHUTDOWN) {
		m := next()
		if m.GetType() != shoalv1.AssignmentsType_ASSIGNMENTS_TYPE_INCREMENTAL || m.GetSequence() != seq+1 {
			t.Fatalf("message after %d = %v", seq, m)
		}
		seq = m.GetSequence()
		for _, u := range m.GetUpdates() {
			set[u.GetId()] = u
		}
		for _, id := range m.GetRemoves() {
			delete(set, id)
		}
	}
	if got := h.task("t1"); got.GetDesiredState() != shoalv1.TaskState_TASK_STATE_SHUTDOWN {
		t.Fatal(got)
	}
}

func TestAssignmentsRequireOwnSession(t *testing.T) {
	h := newHarness(t, Config{})
	first, _ := h.openSession(h.client("n1"), "n1", Version)
	as, err := h.client("n2").Assignments(h.ctx, connect.NewRequest(&shoalv1.AssignmentsRequest{SessionId: first.GetSessionId()}))
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	if as.Receive() || connect.CodeOf(as.Err()) != connect.CodePermissionDenied {
		t.Fatalf("err = %v", as.Err())
	}
	as2, _ := h.client("n1").Assignments(h.ctx, connect.NewRequest(&shoalv1.AssignmentsRequest{SessionId: "nope"}))
	defer as2.Close()
	if as2.Receive() || connect.CodeOf(as2.Err()) != connect.CodeNotFound {
		t.Fatalf("err = %v", as2.Err())
	}
}

func TestStatusNeverMovesBackward(t *testing.T) {
	h := newHarness(t, Config{})
	h.createTasks(
		newTask("t1", "n1", shoalv1.TaskState_TASK_STATE_ASSIGNED, shoalv1.TaskState_TASK_STATE_RUNNING),
		newTask("other", "n2", shoalv1.TaskState_TASK_STATE_ASSIGNED, shoalv1.TaskState_TASK_STATE_RUNNING),
	)
	c := h.client("n1")
	first, _ := h.openSession(c, "n1", Version)
	sess := first.GetSessionId()
	state := func() *shoalv1.TaskStatus { return h.task("t1").GetStatus() }
	steps := []struct {
		send      *shoalv1.TaskStatus
		wantState shoalv1.TaskState
		wantMsg   string
	}{
		{status(shoalv1.TaskState_TASK_STATE_RUNNING, "started"), shoalv1.TaskState_TASK_STATE_RUNNING, "started"},
		{status(shoalv1.TaskState_TASK_STATE_STARTING, "late"), shoalv1.TaskState_TASK_STATE_RUNNING, "started"},
		{status(shoalv1.TaskState_TASK_STATE_RUNNING, "healthy"), shoalv1.TaskState_TASK_STATE_RUNNING, "healthy"},
		{status(shoalv1.TaskState_TASK_STATE_FAILED, "exit 1"), shoalv1.TaskState_TASK_STATE_FAILED, "exit 1"},
		{status(shoalv1.TaskState_TASK_STATE_RUNNING, "zombie"), shoalv1.TaskState_TASK_STATE_FAILED, "exit 1"},
	}
	for i, s := range steps {
		if err := report(h, c, sess, upd("t1", s.send)); err != nil {
			t.Fatal(err)
		}
		h.eventually(fmt.Sprintf("step %d", i), func() bool {
			st := state()
			return st.GetState() == s.wantState && st.GetMessage() == s.wantMsg
		})
	}
	// Within one batch the later, older report is dropped too.
	h.createTasks(newTask("t2", "n1", shoalv1.TaskState_TASK_STATE_ASSIGNED, shoalv1.TaskState_TASK_STATE_RUNNING))
	if err := report(h, c, sess, upd("t2", status(shoalv1.TaskState_TASK_STATE_RUNNING, ""))); err != nil {
		t.Fatal(err)
	}
	if err := report(h, c, sess, upd("t2", status(shoalv1.TaskState_TASK_STATE_PREPARING, ""))); err != nil {
		t.Fatal(err)
	}
	h.eventually("t2 RUNNING", func() bool { return h.task("t2").GetStatus().GetState() == shoalv1.TaskState_TASK_STATE_RUNNING })

	if err := report(h, c, sess, upd("other", status(shoalv1.TaskState_TASK_STATE_RUNNING, ""))); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("foreign task: %v", err)
	}
	if err := report(h, c, sess, upd("t1", status(shoalv1.TaskState_TASK_STATE_NEW, ""))); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("NEW: %v", err)
	}
	if err := report(h, c, "bogus", upd("t1", status(shoalv1.TaskState_TASK_STATE_RUNNING, ""))); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("bad session: %v", err)
	}
	if err := report(h, c, sess, upd("gone", status(shoalv1.TaskState_TASK_STATE_RUNNING, ""))); err != nil {
		t.Fatalf("unknown task: %v", err)
	}
}

func TestForward(t *testing.T) {
	for _, tc := range []struct {
		cur, next *shoalv1.TaskStatus
		want      bool
	}{
		{nil, status(shoalv1.TaskState_TASK_STATE_ACCEPTED, ""), true},
		{status(shoalv1.TaskState_TASK_STATE_RUNNING, ""), status(shoalv1.TaskState_TASK_STATE_STARTING, ""), false},
		{status(shoalv1.TaskState_TASK_STATE_RUNNING, ""), status(shoalv1.TaskState_TASK_STATE_RUNNING, ""), false},
		{status(shoalv1.TaskState_TASK_STATE_RUNNING, "a"), status(shoalv1.TaskState_TASK_STATE_RUNNING, "b"), true},
		{status(shoalv1.TaskState_TASK_STATE_RUNNING, ""), status(shoalv1.TaskState_TASK_STATE_FAILED, ""), true},
		{status(shoalv1.TaskState_TASK_STATE_RUNNING, ""), nil, false},
	} {
		if got := Forward(tc.cur, tc.next); got != tc.want {
			t.Errorf("Forward(%v, %v) = %v", tc.cur, tc.next, got)
		}
	}
}

func TestStatusBatching(t *testing.T) {
	const n = 5000
	// Each proposal takes 20 ms to commit, as through Raft.
	h, _ := newHarnessProposer(t, Config{}, 20*time.Millisecond)
	tasks, c, sess := h.runningSession(n)
	h.eventually("node READY", func() bool { return h.nodeState("n1") == ready })
	before := h.st.ProposalCount()
	// Requests in flight together (as from many agents) share batches.
	var wg sync.WaitGroup
	for chunk := range slices.Chunk(tasks, 250) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ups []*shoalv1.TaskStatusUpdate
			for _, tk := range chunk {
				ups = append(ups, upd(tk.GetId(), status(shoalv1.TaskState_TASK_STATE_RUNNING, "")))
			}
			if err := report(h, c, sess, ups...); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	h.eventually("all RUNNING", func() bool { return h.countRunning() == n })
	props := h.st.ProposalCount() - before
	t.Logf("%d status updates -> %d proposals", n, props)
	if props > 2*n/store.DefaultMaxChangesPerProposal {
		t.Fatalf("%d updates took %d proposals", n, props)
	}
}

func TestStatusFlushOnMaxBatch(t *testing.T) {
	h := newHarness(t, Config{MaxBatchItems: 100})
	tasks, c, sess := h.runningSession(300)
	h.reportRunning(c, sess, tasks, 100)
	// The clock does not move: only the size trigger can flush.
	deadline := time.Now().Add(20 * time.Second)
	for h.task("t00299").GetStatus().GetState() != shoalv1.TaskState_TASK_STATE_RUNNING {
		if time.Now().After(deadline) {
			t.Fatal("a full batch was not flushed without a timer")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestVersionHandshake(t *testing.T) {
	h := newHarness(t, Config{Version: "0.2.0"})
	for _, tc := range []struct {
		agent string
		ok    bool
	}{
		{"0.2.0", true},
		{"0.1.0", true},
		{"0.3.7", true},
		{"v0.1.2-rc.1", true},
		{"0.4.0", false},
		{"0.0.9", false},
		{"1.2.0", false},
		{"", false},
		{"banana", false},
	} {
		t.Run(tc.agent, func(t *testing.T) {
			stream, err := h.client("n1").Session(h.ctx, connect.NewRequest(&shoalv1.SessionRequest{AgentVersion: tc.agent}))
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			got := stream.Receive()
			if got != tc.ok {
				t.Fatalf("agent %q: received=%v err=%v", tc.agent, got, stream.Err())
			}
			if !tc.ok {
				err := stream.Err()
				if connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "0.2.0") || !strings.Contains(err.Error(), tc.agent) {
					t.Fatalf("agent %q: err = %v", tc.agent, err)
				}
			}
		})
	}
	if err := CheckVersion("0.1.0", "0.3.0"); !errors.Is(err, ErrVersionMismatch) {
		t.Fatalf("0.1 vs 0.3: %v", err)
	}
	if err := CheckVersion("0.1.0", "0.2.0"); err != nil {
		t.Fatalf("0.1 vs 0.2: %v", err)
	}
}

func TestSessionRequestWithUnknownFieldIsServed(t *testing.T) {
	h := newHarness(t, Config{})
	raw, err := proto.Marshal(&shoalv1.SessionRequest{AgentVersion: "0.2.0", Description: &shoalv1.NodeDescription{Hostname: "future"}})
	if err != nil {
		t.Fatal(err)
	}
	// A newer agent sends field 99 (a string) and field 100 (a varint) this
	// dispatcher does not know.
	raw = protowire.AppendTag(raw, 99, protowire.BytesType)
	raw = protowire.AppendString(raw, "from the future")
	raw = protowire.AppendTag(raw, 100, protowire.VarintType)
	raw = protowire.AppendVarint(raw, 42)
	var req shoalv1.SessionRequest
	if err := proto.Unmarshal(raw, &req); err != nil {
		t.Fatal(err)
	}
	if len(req.ProtoReflect().GetUnknown()) == 0 {
		t.Fatal("unknown fields were not kept for the wire")
	}
	stream, err := h.client("n1").Session(h.ctx, connect.NewRequest(&req))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if !stream.Receive() || stream.Msg().GetSessionId() == "" {
		t.Fatalf("session with unknown fields: %v", stream.Err())
	}
	h.eventually("node READY", func() bool { return h.node("n1").GetDescription().GetHostname() == "future" })
}

func TestFollowerRedirects(t *testing.T) {
	h := newHarness(t, Config{IsLeader: func() bool { return false }, LeaderAddr: func() string { return "10.0.0.1:4242" }})
	stream, err := h.client("n1").Session(h.ctx, connect.NewRequest(&shoalv1.SessionRequest{AgentVersion: Version}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if !stream.Receive() {
		t.Fatal(stream.Err())
	}
	if m := stream.Msg(); m.GetLeaderAddr() != "10.0.0.1:4242" || m.GetSessionId() != "" {
		t.Fatalf("redirect = %v", m)
	}
	if stream.Receive() || stream.Err() != nil {
		t.Fatalf("stream did not end cleanly: %v", stream.Err())
	}
	if h.d.SessionCount() != 0 {
		t.Fatal("follower opened a session")
	}
}

func TestNewSessionReplacesOld(t *testing.T) {
	h := newHarness(t, Config{})
	c := h.client("n1")
	first, s1 := h.openSession(c, "n1", Version)
	second, _ := h.openSession(c, "n1", Version)
	if first.GetSessionId() == second.GetSessionId() {
		t.Fatal("same session id")
	}
	if s1.Receive() || connect.CodeOf(s1.Err()) != connect.CodeAborted {
		t.Fatalf("old stream: %v", s1.Err())
	}
	if _, err := c.Heartbeat(h.ctx, connect.NewRequest(&shoalv1.HeartbeatRequest{SessionId: first.GetSessionId()})); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("old session heartbeat: %v", err)
	}
	if h.d.SessionCount() != 1 {
		t.Fatal(h.d.SessionCount())
	}
}

func TestLogBroker(t *testing.T) {
	h := newHarness(t, Config{})
	c := h.client("n1")
	_, sess := h.openSession(c, "n1", Version)
	if _, err := h.d.SubscribeLogs(h.ctx, map[string][]string{"nX": {"t"}}, false, -1); !errors.Is(err, ErrNoNodesConnected) {
		t.Fatalf("no nodes: %v", err)
	}
	lines, err := h.d.SubscribeLogs(h.ctx, map[string][]string{"n1": {"t1", "t2"}, "nX": {"t9"}}, false, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !sess.Receive() {
		t.Fatal(sess.Err())
	}
	subs := sess.Msg().GetLogSubscriptions()
	if len(subs) != 1 || !slices.Equal(subs[0].GetTaskIds(), []string{"t1", "t2"}) || subs[0].GetTail() != 10 || subs[0].GetFollow() {
		t.Fatalf("subscription = %v", subs)
	}
	pub := c.PublishLogs(h.ctx)
	for i := range 3 {
		if err := pub.Send(&shoalv1.PublishLogsRequest{SubscriptionId: subs[0].GetId(), Lines: []*shoalv1.LogLine{{TaskId: "t1", Data: fmt.Appendf(nil, "line %d", i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Send(&shoalv1.PublishLogsRequest{SubscriptionId: subs[0].GetId(), Done: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.CloseAndReceive(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for l := range lines {
		if l.GetNodeId() != "n1" {
			t.Fatalf("line without node: %v", l)
		}
		got = append(got, string(l.GetData()))
	}
	if !slices.Equal(got, []string{"line 0", "line 1", "line 2"}) {
		t.Fatalf("lines = %q", got)
	}
	// Publishing to an ended subscription is refused.
	pub2 := c.PublishLogs(h.ctx)
	_ = pub2.Send(&shoalv1.PublishLogsRequest{SubscriptionId: subs[0].GetId(), Lines: []*shoalv1.LogLine{{TaskId: "t1"}}})
	if _, err := pub2.CloseAndReceive(); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("late publish: %v", err)
	}
}

// A follow subscription outlives the node's session: the node's publish
// stream breaks and it opens a new session (a network blip), and the new
// session gets the subscription again, asking only for new lines.
func TestFollowLogsSurviveReconnect(t *testing.T) {
	h := newHarness(t, Config{})
	c := h.client("n1")
	_, sess := h.openSession(c, "n1", Version)
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	lines, err := h.d.SubscribeLogs(ctx, map[string][]string{"n1": {"t1"}}, true, 5)
	if err != nil {
		t.Fatal(err)
	}
	if !sess.Receive() {
		t.Fatal(sess.Err())
	}
	sub := sess.Msg().GetLogSubscriptions()[0]
	publish := func(pctx context.Context, data string) *connect.ClientStreamForClient[shoalv1.PublishLogsRequest, shoalv1.PublishLogsResponse] {
		pub := c.PublishLogs(pctx)
		if err := pub.Send(&shoalv1.PublishLogsRequest{SubscriptionId: sub.GetId(), Lines: []*shoalv1.LogLine{{TaskId: "t1", Data: []byte(data)}}}); err != nil {
			t.Fatal(err)
		}
		return pub
	}
	next := func() string {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("follow subscription ended")
			}
			return string(l.GetData())
		case <-time.After(20 * time.Second):
			t.Fatal("no line")
		}
		return ""
	}
	pctx, breakStream := context.WithCancel(h.ctx)
	publish(pctx, "before")
	if got := next(); got != "before" {
		t.Fatalf("line = %q", got)
	}
	// The node's streams break; it opens a new session.
	breakStream()
	_, sess2 := h.openSession(c, "n1", Version)
	if !sess2.Receive() {
		t.Fatal(sess2.Err())
	}
	again := sess2.Msg().GetLogSubscriptions()
	if len(again) != 1 || again[0].GetId() != sub.GetId() || !again[0].GetFollow() || again[0].GetTail() != 0 || !slices.Equal(again[0].GetTaskIds(), []string{"t1"}) {
		t.Fatalf("subscription on the new session = %v", again)
	}
	pub := publish(h.ctx, "after")
	if got := next(); got != "after" {
		t.Fatalf("line = %q", got)
	}
	// The subscriber leaves: the channel closes and the node is told.
	cancel()
	for range lines {
	}
	if !sess2.Receive() || !sess2.Msg().GetLogSubscriptions()[0].GetClose() {
		t.Fatalf("close not pushed: %v %v", sess2.Msg(), sess2.Err())
	}
	_, _ = pub.CloseAndReceive()
}

// TestConcurrentReportsCoalesce has many sessions report at once to a
// store whose every proposal takes 20 ms (as a Raft commit does). Each
// report is answered only once stored, and the reports that arrive while
// one batch commits share the next: far fewer proposals than sessions.
// Without group commit either the answer comes before the write (the
// clock never moves here, so no timed flush happens) or every session
// costs a proposal of its own.
func TestConcurrentReportsCoalesce(t *testing.T) {
	const sessions, perNode = 100, 10
	h, _ := newHarnessProposer(t, Config{}, 20*time.Millisecond)
	type nodeRun struct {
		c     shoalv1connect.DispatcherServiceClient
		sess  string
		tasks []*shoalv1.Task
	}
	runs := make([]nodeRun, sessions)
	var all []*shoalv1.Task
	for i := range runs {
		node := fmt.Sprintf("n%03d", i)
		for j := 0; j < perNode; j++ {
			runs[i].tasks = append(runs[i].tasks, newTask(fmt.Sprintf("t%03d-%02d", i, j), node, shoalv1.TaskState_TASK_STATE_ASSIGNED, shoalv1.TaskState_TASK_STATE_RUNNING))
		}
		all = append(all, runs[i].tasks...)
	}
	h.createTasks(all...)
	for i := range runs {
		node := fmt.Sprintf("n%03d", i)
		runs[i].c = h.client(node)
		first, _ := h.openSession(runs[i].c, node, Version)
		runs[i].sess = first.GetSessionId()
	}
	before := h.st.ProposalCount()
	start := make(chan struct{})
	errs := make(chan error, sessions)
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ups []*shoalv1.TaskStatusUpdate
			for _, tk := range r.tasks {
				ups = append(ups, upd(tk.GetId(), status(shoalv1.TaskState_TASK_STATE_RUNNING, "")))
			}
			<-start
			if err := report(h, r.c, r.sess, ups...); err != nil {
				errs <- err
				return
			}
			// Answered: so stored.
			for _, tk := range r.tasks {
				if got := h.task(tk.GetId()).GetStatus().GetState(); got != shoalv1.TaskState_TASK_STATE_RUNNING {
					errs <- fmt.Errorf("task %s is %v after its report was answered, want RUNNING", tk.GetId(), got)
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	props := h.st.ProposalCount() - before
	t.Logf("%d sessions reporting at once -> %d proposals", sessions, props)
	if props > sessions/4 {
		t.Errorf("%d concurrent reports took %d proposals, want at most %d", sessions, props, sessions/4)
	}
}

// TestReportFailsWhenNotStored: a report whose batch the store refuses is
// answered Unavailable, so the agent keeps it and sends it again.
func TestReportFailsWhenNotStored(t *testing.T) {
	h, fail := newHarnessProposer(t, Config{}, 0)
	tasks, c, sess := h.runningSession(1)
	h.eventually("node READY", func() bool { return h.nodeState("n1") == ready })
	fail.Store(true)
	err := report(h, c, sess, upd(tasks[0].GetId(), status(shoalv1.TaskState_TASK_STATE_RUNNING, "")))
	if connect.CodeOf(err) != connect.CodeUnavailable || !strings.Contains(err.Error(), errNoQuorum.Error()) {
		t.Fatalf("report the store could not write: %v, want Unavailable with the cause", err)
	}
	fail.Store(false)
	if err := report(h, c, sess, upd(tasks[0].GetId(), status(shoalv1.TaskState_TASK_STATE_RUNNING, ""))); err != nil {
		t.Fatalf("re-sent report: %v", err)
	}
	if got := h.task(tasks[0].GetId()).GetStatus().GetState(); got != shoalv1.TaskState_TASK_STATE_RUNNING {
		t.Fatalf("re-sent report answered but task is %v", got)
	}
}

// TestSameForAgentCoversEveryTaskField changes each field of a Task in
// turn: all but Meta and Status must make sameForAgent false, so a field
// added to Task later cannot be left out of the comparison unnoticed.
func TestSameForAgentCoversEveryTaskField(t *testing.T) {
	base := newTask("t1", "n1", shoalv1.TaskState_TASK_STATE_ASSIGNED, shoalv1.TaskState_TASK_STATE_RUNNING)
	fields := base.ProtoReflect().Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		b := proto.CloneOf(base)
		m := b.ProtoReflect()
		switch {
		case fd.IsList() && fd.Kind() == protoreflect.MessageKind:
			l := m.Mutable(fd).List()
			l.Append(l.NewElement())
		case fd.Kind() == protoreflect.MessageKind:
			v := m.NewField(fd)
			v.Message().SetUnknown(protowire.AppendTag(nil, 999, protowire.VarintType))
			m.Set(fd, v)
		case fd.Kind() == protoreflect.StringKind:
			m.Set(fd, protoreflect.ValueOfString("changed"))
		case fd.Kind() == protoreflect.Uint64Kind:
			m.Set(fd, protoreflect.ValueOfUint64(m.Get(fd).Uint()+7))
		case fd.Kind() == protoreflect.EnumKind:
			m.Set(fd, protoreflect.ValueOfEnum(m.Get(fd).Enum()+1))
		default:
			t.Fatalf("Task field %s has kind %v: teach this test (and check sameForAgent)", fd.Name(), fd.Kind())
		}
		want := fd.Name() == "meta" || fd.Name() == "status"
		if got := sameForAgent(base, b); got != want {
			t.Errorf("a change of Task.%s: sameForAgent = %v, want %v", fd.Name(), got, want)
		}
	}
	u := proto.CloneOf(base)
	u.ProtoReflect().SetUnknown(protowire.AppendTag(nil, 999, protowire.VarintType))
	if sameForAgent(base, u) {
		t.Error("an unknown field (from a newer manager) went unnoticed")
	}
}
