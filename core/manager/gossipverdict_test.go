package manager

import (
	"testing"

	"github.com/shoal-project/shoal/core/dispatcher"
	"github.com/shoal-project/shoal/core/store"
)

// A verdict heard while another dispatcher was current (a follower's, or
// the previous term's) reaches the dispatcher of the next leadership term;
// a node that came back is not replayed as dead.
func TestGossipVerdictsReachTheNextTermsDispatcher(t *testing.T) {
	st := store.NewLocal()
	newDisp := func() *dispatcher.Dispatcher {
		d, err := dispatcher.New(st, dispatcher.Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	ds := &dispatchers{follower: newDisp()}
	ds.cur.Store(ds.follower)
	ds.verdict("n1", true)
	ds.verdict("n2", true)
	ds.verdict("n2", false)
	if !ds.follower.GossipDead("n1") {
		t.Fatal("the current (follower) dispatcher did not get the verdict on n1")
	}
	term := newDisp()
	ds.start(term)
	if !term.GossipDead("n1") {
		t.Fatal("the new term's dispatcher does not hold n1 dead; the verdict came before the term")
	}
	if term.GossipDead("n2") {
		t.Fatal("the new term's dispatcher holds n2 dead; it came back before the term")
	}
	ds.verdict("n1", false)
	if term.GossipDead("n1") {
		t.Fatal("n1 came back but the current dispatcher still holds it dead")
	}
}
