package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"connectrpc.com/connect"

	"github.com/shoal-project/shoal/core/ca"
	"github.com/shoal-project/shoal/core/manager"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
)

// roleCheckInterval is how often a node asks whether its role changed
// (promote/demote). Swarm mode learns it from the dispatcher session; a
// poll keeps the node package independent of the agent.
const roleCheckInterval = 2 * time.Second

// watchRole follows promotions and demotions (it renews the certificate for
// the desired role and starts or stops the manager) and renews the
// certificate before it expires.
func (n *Node) watchRole(ctx context.Context) {
	t := time.NewTicker(roleCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := n.checkRole(ctx); err != nil && ctx.Err() == nil {
			n.log.Debug("role check", "err", err)
			continue
		}
		if err := n.renewIfDue(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn("certificate renewal failed; retrying", "err", err)
		}
	}
}

func (n *Node) caClient(addr string) shoalv1connect.CAServiceClient {
	n.mu.Lock()
	conf := ca.ClientTLSConfigFromHolder(n.trust, n.certs, "")
	n.mu.Unlock()
	return caServiceClient(conf, addr)
}

func (n *Node) managerAddrs() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mgr != nil {
		return []string{n.st.AdvertiseAddr}
	}
	return append([]string(nil), n.st.Managers...)
}

// caAddrs lists the managers to ask for this node's role and certificates:
// the other managers it knows, with its own manager first while that one
// knows a leader. A manager cut off from the group (say, demoted while it
// was away, so that it never applied its own removal) answers from a store
// that stopped moving; asking the others lets it learn its new role anyway.
func (n *Node) caAddrs() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	own := n.st.AdvertiseAddr
	var out []string
	ownFirst := false
	if n.mgr != nil && n.mgr.Raft() != nil {
		if lead, _ := n.mgr.Raft().Leader(); lead != 0 {
			ownFirst = true
			out = append(out, own)
		}
	}
	for _, a := range n.st.Managers {
		if a != own && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	if n.mgr != nil && !ownFirst {
		out = append(out, own) // last resort
	}
	return out
}

func (n *Node) checkRole(ctx context.Context) error {
	var lastErr error
	for _, addr := range n.caAddrs() {
		ctx1, cancel := context.WithTimeout(ctx, 5*time.Second)
		res, err := n.caClient(addr).NodeCertificateStatus(ctx1, connect.NewRequest(&shoalv1.NodeCertificateStatusRequest{NodeId: n.st.NodeID}))
		cancel()
		if err != nil {
			lastErr = err
			continue
		}
		desired := ca.RoleWorker
		if res.Msg.GetRole() == shoalv1.NodeRole_NODE_ROLE_MANAGER {
			desired = ca.RoleManager
		}
		n.mu.Lock()
		current := n.tlsM.Identity.Role
		n.mu.Unlock()
		if desired == current {
			return n.followRoots(ctx, addr, res.Msg)
		}
		return n.changeRole(ctx, addr, desired)
	}
	return lastErr
}

// changeRole renews the certificate for role and restarts the node's parts.
func (n *Node) changeRole(ctx context.Context, addr string, role ca.Role) error {
	if role == ca.RoleManager && n.st.AdvertiseAddr == "" {
		return fmt.Errorf("promoted to manager, but this node has no advertise address: restart it with --listen-addr and --advertise-addr")
	}
	tlsM, err := n.issueCert(ctx, addr)
	if err != nil {
		return err
	}
	if tlsM.Identity.Role != role {
		return fmt.Errorf("renewed certificate carries role %s, want %s", tlsM.Identity.Role, role)
	}
	return n.applyRole(addr, tlsM)
}

// applyRole switches the node to the role of its new certificate tlsM
// (issued through the manager at addr): it starts or stops the manager and
// restarts the agent.
func (n *Node) applyRole(addr string, tlsM ca.NodeTLS) error {
	role := tlsM.Identity.Role
	n.log.Info("role changed", "role", role)
	managers := n.managerAddrs() // before the switch: the ones a new manager joins through
	n.adoptCert(tlsM)
	switch role {
	case ca.RoleManager:
		_ = os.RemoveAll(manager.RaftDir(n.cfg.DataDir))
		n.dataKey = nil
		m, err := manager.New(n.managerConfig(tlsM, nil, &manager.JoinTarget{Addr: managers[0]}))
		if err != nil {
			return err
		}
		if err := m.Start(n.ctx); err != nil {
			return err
		}
		n.mu.Lock()
		n.mgr = m
		n.st.Role = string(ca.RoleManager)
		n.info.Role = n.st.Role
		n.mu.Unlock()
		go n.watchRemoved(m)
	default:
		n.mu.Lock()
		m := n.mgr
		n.mgr = nil
		n.st.Role = string(ca.RoleWorker)
		n.info.Role = n.st.Role
		if n.st.AdvertiseAddr != "" && len(n.st.Managers) == 0 {
			n.st.Managers = []string{addr}
		}
		n.mu.Unlock()
		if m != nil {
			m.Stop()
		}
		_ = os.RemoveAll(manager.RaftDir(n.cfg.DataDir))
	}
	n.mu.Lock()
	err := n.st.save(n.cfg.DataDir)
	n.mu.Unlock()
	if aerr := n.restartAgent(); aerr != nil {
		n.log.Error("restart the agent after the role change", "err", aerr)
	}
	return err
}

// watchRemoved notices when the manager was taken out of the Raft group,
// and stops the node with ErrManagerFailed when the manager's Raft node
// stopped on an error (its disk full or failing): a manager that cannot
// write its log serves nothing, so it fails and its supervisor restarts it.
func (n *Node) watchRemoved(m *manager.Manager) {
	select {
	case <-n.ctx.Done():
	case <-m.Removed():
		n.log.Info("this manager was removed from the raft group; waiting for the new role")
	case <-m.Raft().Done():
		if err := m.Raft().Err(); err != nil && n.ctx.Err() == nil {
			n.mu.Lock()
			n.err = fmt.Errorf("%w: %w; restart it with 'shoal run' once the cause is fixed", ErrManagerFailed, err)
			n.mu.Unlock()
			n.log.Error("the manager's raft node failed; stopping the node", "err", err)
			n.cancel()
		}
	}
}

// issueCert asks the manager at addr for a new certificate (for the role
// the cluster wants this node in) and stores it with its new key.
func (n *Node) issueCert(ctx context.Context, addr string) (ca.NodeTLS, error) {
	keyPEM, csr, err := ca.NewKeyAndCSR()
	if err != nil {
		return ca.NodeTLS{}, err
	}
	ctx1, cancel := context.WithTimeout(ctx, 10*time.Second)
	res, err := n.caClient(addr).NodeCertificateStatus(ctx1, connect.NewRequest(&shoalv1.NodeCertificateStatusRequest{NodeId: n.st.NodeID, Csr: csr}))
	cancel()
	if err != nil {
		return ca.NodeTLS{}, err
	}
	if len(res.Msg.GetCertificate()) == 0 {
		return ca.NodeTLS{}, errors.New("no certificate in the answer")
	}
	if err := ca.SaveNodeTLS(certDir(n.cfg.DataDir), res.Msg.GetCertificate(), keyPEM, n.trust.PEM()); err != nil {
		return ca.NodeTLS{}, err
	}
	return ca.LoadNodeTLS(certDir(n.cfg.DataDir))
}

// renewIfDue renews the node's certificate once its renewal time (50-80 %
// of its validity, see ca.RenewAt) has come; every TLS config of the node
// presents the new one from its next handshake. A certificate that comes
// back with another role (a promotion or demotion raced the renewal) is
// handled as a role change.
func (n *Node) renewIfDue(ctx context.Context) error {
	n.mu.Lock()
	due, current := n.renewAt, n.tlsM.Identity.Role
	n.mu.Unlock()
	if due.IsZero() || time.Now().Before(due) {
		return nil
	}
	var lastErr error
	for _, addr := range n.caAddrs() {
		tlsM, err := n.issueCert(ctx, addr)
		if err != nil {
			lastErr = err
			continue
		}
		if tlsM.Identity.Role != current {
			return n.applyRole(addr, tlsM)
		}
		n.adoptCert(tlsM)
		n.mu.Lock()
		next := n.renewAt
		n.mu.Unlock()
		n.log.Info("certificate renewed", "expires", tlsM.Certificate.Leaf.NotAfter.Format(time.RFC3339), "next_renewal", next.Format(time.RFC3339))
		return nil
	}
	return lastErr
}

// renewTime is when the certificate in tlsM is due for renewal (zero, and
// a warning, if that cannot be computed).
func renewTime(tlsM ca.NodeTLS, log *slog.Logger) time.Time {
	if tlsM.Certificate.Leaf == nil {
		log.Warn("certificate without a parsed leaf: no renewal scheduled")
		return time.Time{}
	}
	at, err := ca.RenewAt(tlsM.Certificate.Leaf, rand.Reader)
	if err != nil {
		log.Warn("no certificate renewal scheduled", "err", err)
		return time.Time{}
	}
	return at
}

// adoptCert makes tlsM the node's certificate: every TLS config presents it
// from its next handshake, and its renewal is scheduled.
func (n *Node) adoptCert(tlsM ca.NodeTLS) {
	n.certs.Set(tlsM.Certificate)
	n.mu.Lock()
	n.tlsM = tlsM
	n.renewAt = renewTime(tlsM, n.log)
	n.mu.Unlock()
}
