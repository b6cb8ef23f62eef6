package ca

import (
	"crypto/subtle"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Join token layout: "SHOAL-1-<CA digest>-<secret>".
const (
	tokenPrefix = "SHOAL-"
	// TokenVersion is the only token format version this package reads.
	TokenVersion = 1
	// secretBytes is the secret's entropy: 160 bits.
	secretBytes = 20
)

// SecretLen is the length of a printed token secret (160 bits in base32).
const SecretLen = 32

// Token is a parsed join token. CADigest pins the cluster's root (see
// [RootCA.Digest]); Secret proves the holder may join, and its role is
// decided by which of the cluster's tokens it matches.
type Token struct {
	Version  int
	CADigest string
	Secret   string
}

// String returns the token in its printed form.
func (t Token) String() string {
	return tokenPrefix + strconv.Itoa(t.Version) + "-" + t.CADigest + "-" + t.Secret
}

// Redacted returns the token with its secret masked, for logs.
func (t Token) Redacted() string {
	return tokenPrefix + strconv.Itoa(t.Version) + "-" + t.CADigest + "-<redacted>"
}

// NewJoinToken creates a token pinning root with a fresh secret read from
// rnd. Worker and manager tokens are two calls, so their secrets differ.
func NewJoinToken(root *RootCA, rnd io.Reader) (Token, error) {
	var b [secretBytes]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return Token{}, fmt.Errorf("ca: read token secret: %w", err)
	}
	return Token{Version: TokenVersion, CADigest: root.Digest(), Secret: digestEncoding.EncodeToString(b[:])}, nil
}

// ParseJoinToken parses a printed token. Surrounding white space is
// ignored; anything else wrong is an error wrapping [ErrInvalidToken] that
// says what is wrong.
func ParseJoinToken(s string) (Token, error) {
	s = strings.TrimSpace(s)
	want := tokenPrefix + strconv.Itoa(TokenVersion) + "-"
	if !strings.HasPrefix(s, want) {
		if v, ok := strings.CutPrefix(s, tokenPrefix); ok {
			if ver, _, found := strings.Cut(v, "-"); found && ver != strconv.Itoa(TokenVersion) {
				return Token{}, fmt.Errorf("%w: token version %q is not supported, want %d", ErrInvalidToken, ver, TokenVersion)
			}
		}
		return Token{}, fmt.Errorf("%w: token must start with %s", ErrInvalidToken, want)
	}
	parts := strings.Split(s[len(want):], "-")
	if len(parts) != 2 {
		return Token{}, fmt.Errorf("%w: token has %d dash-separated fields after %s, want 2 (CA digest and secret)", ErrInvalidToken, len(parts), want)
	}
	digest, secret := parts[0], parts[1]
	if len(digest) != DigestLen {
		return Token{}, fmt.Errorf("%w: CA digest is %d characters, want %d", ErrInvalidToken, len(digest), DigestLen)
	}
	if err := checkAlphabet("CA digest", digest); err != nil {
		return Token{}, err
	}
	if len(secret) != SecretLen {
		return Token{}, fmt.Errorf("%w: secret is %d characters, want %d", ErrInvalidToken, len(secret), SecretLen)
	}
	if err := checkAlphabet("secret", secret); err != nil {
		return Token{}, err
	}
	return Token{Version: TokenVersion, CADigest: digest, Secret: secret}, nil
}

// checkAlphabet requires the lowercase base32 extended-hex alphabet, and a
// value that decodes (the last character carries unused bits that must be
// zero, so each value has exactly one spelling).
func checkAlphabet(what, s string) error {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'v') {
			return fmt.Errorf("%w: %s has invalid character %q at position %d, want 0-9 or a-v", ErrInvalidToken, what, c, i+1)
		}
	}
	b, err := digestEncoding.DecodeString(s)
	if err != nil {
		return fmt.Errorf("%w: %s does not decode: %w", ErrInvalidToken, what, err)
	}
	if digestEncoding.EncodeToString(b) != s {
		return fmt.Errorf("%w: %s has a non-canonical last character %q", ErrInvalidToken, what, s[len(s)-1])
	}
	return nil
}

// CheckSecret reports whether got equals expected, in time that does not
// depend on where they differ (crypto/subtle). Lengths are not secret.
func CheckSecret(expected, got string) bool {
	return subtle.ConstantTimeCompare([]byte(expected), []byte(got)) == 1
}

// JoinTokens are a cluster's current tokens, printed.
type JoinTokens struct {
	Worker  string
	Manager string
}

// RoleForToken decides the role a presented token grants under root and
// the cluster's current tokens: [ErrInvalidToken] if it does not parse,
// [ErrDigestMismatch] if it pins another root, [ErrTokenRejected] if its
// secret matches neither token. Both secrets are always compared, in
// constant time.
func RoleForToken(presented string, root *RootCA, current JoinTokens) (Role, error) {
	tok, err := ParseJoinToken(presented)
	if err != nil {
		return "", err
	}
	if !CheckSecret(root.Digest(), tok.CADigest) {
		return "", fmt.Errorf("%w: token pins CA %s, this cluster's CA is %s", ErrDigestMismatch, tok.CADigest, root.Digest())
	}
	isWorker := matchesToken(current.Worker, tok.Secret)
	isManager := matchesToken(current.Manager, tok.Secret)
	switch {
	case isManager:
		return RoleManager, nil
	case isWorker:
		return RoleWorker, nil
	}
	return "", fmt.Errorf("%w: secret matches no current join token (it may have been rotated)", ErrTokenRejected)
}

func matchesToken(current, secret string) bool {
	tok, err := ParseJoinToken(current)
	if err != nil {
		// An unset token matches nothing; compare anyway to keep the
		// timing independent of which tokens are set.
		CheckSecret(strings.Repeat("-", SecretLen), secret)
		return false
	}
	return CheckSecret(tok.Secret, secret)
}
