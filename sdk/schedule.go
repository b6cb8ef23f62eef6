package sdk

// Availability is what an operator asked of a node.
type Availability uint32

const (
	// AvailabilityActive nodes take new tasks.
	AvailabilityActive Availability = 0
	// AvailabilityPause nodes keep their tasks but take no new ones.
	AvailabilityPause Availability = 1
	// AvailabilityDrain nodes take no tasks at all.
	AvailabilityDrain Availability = 2
)

var availabilityNames = [...]string{
	AvailabilityActive: "active",
	AvailabilityPause:  "pause",
	AvailabilityDrain:  "drain",
}

func (a Availability) String() string { return nameOf(availabilityNames[:], a) }

// Role is a node's role in the cluster.
type Role uint32

const (
	RoleWorker  Role = 0
	RoleManager Role = 1
)

var roleNames = [...]string{
	RoleWorker:  "worker",
	RoleManager: "manager",
}

func (r Role) String() string { return nameOf(roleNames[:], r) }

// Node is one row of the node table a scheduler sees.
type Node struct {
	ID           string
	Hostname     string
	Ready        bool
	Availability Availability
	Role         Role
	// Kinds lists the task kinds (runtime backends, e.g. "container",
	// "process") the node can run.
	Kinds            []string
	TotalNanoCPUs    int64
	FreeNanoCPUs     int64
	TotalMemoryBytes int64
	FreeMemoryBytes  int64
	Labels           map[string]string
	// TaskCount is the number of tasks currently assigned to the node.
	TaskCount uint32
	// ServiceTasks holds, sparsely, the number of tasks of each service
	// currently assigned to the node.
	ServiceTasks map[string]uint32
}

// TaskGroup is a batch of identical tasks: same service and spec version.
type TaskGroup struct {
	ServiceID   string
	SpecVersion uint64
	// Count is the number of tasks to place.
	Count uint32
	// TaskIDs optionally names the tasks; when set its length equals Count.
	TaskIDs []string
	// Kind is the task kind the node must support; empty means any.
	Kind string
	// Constraints are expressions like "node.labels.zone==a",
	// "node.role!=manager", "node.id==X", "node.hostname==h".
	Constraints []string
	// Reservations per task.
	NanoCPUs    int64
	MemoryBytes int64
	// MaxReplicasPerNode limits tasks of this service per node; 0 = no limit.
	MaxReplicasPerNode uint32
	// Preferences are spread preferences, outermost first, each a label
	// path such as "node.labels.zone".
	Preferences []string
}

// ScheduleRequest is one scheduling batch: the node table and the groups of
// tasks to place on it.
type ScheduleRequest struct {
	Nodes  []Node
	Groups []TaskGroup
}

// Unschedulable is the placement of a task that fits on no node.
const Unschedulable int32 = -1

// Reason says why tasks of a group were left unschedulable.
type Reason uint32

const (
	ReasonNone Reason = 0
	// ReasonNoSuitableNode: every node was filtered out; see Explanation.
	ReasonNoSuitableNode Reason = 1
	// ReasonInvalidConstraint: a constraint could not be parsed; see Detail.
	ReasonInvalidConstraint Reason = 2
	// ReasonInvalidGroup: the group itself is malformed (e.g. TaskIDs length
	// differs from Count); see Detail.
	ReasonInvalidGroup Reason = 3
	// ReasonPolicy: the policy declined for its own reason; see Detail.
	ReasonPolicy Reason = 4
)

var reasonNames = [...]string{
	ReasonNone:              "none",
	ReasonNoSuitableNode:    "no suitable node",
	ReasonInvalidConstraint: "invalid constraint",
	ReasonInvalidGroup:      "invalid task group",
	ReasonPolicy:            "declined by policy",
}

func (r Reason) String() string { return nameOf(reasonNames[:], r) }

// Explanation counts, for one group, the nodes rejected by each filter. A
// node is counted once, under the first filter it fails, in this order.
type Explanation struct {
	NotReady           uint32
	Drained            uint32
	Paused             uint32
	KindUnsupported    uint32
	ConstraintMismatch uint32
	LacksCPU           uint32
	LacksMemory        uint32
	MaxPerNode         uint32
}

// GroupResult is the answer for one TaskGroup.
type GroupResult struct {
	// Placements has one entry per task of the group: an index into
	// ScheduleRequest.Nodes, or Unschedulable.
	Placements []int32
	// Reason and Explanation are set when any placement is Unschedulable.
	Reason      Reason
	Explanation Explanation
	Detail      string
}

// ScheduleResponse answers a ScheduleRequest: one GroupResult per group, in
// order. Error is set instead when the policy failed as a whole.
type ScheduleResponse struct {
	Groups []GroupResult
	Error  string
	// Resync and Generation belong to node table deltas (ABI 1.1) and are
	// set by the sdk, not by policies: Resync asks the host for the whole
	// table (the guest lacks the delta's base); Generation is the
	// generation of the table the guest now holds.
	Resync     bool   `json:",omitempty"`
	Generation uint64 `json:",omitempty"`
	// TaskIDsUnused (ABI 1.2) is set by the sdk on every answer of a
	// guest registered with TaskIDsUnused: the host may leave task IDs out
	// of its later calls.
	TaskIDsUnused bool `json:",omitempty"`
}
