package manager

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// Gauges read from Raft and the store at each scrape.
var (
	raftTermDesc     = gaugeDesc("shoal_raft_term", "Current Raft term.")
	raftLeaderDesc   = gaugeDesc("shoal_raft_is_leader", "1 when this manager is the Raft leader (and has applied the previous terms' entries).")
	raftHasLeader    = gaugeDesc("shoal_raft_has_leader", "1 when this manager knows a Raft leader.")
	raftCommitDesc   = gaugeDesc("shoal_raft_commit_index", "Highest Raft log index this manager knows committed.")
	raftAppliedDesc  = gaugeDesc("shoal_raft_applied_index", "Highest Raft log index applied to this manager's store.")
	raftSnapshotDesc = gaugeDesc("shoal_raft_snapshot_index", "Raft log index of this manager's latest snapshot.")
	raftMembersDesc  = gaugeDesc("shoal_raft_members", "Managers in the Raft group by whether they are reachable from this one and vote.", "reachable", "voter")
	storeObjectsDesc = gaugeDesc("shoal_store_objects", "Objects in this manager's store by kind.", "kind")
	nodesDesc        = gaugeDesc("shoal_nodes", "Nodes by state, availability and role.", "state", "availability", "role")
	tasksDesc        = gaugeDesc("shoal_tasks", "Tasks by observed state.", "state")
	servicesDesc     = gaugeDesc("shoal_services", "Services by mode.", "mode")
	sessionsDesc     = gaugeDesc("shoal_dispatcher_sessions", "Agent sessions open on this manager's dispatcher (0 on followers).")
)

func gaugeDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// stateCollector reports the cluster as this manager sees it.
type stateCollector struct{ m *Manager }

func (stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{raftTermDesc, raftLeaderDesc, raftHasLeader, raftCommitDesc, raftAppliedDesc, raftSnapshotDesc,
		raftMembersDesc, storeObjectsDesc, nodesDesc, tasksDesc, servicesDesc, sessionsDesc} {
		ch <- d
	}
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	c.collectRaft(ch)
	c.collectStore(ch)
	sessions := 0
	if c.m.disp != nil {
		if d := c.m.disp.cur.Load(); d != nil {
			sessions = d.SessionCount()
		}
	}
	ch <- gauge(sessionsDesc, sessions)
}

func gauge(d *prometheus.Desc, v int, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
}

func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (c stateCollector) collectRaft(ch chan<- prometheus.Metric) {
	rn := c.m.rn()
	if rn == nil {
		return
	}
	st := rn.Status()
	ch <- prometheus.MustNewConstMetric(raftTermDesc, prometheus.GaugeValue, float64(st.Term))
	ch <- gauge(raftLeaderDesc, flag(st.IsLeader))
	ch <- gauge(raftHasLeader, flag(st.Leader != 0))
	ch <- prometheus.MustNewConstMetric(raftCommitDesc, prometheus.GaugeValue, float64(st.Commit))
	ch <- prometheus.MustNewConstMetric(raftAppliedDesc, prometheus.GaugeValue, float64(st.Applied))
	ch <- prometheus.MustNewConstMetric(raftSnapshotDesc, prometheus.GaugeValue, float64(st.SnapshotIndex))
	members := map[[2]bool]int{}
	for _, mb := range (raftCluster{c.m}).Members() {
		members[[2]bool{mb.Reachable, !mb.Learner}]++
	}
	for _, reachable := range []bool{true, false} {
		for _, voter := range []bool{true, false} {
			ch <- gauge(raftMembersDesc, members[[2]bool{reachable, voter}], boolLabel(reachable), boolLabel(voter))
		}
	}
}

func boolLabel(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// clusterCounts is what the store gauges report.
type clusterCounts struct {
	objects  map[store.Kind]int
	nodes    map[[3]string]int
	tasks    map[string]int
	services map[string]int
}

func (c stateCollector) collectStore(ch chan<- prometheus.Metric) {
	n := countCluster(c.m.store)
	for _, k := range store.Kinds() {
		ch <- gauge(storeObjectsDesc, n.objects[k], k.String())
	}
	for _, s := range enumLabels(shoalv1.NodeState(0).Descriptor(), "NODE_STATE_") {
		for _, a := range enumLabels(shoalv1.NodeAvailability(0).Descriptor(), "NODE_AVAILABILITY_") {
			for _, r := range enumLabels(shoalv1.NodeRole(0).Descriptor(), "NODE_ROLE_") {
				ch <- gauge(nodesDesc, n.nodes[[3]string{s, a, r}], s, a, r)
			}
		}
	}
	for _, s := range enumLabels(shoalv1.TaskState(0).Descriptor(), "TASK_STATE_") {
		ch <- gauge(tasksDesc, n.tasks[s], s)
	}
	for _, mode := range []string{"replicated", "global"} {
		ch <- gauge(servicesDesc, n.services[mode], mode)
	}
}

func countCluster(st *store.Store) clusterCounts {
	n := clusterCounts{objects: map[store.Kind]int{}, nodes: map[[3]string]int{}, tasks: map[string]int{}, services: map[string]int{}}
	_ = st.View(func(tx store.ReadTx) error {
		for _, k := range store.Kinds() {
			n.objects[k], _ = tx.Count(k, store.All())
		}
		_ = tx.Range(store.KindNode, store.All(), func(o store.Object) bool {
			nd := o.(*shoalv1.Node)
			n.nodes[[3]string{enumLabel(nd.GetStatus().GetState(), "NODE_STATE_"), enumLabel(nd.GetSpec().GetAvailability(), "NODE_AVAILABILITY_"), enumLabel(nd.GetRole(), "NODE_ROLE_")}]++
			return true
		})
		_ = tx.Range(store.KindTask, store.All(), func(o store.Object) bool {
			n.tasks[enumLabel(o.(*shoalv1.Task).GetStatus().GetState(), "TASK_STATE_")]++
			return true
		})
		_ = tx.Range(store.KindService, store.All(), func(o store.Object) bool {
			mode := "replicated"
			if o.(*shoalv1.Service).GetSpec().GetGlobal() != nil {
				mode = "global"
			}
			n.services[mode]++
			return true
		})
		return nil
	})
	return n
}

type protoEnum interface {
	String() string
}

// enumLabel is an enum value as a label: NODE_STATE_READY -> "ready".
func enumLabel(v protoEnum, prefix string) string {
	return strings.ToLower(strings.TrimPrefix(v.String(), prefix))
}

// enumLabels are every value of an enum as labels, "unspecified" included
// (an object not yet reported on).
func enumLabels(d protoreflect.EnumDescriptor, prefix string) []string {
	vs := d.Values()
	out := make([]string, 0, vs.Len())
	for i := range vs.Len() {
		out = append(out, strings.ToLower(strings.TrimPrefix(string(vs.Get(i).Name()), prefix)))
	}
	return out
}
