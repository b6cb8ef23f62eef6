package store

import (
	"context"
	"testing"
	"time"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// A long Batch must let other writers in between its proposals.
func TestBatchReleasesLockBetweenProposals(t *testing.T) {
	s := NewLocal(WithMaxChangesPerProposal(1))
	ctx := context.Background()
	flushed := make(chan struct{})
	resume := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Batch(ctx, func(b *Batch) error {
			if err := b.Update(func(tx Tx) error { return tx.Create(&shoalv1.Network{Id: "a", Spec: &shoalv1.NetworkSpec{Name: "a"}}) }); err != nil {
				return err
			}
			close(flushed) // one change per proposal: "a" is proposed and applied
			<-resume
			return b.Update(func(tx Tx) error { return tx.Create(&shoalv1.Network{Id: "b", Spec: &shoalv1.NetworkSpec{Name: "b"}}) })
		})
	}()
	<-flushed
	wrote := make(chan error, 1)
	go func() {
		wrote <- s.Update(ctx, func(tx Tx) error { return tx.Create(&shoalv1.Network{Id: "c", Spec: &shoalv1.NetworkSpec{Name: "c"}}) })
	}()
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("an Update waited for the whole Batch")
	}
	close(resume)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_ = s.View(func(tx ReadTx) error {
		for _, id := range []string{"a", "b", "c"} {
			if tx.GetNetwork(id) == nil {
				t.Errorf("network %s missing", id)
			}
		}
		return nil
	})
}
