package store_test

import (
	"context"
	"fmt"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"google.golang.org/protobuf/proto"
)

func Example() {
	ctx := context.Background()
	s := store.NewLocal() // store.New(raftNode) in a manager
	defer s.Close()

	events, cancel := s.Watch(store.ForKind(store.KindTask))
	defer cancel()

	_ = s.Update(ctx, func(tx store.Tx) error {
		if err := tx.Create(&shoalv1.Service{Id: "svc1", Spec: &shoalv1.ServiceSpec{Name: "web"}}); err != nil {
			return err
		}
		return tx.Create(&shoalv1.Task{Id: "task1", ServiceId: "svc1", Slot: 1})
	})

	// Read-modify-write: reads are shared, so change a copy; the Tx checks
	// the version read.
	_ = s.Update(ctx, func(tx store.Tx) error {
		t := proto.CloneOf(tx.GetTask("task1"))
		t.NodeId = "node1"
		return tx.Update(t)
	})

	_ = s.View(func(tx store.ReadTx) error {
		tasks, err := tx.FindTasks(store.ByService("svc1"))
		for _, t := range tasks {
			fmt.Println(t.Id, t.NodeId, t.Meta.Version)
		}
		return err
	})

	for range 4 {
		fmt.Println(<-events)
	}
	// Output:
	// task1 node1 2
	// create task task1 @1
	// commit 1
	// update task task1 @2
	// commit 2
}
