package ca

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	mrand "math/rand/v2"
	"os"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

func TestNewJoinToken(t *testing.T) {
	root := mustRoot(t, "cl", testNow)
	rnd := mrand.NewChaCha8([32]byte{1})
	worker, err := NewJoinToken(root, rnd)
	if err != nil {
		t.Fatal(err)
	}
	manager, err := NewJoinToken(root, rnd)
	if err != nil {
		t.Fatal(err)
	}
	if worker.Secret == manager.Secret {
		t.Fatalf("worker and manager tokens share secret %s", worker.Secret)
	}
	if worker.CADigest != root.Digest() || worker.Version != 1 {
		t.Errorf("token = %+v", worker)
	}
	s := worker.String()
	if !strings.HasPrefix(s, "SHOAL-1-"+root.Digest()+"-") || len(s) != len("SHOAL-1-")+DigestLen+1+SecretLen {
		t.Errorf("token string %q", s)
	}
	back, err := ParseJoinToken(s)
	if err != nil || back != worker {
		t.Errorf("ParseJoinToken(String()) = %+v, %v; want %+v", back, err, worker)
	}
	again, _ := NewJoinToken(root, mrand.NewChaCha8([32]byte{1}))
	if again != worker {
		t.Errorf("same seed gave a different token: %v vs %v", again, worker)
	}
	if strings.Contains(worker.Redacted(), worker.Secret) {
		t.Errorf("Redacted() shows the secret")
	}
	if _, err := NewJoinToken(root, bytes.NewReader([]byte{1, 2, 3})); err == nil {
		t.Errorf("short randomness accepted")
	}
}

func TestParseJoinToken(t *testing.T) {
	digest := strings.Repeat("a", 51) + "0"
	secret := strings.Repeat("v", 32)
	cases := []struct {
		name, in string
		wantErr  string // "" means valid
	}{
		{"valid", "SHOAL-1-" + digest + "-" + secret, ""},
		{"valid with newline", "  SHOAL-1-" + digest + "-" + secret + "\n", ""},
		{"empty", "", "token must start with SHOAL-1-"},
		{"swarm token", "SWMTKN-1-" + digest + "-" + secret, "token must start with SHOAL-1-"},
		{"lowercase prefix", "shoal-1-" + digest + "-" + secret, "token must start with SHOAL-1-"},
		{"version 2", "SHOAL-2-" + digest + "-" + secret, `token version "2" is not supported, want 1`},
		{"no secret", "SHOAL-1-" + digest, "1 dash-separated fields"},
		{"extra field", "SHOAL-1-" + digest + "-" + secret + "-x", "3 dash-separated fields"},
		{"short digest", "SHOAL-1-abc-" + secret, "CA digest is 3 characters, want 52"},
		{"hex sha256 digest", "SHOAL-1-" + strings.Repeat("f", 64) + "-" + secret, "CA digest is 64 characters, want 52"},
		{"uppercase digest", "SHOAL-1-" + strings.ToUpper(digest) + "-" + secret, `CA digest has invalid character 'A' at position 1`},
		{"digest char w", "SHOAL-1-" + "w" + digest[1:] + "-" + secret, `CA digest has invalid character 'w'`},
		{"non-canonical digest", "SHOAL-1-" + digest[:51] + "1" + "-" + secret, "non-canonical last character"},
		{"short secret", "SHOAL-1-" + digest + "-abc", "secret is 3 characters, want 32"},
		{"secret bad char", "SHOAL-1-" + digest + "-" + secret[:31] + "z", `secret has invalid character 'z' at position 32`},
		{"empty secret", "SHOAL-1-" + digest + "-", "secret is 0 characters"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := ParseJoinToken(tc.in)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if tok.CADigest != digest || tok.Secret != secret || tok.Version != 1 {
					t.Fatalf("token = %+v", tok)
				}
				return
			}
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("err = %v, want ErrInvalidToken", err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %q, want it to say %q", err, tc.wantErr)
			}
		})
	}
}

func TestTokenRoundTripProperty(t *testing.T) {
	root := mustRoot(t, "cl", testNow)
	rapid.Check(t, func(t *rapid.T) {
		var seed [32]byte
		copy(seed[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "seed"))
		tok, err := NewJoinToken(root, mrand.NewChaCha8(seed))
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseJoinToken(tok.String())
		if err != nil || back != tok {
			t.Fatalf("round trip: %+v, %v; want %+v", back, err, tok)
		}
	})
}

func FuzzParseJoinToken(f *testing.F) {
	digest := strings.Repeat("a", 51) + "0"
	f.Add("SHOAL-1-" + digest + "-" + strings.Repeat("v", 32))
	f.Add("SHOAL-1-")
	f.Add("SHOAL-2-x-y")
	f.Add("SHOAL-1-" + digest + "-")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseJoinToken(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("error %v does not wrap ErrInvalidToken", err)
			}
			return
		}
		if len(tok.CADigest) != DigestLen || len(tok.Secret) != SecretLen {
			t.Fatalf("accepted token with digest %d / secret %d chars", len(tok.CADigest), len(tok.Secret))
		}
		if tok.String() != strings.TrimSpace(s) {
			t.Fatalf("String() = %q, input %q: parsing is not canonical", tok.String(), s)
		}
		back, err := ParseJoinToken(tok.String())
		if err != nil || back != tok {
			t.Fatalf("re-parse: %+v, %v", back, err)
		}
	})
}

func TestRoleForToken(t *testing.T) {
	root := mustRoot(t, "cl", testNow)
	other := mustRoot(t, "cl", testNow)
	rnd := mrand.NewChaCha8([32]byte{7})
	w, _ := NewJoinToken(root, rnd)
	m, _ := NewJoinToken(root, rnd)
	stale, _ := NewJoinToken(root, rnd)
	foreign := Token{Version: 1, CADigest: other.Digest(), Secret: w.Secret}
	current := JoinTokens{Worker: w.String(), Manager: m.String()}
	cases := []struct {
		name      string
		presented string
		current   JoinTokens
		want      Role
		wantErr   error
	}{
		{"worker", w.String(), current, RoleWorker, nil},
		{"manager", m.String(), current, RoleManager, nil},
		{"rotated", stale.String(), current, "", ErrTokenRejected},
		{"other CA", foreign.String(), current, "", ErrDigestMismatch},
		{"garbage", "hello", current, "", ErrInvalidToken},
		{"manager token unset", m.String(), JoinTokens{Worker: w.String()}, "", ErrTokenRejected},
		{"worker with manager unset", w.String(), JoinTokens{Worker: w.String()}, RoleWorker, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RoleForToken(tc.presented, root, tc.current)
			if !errors.Is(err, tc.wantErr) || got != tc.want {
				t.Fatalf("RoleForToken = %q, %v; want %q, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestEncodedLengths(t *testing.T) {
	if got := digestEncoding.EncodedLen(sha256.Size); got != DigestLen {
		t.Errorf("DigestLen = %d, encoding gives %d", DigestLen, got)
	}
	if got := digestEncoding.EncodedLen(secretBytes); got != SecretLen {
		t.Errorf("SecretLen = %d, encoding gives %d", SecretLen, got)
	}
}

func TestCheckSecret(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"abc", "ab", false},
		{"", "", true},
		{"abc", "", false},
	}
	for _, tc := range cases {
		if got := CheckSecret(tc.a, tc.b); got != tc.want {
			t.Errorf("CheckSecret(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}

// TestSecretsComparedInConstantTime guards the package's source: CheckSecret
// must use crypto/subtle, and no code may compare a token secret or digest
// with == or !=.
func TestSecretsComparedInConstantTime(t *testing.T) {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, e.Name(), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	usesSubtle := false
	for _, file := range files {
		ast.Inspect(file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				if n.Name.Name == "CheckSecret" {
					ast.Inspect(n.Body, func(m ast.Node) bool {
						if sel, ok := m.(*ast.SelectorExpr); ok {
							if x, ok := sel.X.(*ast.Ident); ok && x.Name == "subtle" && sel.Sel.Name == "ConstantTimeCompare" {
								usesSubtle = true
							}
						}
						return true
					})
				}
			case *ast.BinaryExpr:
				if n.Op != token.EQL && n.Op != token.NEQ {
					return true
				}
				for _, side := range []ast.Expr{n.X, n.Y} {
					if sel, ok := side.(*ast.SelectorExpr); ok && (sel.Sel.Name == "Secret" || sel.Sel.Name == "CADigest") {
						t.Errorf("%s: %s compared with %s; use CheckSecret", fset.Position(n.Pos()), sel.Sel.Name, n.Op)
					}
				}
			}
			return true
		})
	}
	if !usesSubtle {
		t.Errorf("CheckSecret does not call subtle.ConstantTimeCompare")
	}
}
