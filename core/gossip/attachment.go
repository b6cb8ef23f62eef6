package gossip

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// ErrInvalidAttachment is wrapped by Publish when an attachment misses a
// field or carries a malformed one.
var ErrInvalidAttachment = errors.New("gossip: invalid attachment")

// Attachment is one task's address on one network, as the node running the
// task publishes it. (NetworkID, TaskID) is its key: publishing the same key
// again replaces it.
type Attachment struct {
	NetworkID string
	TaskID    string
	// Addr is the task's address with the network's prefix length
	// (10.0.1.5/24).
	Addr netip.Prefix
	// MAC is the task's interface address; empty when the data plane
	// derives it from Addr.
	MAC net.HardwareAddr
	// ServiceID, ServiceName and TaskName let every node's DNS and load
	// balancer find the task's service (tasks.NAME, VIP backends) and
	// answer the task's own name; empty for a task of no service.
	ServiceID   string
	ServiceName string
	TaskName    string
}

// Entry is an attachment as every node sees it: with the node that runs
// the task and that node's underlay (VXLAN endpoint) address.
type Entry struct {
	Attachment
	NodeID   string
	NodeAddr netip.Addr
}

// ChangeKind says whether a Change adds or removes an entry.
type ChangeKind int

// Change kinds. An attachment whose address changes is a Removed of the
// old entry followed by an Added of the new one.
const (
	Added ChangeKind = iota + 1
	Removed
)

func (k ChangeKind) String() string {
	switch k {
	case Added:
		return "added"
	case Removed:
		return "removed"
	}
	return fmt.Sprintf("ChangeKind(%d)", int(k))
}

// Change is one change of the table, as Watch delivers it.
type Change struct {
	Kind  ChangeKind
	Entry Entry
}

// key identifies an attachment within one node's records.
type key struct{ network, task string }

func (a Attachment) key() key { return key{a.NetworkID, a.TaskID} }

func (a Attachment) equal(b Attachment) bool {
	return a.key() == b.key() && a.Addr == b.Addr && bytes.Equal(a.MAC, b.MAC) &&
		a.ServiceID == b.ServiceID && a.ServiceName == b.ServiceName && a.TaskName == b.TaskName
}

// validate names the first bad field and how to fix it.
func (a Attachment) validate() error {
	switch {
	case a.NetworkID == "":
		return fmt.Errorf("%w: NetworkID is empty: set the network's ID", ErrInvalidAttachment)
	case a.TaskID == "":
		return fmt.Errorf("%w: TaskID is empty: set the task's ID", ErrInvalidAttachment)
	case !a.Addr.IsValid():
		return fmt.Errorf("%w: Addr of task %s is not set: give the allocated address with its prefix length (10.0.1.5/24)", ErrInvalidAttachment, a.TaskID)
	case len(a.MAC) != 0 && len(a.MAC) != 6:
		return fmt.Errorf("%w: MAC %q of task %s has %d bytes: give a 6-byte Ethernet address or none", ErrInvalidAttachment, a.MAC, a.TaskID, len(a.MAC))
	}
	return nil
}
