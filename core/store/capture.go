package store

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// CaptureSnapshot takes the objects Snapshot would marshal, under the lock
// and without copying them (stored objects are immutable), and returns a
// function that marshals them, byte for byte as Snapshot would have at
// this moment, on any goroutine: core/raft writes its snapshots off its
// own goroutine with it (raft.SnapshotCapturer).
func (s *Store) CaptureSnapshot() func() ([]byte, error) {
	objs, _ := s.allObjects()
	return func() ([]byte, error) { return marshalObjects(&objs) }
}

// allObjects returns every stored object by kind, unsorted, and the applied
// index they reflect, read under the lock without copying (stored objects
// are immutable).
func (s *Store) allObjects() (objs [numKinds + 1][]Object, index uint64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, k := range Kinds() {
		objs[k], _ = s.st.find(k, All())
	}
	return objs, s.index
}

// marshalObjects marshals objs, by kind, as a StoreSnapshot (sorted by ID,
// deterministic encoding).
func marshalObjects(objs *[numKinds + 1][]Object) ([]byte, error) {
	snap := &shoalv1.StoreSnapshot{}
	for _, k := range Kinds() {
		sortByID(objs[k])
		for _, o := range objs[k] {
			switch v := o.(type) {
			case *shoalv1.Cluster:
				snap.Clusters = append(snap.Clusters, v)
			case *shoalv1.Node:
				snap.Nodes = append(snap.Nodes, v)
			case *shoalv1.Service:
				snap.Services = append(snap.Services, v)
			case *shoalv1.Task:
				snap.Tasks = append(snap.Tasks, v)
			case *shoalv1.Network:
				snap.Networks = append(snap.Networks, v)
			case *shoalv1.PluginModule:
				snap.Plugins = append(snap.Plugins, v)
			case *shoalv1.Secret:
				snap.Secrets = append(snap.Secrets, v)
			case *shoalv1.Config:
				snap.Configs = append(snap.Configs, v)
			}
		}
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(snap)
	if err != nil {
		return nil, fmt.Errorf("store: marshal snapshot: %w", err)
	}
	return data, nil
}
