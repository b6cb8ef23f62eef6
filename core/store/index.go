package store

import (
	"strconv"
	"strings"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// Index names (used by By selectors).
const (
	idxService      = "service"
	idxNode         = "node"
	idxDesiredState = "desired-state"
	idxTaskState    = "task-state"
	idxSlot         = "slot"
	idxRole         = "role"
	idxAvailability = "availability"
	idxHostname     = "hostname"
	idxName         = "name"
)

// indexDef describes one secondary index of a kind. key returns the object's
// key; ok=false means the object is not in the index.
type indexDef struct {
	name   string
	unique bool
	key    func(Object) (key string, ok bool)
	// same, when set, reports that two objects of the kind have the same
	// key without building it (the slot key allocates): a replacement
	// that keeps the key then costs no allocation.
	same func(a, b Object) bool
}

func enumKey(v int32) string { return strconv.FormatInt(int64(v), 10) }

func slotKey(serviceID string, slot uint64) string {
	return serviceID + "\x00" + strconv.FormatUint(slot, 10)
}

func nameKey(name string) (string, bool) {
	if name == "" {
		return "", false
	}
	return strings.ToLower(name), true
}

// indexDefs lists the secondary indexes per kind.
var indexDefs = [numKinds + 1][]indexDef{
	KindCluster: {
		{name: idxName, unique: true, key: func(o Object) (string, bool) {
			return nameKey(o.(*shoalv1.Cluster).GetSpec().GetName())
		}},
	},
	KindNode: {
		{name: idxRole, key: func(o Object) (string, bool) {
			return enumKey(int32(o.(*shoalv1.Node).GetRole())), true
		}},
		{name: idxAvailability, key: func(o Object) (string, bool) {
			return enumKey(int32(o.(*shoalv1.Node).GetSpec().GetAvailability())), true
		}},
		{name: idxHostname, key: func(o Object) (string, bool) {
			return nameKey(o.(*shoalv1.Node).GetDescription().GetHostname())
		}},
	},
	KindService: {
		{name: idxName, unique: true, key: func(o Object) (string, bool) {
			return nameKey(o.(*shoalv1.Service).GetSpec().GetName())
		}},
	},
	KindTask: {
		{name: idxService, key: func(o Object) (string, bool) {
			return o.(*shoalv1.Task).GetServiceId(), true
		}},
		{name: idxNode, key: func(o Object) (string, bool) {
			return o.(*shoalv1.Task).GetNodeId(), true
		}},
		{name: idxDesiredState, key: func(o Object) (string, bool) {
			return enumKey(int32(o.(*shoalv1.Task).GetDesiredState())), true
		}},
		{name: idxTaskState, key: func(o Object) (string, bool) {
			return enumKey(int32(o.(*shoalv1.Task).GetStatus().GetState())), true
		}},
		{name: idxSlot, key: func(o Object) (string, bool) {
			t := o.(*shoalv1.Task)
			return slotKey(t.GetServiceId(), t.GetSlot()), true
		}, same: func(a, b Object) bool {
			ta, tb := a.(*shoalv1.Task), b.(*shoalv1.Task)
			return ta.GetServiceId() == tb.GetServiceId() && ta.GetSlot() == tb.GetSlot()
		}},
	},
	KindNetwork: {
		{name: idxName, unique: true, key: func(o Object) (string, bool) {
			return nameKey(o.(*shoalv1.Network).GetSpec().GetName())
		}},
	},
	KindPlugin: {
		{name: idxName, key: func(o Object) (string, bool) {
			return nameKey(o.(*shoalv1.PluginModule).GetName())
		}},
	},
	KindSecret: {
		{name: idxName, unique: true, key: func(o Object) (string, bool) {
			return nameKey(o.(*shoalv1.Secret).GetSpec().GetName())
		}},
	},
	KindConfig: {
		{name: idxName, unique: true, key: func(o Object) (string, bool) {
			return nameKey(o.(*shoalv1.Config).GetSpec().GetName())
		}},
	},
}

// indexPos returns the position of the named index of kind k, or -1.
// Nodes accept "name" as an alias of "hostname".
func indexPos(k Kind, name string) int {
	if k == KindNode && name == idxName {
		name = idxHostname
	}
	for i := range indexDefs[k] {
		if indexDefs[k][i].name == name {
			return i
		}
	}
	return -1
}

// By selects objects in Find, Range and Count. Build one with the By*
// functions or All.
type By interface{ isBy() }

type byAll struct{}

type byIDPrefix struct{ prefix string }

type byIndex struct {
	index string
	key   string
}

func (byAll) isBy()      {}
func (byIDPrefix) isBy() {}
func (byIndex) isBy()    {}

// All selects every object of the kind.
func All() By { return byAll{} }

// ByIDPrefix selects objects whose ID starts with prefix (every kind).
func ByIDPrefix(prefix string) By { return byIDPrefix{prefix: prefix} }

// ByService selects tasks of the service.
func ByService(serviceID string) By { return byIndex{idxService, serviceID} }

// ByNode selects tasks assigned to the node ("" selects unassigned tasks).
func ByNode(nodeID string) By { return byIndex{idxNode, nodeID} }

// ByDesiredState selects tasks by desired state.
func ByDesiredState(s shoalv1.TaskState) By { return byIndex{idxDesiredState, enumKey(int32(s))} }

// ByTaskState selects tasks by observed state (Status.State).
func ByTaskState(s shoalv1.TaskState) By { return byIndex{idxTaskState, enumKey(int32(s))} }

// BySlot selects the tasks of one slot of a service (all its history).
func BySlot(serviceID string, slot uint64) By { return byIndex{idxSlot, slotKey(serviceID, slot)} }

// ByRole selects nodes by their current role (Node.Role).
func ByRole(r shoalv1.NodeRole) By { return byIndex{idxRole, enumKey(int32(r))} }

// ByAvailability selects nodes by Spec.Availability.
func ByAvailability(a shoalv1.NodeAvailability) By {
	return byIndex{idxAvailability, enumKey(int32(a))}
}

// ByHostname selects nodes by Description.Hostname (case-insensitive).
func ByHostname(h string) By { return byIndex{idxHostname, strings.ToLower(h)} }

// ByName selects by name, case-insensitively: services, networks, secrets,
// configs and clusters by Spec.Name (unique), plugins by Name, nodes by hostname.
func ByName(name string) By { return byIndex{idxName, strings.ToLower(name)} }

// matches reports whether o (of kind k) is selected by by.
func matches(k Kind, by By, o Object) (bool, error) {
	switch b := by.(type) {
	case byAll:
		return true, nil
	case byIDPrefix:
		return strings.HasPrefix(o.GetId(), b.prefix), nil
	case byIndex:
		p := indexPos(k, b.index)
		if p < 0 {
			return false, invalidBy(k, by)
		}
		key, ok := indexDefs[k][p].key(o)
		return ok && key == b.key, nil
	}
	return false, invalidBy(k, by)
}
