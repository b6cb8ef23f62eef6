package store

import (
	"fmt"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Kind names a stored object type.
type Kind uint8

// The stored kinds.
const (
	KindCluster Kind = iota + 1
	KindNode
	KindService
	KindTask
	KindNetwork
	KindPlugin
	KindSecret
	KindConfig

	numKinds = int(KindConfig)
)

var kindNames = [...]string{"unknown", "cluster", "node", "service", "task", "network", "plugin", "secret", "config"}

// Kinds lists every stored kind in a fixed order.
func Kinds() []Kind {
	return []Kind{KindCluster, KindNode, KindService, KindTask, KindNetwork, KindPlugin, KindSecret, KindConfig}
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Valid reports whether k is one of the stored kinds.
func (k Kind) Valid() bool { return k >= KindCluster && k <= KindConfig }

// ParseKind is the inverse of Kind.String.
func ParseKind(s string) (Kind, bool) {
	for _, k := range Kinds() {
		if k.String() == s {
			return k, true
		}
	}
	return 0, false
}

// Object is any stored message: *shoalv1.Cluster, *shoalv1.Node,
// *shoalv1.Service, *shoalv1.Task, *shoalv1.Network, *shoalv1.PluginModule,
// *shoalv1.Secret or *shoalv1.Config.
type Object interface {
	proto.Message
	GetId() string
	GetMeta() *shoalv1.Meta
}

// KindOf returns the kind of o, or 0 when o is not a stored type (or a nil pointer).
func KindOf(o Object) Kind {
	switch v := o.(type) {
	case *shoalv1.Cluster:
		if v != nil {
			return KindCluster
		}
	case *shoalv1.Node:
		if v != nil {
			return KindNode
		}
	case *shoalv1.Service:
		if v != nil {
			return KindService
		}
	case *shoalv1.Task:
		if v != nil {
			return KindTask
		}
	case *shoalv1.Network:
		if v != nil {
			return KindNetwork
		}
	case *shoalv1.PluginModule:
		if v != nil {
			return KindPlugin
		}
	case *shoalv1.Secret:
		if v != nil {
			return KindSecret
		}
	case *shoalv1.Config:
		if v != nil {
			return KindConfig
		}
	}
	return 0
}

// cloneObject deep-copies o.
func cloneObject(o Object) Object {
	if o == nil {
		return nil
	}
	return proto.Clone(o).(Object)
}

// setMeta replaces o's meta. o must be a valid stored type.
func setMeta(o Object, m *shoalv1.Meta) {
	switch v := o.(type) {
	case *shoalv1.Cluster:
		v.Meta = m
	case *shoalv1.Node:
		v.Meta = m
	case *shoalv1.Service:
		v.Meta = m
	case *shoalv1.Task:
		v.Meta = m
	case *shoalv1.Network:
		v.Meta = m
	case *shoalv1.PluginModule:
		v.Meta = m
	case *shoalv1.Secret:
		v.Meta = m
	case *shoalv1.Config:
		v.Meta = m
	}
}

// newEmpty returns an empty object of kind k carrying only id and meta (used for removals).
func newEmpty(k Kind, id string, m *shoalv1.Meta) Object {
	switch k {
	case KindCluster:
		return &shoalv1.Cluster{Id: id, Meta: m}
	case KindNode:
		return &shoalv1.Node{Id: id, Meta: m}
	case KindService:
		return &shoalv1.Service{Id: id, Meta: m}
	case KindTask:
		return &shoalv1.Task{Id: id, Meta: m}
	case KindNetwork:
		return &shoalv1.Network{Id: id, Meta: m}
	case KindPlugin:
		return &shoalv1.PluginModule{Id: id, Meta: m}
	case KindSecret:
		return &shoalv1.Secret{Id: id, Meta: m}
	case KindConfig:
		return &shoalv1.Config{Id: id, Meta: m}
	}
	return nil
}

// Wrap puts o, a stored type, into a StoreObject (nil for any other).
func Wrap(o Object) *shoalv1.StoreObject { return wrap(o) }

// wrap puts o into a StoreObject.
func wrap(o Object) *shoalv1.StoreObject {
	switch v := o.(type) {
	case *shoalv1.Cluster:
		return &shoalv1.StoreObject{Object: &shoalv1.StoreObject_Cluster{Cluster: v}}
	case *shoalv1.Node:
		return &shoalv1.StoreObject{Object: &shoalv1.StoreObject_Node{Node: v}}
	case *shoalv1.Service:
		return &shoalv1.StoreObject{Object: &shoalv1.StoreObject_Service{Service: v}}
	case *shoalv1.Task:
		return &shoalv1.StoreObject{Object: &shoalv1.StoreObject_Task{Task: v}}
	case *shoalv1.Network:
		return &shoalv1.StoreObject{Object: &shoalv1.StoreObject_Network{Network: v}}
	case *shoalv1.PluginModule:
		return &shoalv1.StoreObject{Object: &shoalv1.StoreObject_Plugin{Plugin: v}}
	case *shoalv1.Secret:
		return &shoalv1.StoreObject{Object: &shoalv1.StoreObject_Secret{Secret: v}}
	case *shoalv1.Config:
		return &shoalv1.StoreObject{Object: &shoalv1.StoreObject_Config{Config: v}}
	}
	return nil
}

// unwrap takes the object out of a StoreObject, validating it.
func unwrap(so *shoalv1.StoreObject) (Object, Kind, error) {
	var o Object
	switch v := so.GetObject().(type) {
	case *shoalv1.StoreObject_Cluster:
		o = v.Cluster
	case *shoalv1.StoreObject_Node:
		o = v.Node
	case *shoalv1.StoreObject_Service:
		o = v.Service
	case *shoalv1.StoreObject_Task:
		o = v.Task
	case *shoalv1.StoreObject_Network:
		o = v.Network
	case *shoalv1.StoreObject_Plugin:
		o = v.Plugin
	case *shoalv1.StoreObject_Secret:
		o = v.Secret
	case *shoalv1.StoreObject_Config:
		o = v.Config
	default:
		return nil, 0, fmt.Errorf("%w: store object without a value", ErrInvalidObject)
	}
	k := KindOf(o)
	if k == 0 {
		return nil, 0, fmt.Errorf("%w: empty %T", ErrInvalidObject, o)
	}
	if o.GetId() == "" {
		return nil, 0, fmt.Errorf("%w: %s without id", ErrInvalidObject, k)
	}
	return o, k, nil
}

// checkObject validates an object handed to a Tx.
func checkObject(o Object) (Kind, error) {
	if o == nil {
		return 0, fmt.Errorf("%w: nil", ErrInvalidObject)
	}
	k := KindOf(o)
	if k == 0 {
		return 0, fmt.Errorf("%w: unsupported type %T", ErrInvalidObject, o)
	}
	if o.GetId() == "" {
		return 0, fmt.Errorf("%w: %s without id", ErrInvalidObject, k)
	}
	return k, nil
}

// ShallowCopy returns a new object with o's fields: the scalars copied,
// the sub-messages, lists and maps shared with o. It is the cheap way to
// change a stored object (reads are shared): set fields of the copy, and
// replace a sub-message, list or map with a new one (proto.CloneOf it
// first) instead of changing it in place, which would change o. The
// mutation check (WithMutationCheck) catches a slip in tests.
func ShallowCopy[T Object](o T) T {
	if t, ok := any(o).(*shoalv1.Task); ok && t != nil && fastTaskCopy {
		return any(copyTask(t)).(T)
	}
	src := o.ProtoReflect()
	if !src.IsValid() {
		return o
	}
	dst := src.New()
	src.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		dst.Set(fd, v)
		return true
	})
	if u := src.GetUnknown(); len(u) > 0 {
		dst.SetUnknown(u)
	}
	return dst.Interface().(T)
}

// taskFields is how many fields copyTask copies. Should Task gain a field,
// fastTaskCopy turns false and ShallowCopy takes the reflective path until
// copyTask learns it (TestShallowCopyOfATaskCopiesEveryField fails first).
const taskFields = 15

var fastTaskCopy = (&shoalv1.Task{}).ProtoReflect().Descriptor().Fields().Len() == taskFields

// copyTask is ShallowCopy for the object a scheduling pass copies 100,000
// times: plain field copies, no reflection.
func copyTask(t *shoalv1.Task) *shoalv1.Task {
	c := &shoalv1.Task{
		Id: t.Id, Meta: t.Meta, ServiceId: t.ServiceId, ServiceName: t.ServiceName, Slot: t.Slot,
		NodeId: t.NodeId, Spec: t.Spec, SpecVersion: t.SpecVersion, DesiredState: t.DesiredState,
		Status: t.Status, Networks: t.Networks, Endpoint: t.Endpoint, Scheduler: t.Scheduler,
		RebalanceTarget: t.RebalanceTarget, RebalanceFrom: t.RebalanceFrom,
	}
	if u := t.ProtoReflect().GetUnknown(); len(u) > 0 {
		c.ProtoReflect().SetUnknown(u)
	}
	return c
}
