package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-project/shoal/core/ca"
	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// A rotation waits for every node that is not DOWN, then makes the new root
// the cluster's and re-pins the join tokens; a second rotation meanwhile is
// refused, and a root of another cluster is refused with the field named.
func TestRootRotationFinishesWhenEveryLiveNodeMoved(t *testing.T) {
	s, st, _ := newTestServer(t)
	ctx := context.Background()
	if _, err := s.RotateJoinToken(ctx, connect.NewRequest(&shoalv1.RotateJoinTokenRequest{Role: shoalv1.NodeRole_NODE_ROLE_WORKER})); err != nil {
		t.Fatal(err)
	}
	res, err := s.RotateRootCA(ctx, connect.NewRequest(&shoalv1.RotateRootCARequest{}))
	if err != nil {
		t.Fatal(err)
	}
	rot := res.Msg.GetCluster().GetRootRotation()
	if rot.GetDigest() == "" || len(rot.GetCaKeyPem()) != 0 || len(rot.GetCrossSignedPem()) == 0 {
		t.Fatalf("rotation in the answer: digest %q, key %d bytes, cross-signed %d bytes", rot.GetDigest(), len(rot.GetCaKeyPem()), len(rot.GetCrossSignedPem()))
	}
	if _, err := s.RotateRootCA(ctx, connect.NewRequest(&shoalv1.RotateRootCARequest{})); codeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("second rotation: %v, want FailedPrecondition", err)
	}
	finish := func() (bool, error) {
		var done bool
		err := st.Update(ctx, func(tx store.Tx) (err error) { done, err = FinishRootRotation(tx); return err })
		return done, err
	}
	if done, err := finish(); done || !errors.Is(err, ErrRotationPending) {
		t.Fatalf("finish with w1 on the old root: done=%v err=%v", done, err)
	}
	setNode(t, st, "w1", func(n *shoalv1.Node) { n.CertIssuerDigest = rot.GetDigest() })
	if done, err := finish(); !done || err != nil {
		t.Fatalf("finish with every node moved: done=%v err=%v", done, err)
	}
	cl, _ := s.GetCluster(ctx, connect.NewRequest(&shoalv1.GetClusterRequest{}))
	if got := cl.Msg.GetCluster(); got.GetRootCa().GetDigest() != rot.GetDigest() || got.GetRootRotation() != nil {
		t.Fatalf("after the rotation: root %s, rotation %v", got.GetRootCa().GetDigest(), got.GetRootRotation())
	}
	toks, _ := s.GetJoinTokens(ctx, connect.NewRequest(&shoalv1.GetJoinTokensRequest{}))
	if tok, err := ca.ParseJoinToken(toks.Msg.GetTokens().GetWorker()); err != nil || tok.CADigest != rot.GetDigest() {
		t.Fatalf("worker token %q: %v, want digest %s", toks.Msg.GetTokens().GetWorker(), err, rot.GetDigest())
	}
}

func TestRootRotationSkipsDownNodesAndRefusesForeignRoots(t *testing.T) {
	s, st, _ := newTestServer(t)
	ctx := context.Background()
	other, err := ca.NewRootCA("c2", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.RotateRootCA(ctx, connect.NewRequest(&shoalv1.RotateRootCARequest{CaCertPem: other.CertPEM, CaKeyPem: other.KeyPEM}))
	if codeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("another cluster's root: %v, want InvalidArgument", err)
	}
	if _, err := s.RotateRootCA(ctx, connect.NewRequest(&shoalv1.RotateRootCARequest{CaCertPem: other.CertPEM})); codeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("a root without its key: %v, want InvalidArgument", err)
	}
	if _, err := s.RotateRootCA(ctx, connect.NewRequest(&shoalv1.RotateRootCARequest{})); err != nil {
		t.Fatal(err)
	}
	setNode(t, st, "w1", func(n *shoalv1.Node) { n.Status.State = shoalv1.NodeState_NODE_STATE_DOWN })
	var done bool
	if err := st.Update(ctx, func(tx store.Tx) (err error) { done, err = FinishRootRotation(tx); return err }); err != nil || !done {
		t.Fatalf("finish with the only node DOWN: done=%v err=%v", done, err)
	}
}

func setNode(t *testing.T, st *store.Store, id string, f func(*shoalv1.Node)) {
	t.Helper()
	err := st.Update(context.Background(), func(tx store.Tx) error {
		n := proto.CloneOf(tx.GetNode(id))
		f(n)
		return tx.Update(n)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Autolock on gives the cluster an unlock key, rotate replaces it, off
// drops it; none of it is in GetCluster's answer.
func TestUnlockKeyFollowsAutolock(t *testing.T) {
	s, _, _ := newTestServer(t)
	ctx := context.Background()
	setAutolock := func(on bool) {
		t.Helper()
		if _, err := s.UpdateCluster(ctx, connect.NewRequest(&shoalv1.UpdateClusterRequest{Spec: &shoalv1.ClusterSpec{Name: "default", AutolockManagers: on}})); err != nil {
			t.Fatal(err)
		}
	}
	getKey := func(rotate bool) (string, error) {
		res, err := s.GetUnlockKey(ctx, connect.NewRequest(&shoalv1.GetUnlockKeyRequest{Rotate: rotate}))
		if err != nil {
			return "", err
		}
		return res.Msg.GetUnlockKey(), nil
	}
	setAutolock(true)
	first, err := getKey(false)
	if err != nil || first == "" {
		t.Fatalf("key with autolock on: %q, %v", first, err)
	}
	setAutolock(true)
	if again, _ := getKey(false); again != first {
		t.Fatal("updating the cluster again changed the key")
	}
	s.rand = bytesReader(9)
	if rotated, err := getKey(true); err != nil || rotated == first || rotated == "" {
		t.Fatalf("rotate: %q, %v", rotated, err)
	}
	cl, _ := s.GetCluster(ctx, connect.NewRequest(&shoalv1.GetClusterRequest{}))
	if len(cl.Msg.GetCluster().GetUnlockKey()) != 0 {
		t.Fatal("GetCluster answers the unlock key")
	}
	setAutolock(false)
	if k, err := getKey(false); err != nil || k != "" {
		t.Fatalf("key with autolock off: %q, %v", k, err)
	}
	if _, err := getKey(true); codeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("rotate with autolock off: %v, want FailedPrecondition", err)
	}
}

func bytesReader(b byte) io.Reader { return bytes.NewReader(bytes.Repeat([]byte{b}, 64)) }
