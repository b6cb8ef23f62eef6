package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/shoal-project/shoal/core/ca"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// logBytes returns the largest bytes= value of log lines with msg.
func logBytes(log, msg string) (int, bool) {
	re := regexp.MustCompile(`msg="` + regexp.QuoteMeta(msg) + `".*\bbytes=(\d+)`)
	best, found := 0, false
	for _, line := range strings.Split(log, "\n") {
		m := re.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		if n > best {
			best = n
		}
		found = true
	}
	return best, found
}

// labelValue is a deterministic ~1000-byte value for node n, label j.
func labelValue(n, j int) string {
	head := fmt.Sprintf("n%d-l%d-", n, j)
	return head + strings.Repeat(string(rune('a'+(n+j)%26)), 1000-len(head))
}

// TestJoinWithLargeSnapshot: a manager joining a cluster whose state is
// larger than one transport message (1 MiB chunks) catches up from a
// snapshot sent in several chunks.
func TestJoinWithLargeSnapshot(t *testing.T) {
	const (
		bulkNodes  = 32
		labelsEach = 100
		// The log keeps 500 entries behind a snapshot (raft.DefaultTrailingEntries):
		// write well past that so the joiner cannot be caught up by entries.
		smallWrites = 700
	)
	c := newCluster(t, "--raft-tick", "50ms")
	m1 := c.init("m1", "--snapshot-interval", "100")
	ctl := m1.apiClient(t, false)

	// Nodes through the CA's join flow (no processes behind them), each with
	// 100 labels of ~1000 bytes: ~3.2 MB of state.
	tok := strings.TrimSpace(mustRun(t, "--data-dir", m1.dir, "join-token", "worker", "-q"))
	start := time.Now()
	ids := make([]string, bulkNodes)
	for i := range bulkNodes {
		_, csr, err := ca.NewKeyAndCSR()
		if err != nil {
			t.Fatal(err)
		}
		res, err := ctl.CA.IssueNodeCertificate(context.Background(), connect.NewRequest(&shoalv1.IssueNodeCertificateRequest{
			Token: tok, Csr: csr, Hostname: fmt.Sprintf("bulk-%02d", i),
		}))
		if err != nil {
			t.Fatalf("issue node certificate %d: %v", i, err)
		}
		ids[i] = res.Msg.GetNodeId()
		add := map[string]string{}
		for j := range labelsEach {
			add[fmt.Sprintf("big-%03d", j)] = labelValue(i, j)
		}
		if _, err := ctl.Control.UpdateNode(context.Background(), connect.NewRequest(&shoalv1.UpdateNodeRequest{Node: ids[i], LabelAdd: add})); err != nil {
			t.Fatalf("label node %d: %v", i, err)
		}
	}
	t.Logf("wrote %d nodes x %d labels of ~1000 bytes in %s", bulkNodes, labelsEach, time.Since(start).Round(time.Millisecond))

	// Many small writes so that the log is snapshotted and compacted.
	start = time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < smallWrites; i += 4 {
				_, err := ctl.Control.UpdateNode(context.Background(), connect.NewRequest(&shoalv1.UpdateNodeRequest{
					Node: ids[i%bulkNodes], LabelAdd: map[string]string{"small": strconv.Itoa(i)},
				}))
				if err != nil {
					errs <- fmt.Errorf("small write %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d small writes in %s", smallWrites, time.Since(start).Round(time.Millisecond))
	eventually(t, waitTimeout, "m1 snapshots more than 3 MiB", func() error {
		n, ok := logBytes(m1.log(), "raft: snapshot")
		if !ok || n < 3<<20 {
			return fmt.Errorf("largest snapshot so far: %d bytes (found=%v)", n, ok)
		}
		return nil
	})
	snapBytes, _ := logBytes(m1.log(), "raft: snapshot")
	t.Logf("m1 snapshot: %d bytes (%.1f MiB)", snapBytes, float64(snapBytes)/(1<<20))

	// Join a new manager: it must catch up from the snapshot.
	start = time.Now()
	m2 := c.joinManager("m2", m1)
	want := bulkNodes + 2
	d := eventually(t, waitTimeout, "m2 holds the whole state", func() error {
		nodes, err := m2.nodes(t, true)
		if err != nil {
			return err
		}
		if len(nodes) != want {
			return fmt.Errorf("m2 lists %d nodes, want %d", len(nodes), want)
		}
		byID := map[string]*shoalv1.Node{}
		for _, n := range nodes {
			byID[n.GetId()] = n
		}
		for i, id := range ids {
			n := byID[id]
			if n == nil {
				return fmt.Errorf("bulk node %d (%s) missing on m2", i, id)
			}
			labels := n.GetSpec().GetLabels()
			for j := range labelsEach {
				if got := labels[fmt.Sprintf("big-%03d", j)]; got != labelValue(i, j) {
					return fmt.Errorf("bulk node %d label big-%03d: %d bytes, want %d", i, j, len(got), len(labelValue(i, j)))
				}
			}
		}
		return nil
	})
	t.Logf("m2 caught up %s after its join started (%s after ready)", time.Since(start).Round(time.Millisecond), d.Round(time.Millisecond))
	n, ok := logBytes(m2.log(), "raft: restored snapshot")
	if !ok {
		t.Fatalf("m2 did not restore a snapshot: it was caught up some other way (log compaction?)")
	}
	if n < 3<<20 {
		t.Fatalf("m2 restored a snapshot of %d bytes, want more than 3 MiB", n)
	}
	t.Logf("m2 restored a snapshot of %d bytes (%d transport chunks of 1 MiB)", n, (n+(1<<20)-1)>>20)

	// The new manager takes part: a write through it lands everywhere.
	if r := m2.cli(t, "node", "update", ids[0], "--label-add", "after-join=m2"); r.Code != 0 {
		t.Fatalf("%s", r)
	}
	eventually(t, waitTimeout, "m1 sees the write made through m2", func() error {
		v, err := labelOf(t, m1, true, ids[0], "after-join")
		if err != nil {
			return err
		}
		if v != "m2" {
			return fmt.Errorf("after-join=%q", v)
		}
		return nil
	})
}
