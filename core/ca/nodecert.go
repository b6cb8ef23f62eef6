package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"slices"
	"time"
)

// ManagerServerName is the DNS SAN every manager certificate carries. A
// client that must reach a manager (and not, say, a worker that took over an
// address) dials with this server name; see [ClientTLSConfig].
const ManagerServerName = "shoal-manager"

// ServerNameForRole returns the DNS SAN "shoal-<role>" that certificates of
// role carry.
func ServerNameForRole(role Role) string { return "shoal-" + string(role) }

// IssueOption adjusts [RootCA.IssueNodeCert].
type IssueOption func(*issueConfig)

type issueConfig struct {
	hosts []string
	now   time.Time
	rand  io.Reader
}

// WithSANs adds the node's advertise addresses and host names. Each entry
// that parses as an IP becomes an IP SAN, anything else a DNS SAN; a
// host:port is reduced to its host. 127.0.0.1, ::1 and localhost are always
// included.
func WithSANs(hosts ...string) IssueOption {
	return func(c *issueConfig) { c.hosts = append(c.hosts, hosts...) }
}

// WithNow sets the issue time (default: time.Now()). NotBefore is a few
// minutes before it; a zero notAfter means now + [DefaultNodeCertLifetime].
func WithNow(now time.Time) IssueOption {
	return func(c *issueConfig) { c.now = now }
}

// IssueNodeCert signs the CSR (DER) as a certificate for nodeID in
// clusterID with role, valid until notAfter (zero: the default lifetime;
// never beyond the root's own expiry). The subject is CN=nodeID, OU=role,
// O=clusterID whatever the CSR asked for; SANs come from [WithSANs] plus
// loopback and "shoal-<role>". The certificate is good for both client and
// server authentication. It returns the certificate as PEM.
func (r *RootCA) IssueNodeCert(csrDER []byte, nodeID, clusterID string, role Role, notAfter time.Time, opts ...IssueOption) ([]byte, error) {
	cfg := issueConfig{rand: rand.Reader}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.now.IsZero() {
		cfg.now = time.Now()
	}
	if r.key == nil {
		return nil, ErrNoSigningKey
	}
	if err := validateName("node ID", nodeID); err != nil {
		return nil, err
	}
	if err := validateName("cluster ID", clusterID); err != nil {
		return nil, err
	}
	if clusterID != r.clusterID {
		return nil, fmt.Errorf("%w: asked to issue for cluster %q, root is for %q", ErrClusterMismatch, clusterID, r.clusterID)
	}
	if !role.Valid() {
		return nil, fmt.Errorf("%w: unknown role %q", ErrInvalidIdentity, role)
	}
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidCSR, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: bad signature: %w", ErrInvalidCSR, err)
	}
	pub, ok := csr.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: key is %T, want ECDSA P-256", ErrInvalidCSR, csr.PublicKey)
	}
	if notAfter.IsZero() {
		notAfter = cfg.now.Add(DefaultNodeCertLifetime)
	}
	if notAfter.After(r.cert.NotAfter) {
		notAfter = r.cert.NotAfter
	}
	notBefore := cfg.now.Add(-clockSkew)
	if !notAfter.After(cfg.now) {
		return nil, fmt.Errorf("ca: certificate would expire at %s, not after issue time %s", notAfter.UTC().Format(time.RFC3339), cfg.now.UTC().Format(time.RFC3339))
	}
	ips, dns := splitHosts(cfg.hosts, role)
	serial, err := newSerial(cfg.rand)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:         nodeID,
			OrganizationalUnit: []string{string(role)},
			Organization:       []string{clusterID},
		},
		NotBefore:             notBefore.UTC(),
		NotAfter:              notAfter.UTC(),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  false,
		DNSNames:              dns,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(cfg.rand, tmpl, r.cert, pub, r.key)
	if err != nil {
		return nil, fmt.Errorf("ca: sign node certificate: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: der}), nil
}

// splitHosts turns the given hosts into deduplicated IP and DNS SANs,
// always including loopback and the role's server name.
func splitHosts(hosts []string, role Role) ([]net.IP, []string) {
	ips := []net.IP{net.IPv4(127, 0, 0, 1).To4(), net.IPv6loopback}
	dns := []string{"localhost", ServerNameForRole(role)}
	for _, h := range hosts {
		if host, _, err := net.SplitHostPort(h); err == nil {
			h = host
		}
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			if v4 := ip.To4(); v4 != nil {
				ip = v4
			}
			if !slices.ContainsFunc(ips, ip.Equal) {
				ips = append(ips, ip)
			}
			continue
		}
		if !slices.Contains(dns, h) {
			dns = append(dns, h)
		}
	}
	return ips, dns
}

// NewKeyAndCSR creates a node's ECDSA P-256 key (PKCS#8 PEM) and a
// certificate signing request for it (DER). The CSR's subject is left
// empty: the CA decides the node's identity.
func NewKeyAndCSR() (keyPEM, csrDER []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("ca: generate node key: %w", err)
	}
	csrDER, err = x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("ca: create CSR: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("ca: encode node key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPrivateKey, Bytes: keyDER}), csrDER, nil
}

// ParseCertPEM decodes a single PEM certificate.
func ParseCertPEM(certPEM []byte) (*x509.Certificate, error) {
	cert, err := parseSingleCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidIdentity, err)
	}
	return cert, nil
}

// KeyPair builds a tls.Certificate (with Leaf set) from a node's PEM
// certificate and key, checking that they match.
func KeyPair(certPEM, keyPEM []byte) (tls.Certificate, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%w: %w", ErrInvalidNodeTLS, err)
	}
	if pair.Leaf == nil {
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("%w: %w", ErrInvalidNodeTLS, err)
		}
		pair.Leaf = leaf
	}
	return pair, nil
}

// RenewAt returns when a node should renew cert: at a random point between
// 50% and 80% of its validity, so that a cluster's nodes do not all renew at
// once. rnd supplies the randomness (inject a seeded reader in tests).
func RenewAt(cert *x509.Certificate, rnd io.Reader) (time.Time, error) {
	// NotBefore is backdated by clockSkew: measure the validity from the
	// issue time, or a short-lived certificate would be due at once.
	issued := cert.NotBefore.Add(clockSkew)
	life := cert.NotAfter.Sub(issued)
	if life <= 0 {
		return cert.NotBefore, nil
	}
	window := life * 3 / 10
	jitter := time.Duration(0)
	if window > 0 {
		n, err := rand.Int(rnd, big.NewInt(int64(window)))
		if err != nil {
			return time.Time{}, fmt.Errorf("ca: renewal jitter: %w", err)
		}
		jitter = time.Duration(n.Int64())
	}
	return issued.Add(life/2 + jitter), nil
}
