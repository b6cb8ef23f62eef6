package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-project/shoal/core/auth"
	"github.com/shoal-project/shoal/core/ca"
	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
	"github.com/shoal-project/shoal/internal/ids"
)

// CAServer answers CAService calls.
type CAServer struct {
	shoalv1connect.UnimplementedCAServiceHandler
	s *Server
}

// CA returns the CAService handler sharing s's store.
func (s *Server) CA() *CAServer { return &CAServer{s: s} }

// caState is the cluster's CA as a certificate is issued from it.
type caState struct {
	cluster *shoalv1.Cluster
	// root is the cluster's root: join tokens pin it.
	root *ca.RootCA
	// signer issues certificates: root, or during a rotation the new root.
	signer *ca.RootCA
	// chain follows an issued certificate: during a rotation, the new root
	// cross-signed by the old one.
	chain []byte
	// bundle is what nodes trust: root, and the new root during a rotation.
	bundle []byte
}

func (c *CAServer) signingRoot(ctx context.Context) (*caState, error) {
	var cl *shoalv1.Cluster
	if err := c.s.read(ctx, func(tx store.ReadTx) (err error) { cl, err = clusterObj(tx); return err }); err != nil {
		return nil, storeErr(err)
	}
	root, err := ca.ParseRootCA(cl.GetRootCa().GetCaCertPem(), cl.GetRootCa().GetCaKeyPem())
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	st := &caState{cluster: cl, root: root, signer: root, bundle: root.CertPEM}
	if rot := cl.GetRootRotation(); rot != nil {
		if st.signer, err = ca.ParseRootCA(rot.GetCaCertPem(), rot.GetCaKeyPem()); err != nil {
			return nil, connect.NewError(connect.CodeInternal, fmt.Errorf("root rotation: %w", err))
		}
		st.chain = rot.GetCrossSignedPem()
		st.bundle = ca.RootBundle(root, st.signer)
	}
	return st, nil
}

// issue signs csr for nodeID with the current signer, the chain appended.
func (st *caState) issue(csr []byte, nodeID string, role ca.Role, sans []string) ([]byte, error) {
	certPEM, err := st.signer.IssueNodeCert(csr, nodeID, st.cluster.GetId(), role, certNotAfter(st.cluster), ca.WithSANs(sans...))
	if err != nil {
		return nil, invalidArg("csr: %v", err)
	}
	return append(certPEM, st.chain...), nil
}

func (c *CAServer) GetRootCACertificate(ctx context.Context, _ *connect.Request[shoalv1.GetRootCACertificateRequest]) (*connect.Response[shoalv1.GetRootCACertificateResponse], error) {
	var cl *shoalv1.Cluster
	// The root never changes (until rotation), so a local read is enough.
	if err := c.s.store.View(func(tx store.ReadTx) (err error) { cl, err = clusterObj(tx); return err }); err != nil {
		return nil, storeErr(err)
	}
	return connect.NewResponse(&shoalv1.GetRootCACertificateResponse{Certificate: cl.GetRootCa().GetCaCertPem()}), nil
}

func roleProto(r ca.Role) shoalv1.NodeRole {
	if r == ca.RoleManager {
		return shoalv1.NodeRole_NODE_ROLE_MANAGER
	}
	return shoalv1.NodeRole_NODE_ROLE_WORKER
}

func (c *CAServer) IssueNodeCertificate(ctx context.Context, req *connect.Request[shoalv1.IssueNodeCertificateRequest]) (*connect.Response[shoalv1.IssueNodeCertificateResponse], error) {
	m := req.Msg
	if _, err := ca.ParseJoinToken(m.GetToken()); err != nil {
		return nil, invalidArg("token: %v", err)
	}
	if len(m.GetCsr()) == 0 {
		return nil, invalidArg("csr: required")
	}
	spec, err := joinSpec(m)
	if err != nil {
		return nil, err
	}
	st, err := c.signingRoot(ctx)
	if err != nil {
		return nil, err
	}
	cl := st.cluster
	role, err := ca.RoleForToken(m.GetToken(), st.root, ca.JoinTokens{Worker: cl.GetJoinTokens().GetWorker(), Manager: cl.GetJoinTokens().GetManager()})
	if err != nil {
		return nil, connect.NewError(connect.CodePermissionDenied, err)
	}
	nodeID := ids.New()
	sans := []string{}
	if h := m.GetHostname(); h != "" {
		sans = append(sans, h)
	}
	if a := m.GetAdvertiseAddr(); a != "" {
		if h, _, err := net.SplitHostPort(a); err == nil {
			sans = append(sans, h)
		}
	}
	certPEM, err := st.issue(m.GetCsr(), nodeID, role, sans)
	if err != nil {
		return nil, err
	}
	desc := m.GetDescription()
	if desc == nil {
		desc = &shoalv1.NodeDescription{}
	}
	if desc.Hostname == "" {
		desc.Hostname = m.GetHostname()
	}
	spec.DesiredRole = roleProto(role)
	node := &shoalv1.Node{
		Id:          nodeID,
		Spec:        spec,
		Description: desc,
		Status:      &shoalv1.NodeStatus{State: shoalv1.NodeState_NODE_STATE_UNKNOWN, Addr: m.GetAdvertiseAddr(), Message: "joined; waiting for its agent"},
		Role:        roleProto(role),

		CertIssuerDigest: st.signer.Digest(),
	}
	if err := c.s.store.Update(ctx, func(tx store.Tx) error { return tx.Create(node) }); err != nil {
		return nil, storeErr(err)
	}
	c.s.log.Info("node joined", "node", nodeID, "role", role, "hostname", desc.Hostname)
	return connect.NewResponse(&shoalv1.IssueNodeCertificateResponse{
		NodeId: nodeID, ClusterId: cl.GetId(), Role: roleProto(role), Certificate: certPEM, RootCertificate: st.bundle,
	}), nil
}

// joinSpec is the new node's spec from the joiner's availability and labels.
func joinSpec(m *shoalv1.IssueNodeCertificateRequest) (*shoalv1.NodeSpec, error) {
	av := m.GetAvailability()
	if av == shoalv1.NodeAvailability_NODE_AVAILABILITY_UNSPECIFIED {
		av = shoalv1.NodeAvailability_NODE_AVAILABILITY_ACTIVE
	}
	if _, ok := shoalv1.NodeAvailability_name[int32(av)]; !ok {
		return nil, invalidArg("availability %d: use ACTIVE, PAUSE or DRAIN", av)
	}
	if err := validateLabels("labels", m.GetLabels()); err != nil {
		return nil, err
	}
	return &shoalv1.NodeSpec{Availability: av, Labels: m.GetLabels()}, nil
}

func (c *CAServer) NodeCertificateStatus(ctx context.Context, req *connect.Request[shoalv1.NodeCertificateStatusRequest]) (*connect.Response[shoalv1.NodeCertificateStatusResponse], error) {
	id, ok := auth.FromContext(ctx)
	if !ok {
		return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("a node certificate is required"))
	}
	nodeID := req.Msg.GetNodeId()
	if nodeID == "" {
		nodeID = id.NodeID
	}
	if len(req.Msg.GetCsr()) > 0 && nodeID != id.NodeID {
		return nil, connect.NewError(connect.CodePermissionDenied, errors.New("node_id: a node may only renew its own certificate"))
	}
	st, err := c.signingRoot(ctx)
	if err != nil {
		return nil, err
	}
	var n *shoalv1.Node
	if err := c.s.store.View(func(tx store.ReadTx) error { n = tx.GetNode(nodeID); return nil }); err != nil {
		return nil, storeErr(err)
	}
	if n == nil {
		return nil, notFound("node_id %q: no such node (it may have been removed)", nodeID)
	}
	desired := n.GetSpec().GetDesiredRole()
	res := &shoalv1.NodeCertificateStatusResponse{Role: desired, RootBundle: st.bundle, SigningRoot: st.signer.CertPEM}
	if len(req.Msg.GetCsr()) == 0 {
		return connect.NewResponse(res), nil
	}
	role := ca.RoleWorker
	if desired == shoalv1.NodeRole_NODE_ROLE_MANAGER {
		role = ca.RoleManager
	}
	sans := []string{n.GetDescription().GetHostname()}
	if h, _, err := net.SplitHostPort(n.GetStatus().GetAddr()); err == nil {
		sans = append(sans, h)
	}
	certPEM, err := st.issue(req.Msg.GetCsr(), nodeID, role, sans)
	if err != nil {
		return nil, err
	}
	err = c.s.store.Update(ctx, func(tx store.Tx) error {
		n := tx.GetNode(nodeID)
		if n == nil {
			return notFound("node %s was removed", nodeID)
		}
		if n.Role == desired && n.CertIssuerDigest == st.signer.Digest() {
			return nil
		}
		n = proto.CloneOf(n) // reads are shared: change a copy
		n.Role, n.CertIssuerDigest = desired, st.signer.Digest()
		return tx.Update(n)
	})
	if err != nil {
		return nil, storeErr(err)
	}
	res.Certificate = certPEM
	return connect.NewResponse(res), nil
}

// certNotAfter is when a node certificate issued now expires: after the
// cluster's spec.node_cert_expiry (zero: the CA's default).
func certNotAfter(cl *shoalv1.Cluster) time.Time {
	if d := cl.GetSpec().GetNodeCertExpiry().AsDuration(); d > 0 {
		return time.Now().Add(d)
	}
	return time.Time{}
}
