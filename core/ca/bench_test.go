package ca

import (
	"testing"
	"time"
)

func BenchmarkIssueNodeCert(b *testing.B) {
	root := mustRoot(b, "cl", testNow)
	_, csr, err := NewKeyAndCSR()
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := root.IssueNodeCert(csr, "node-1", "cl", RoleWorker, time.Time{}, WithNow(testNow), WithSANs("10.0.0.1")); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseJoinToken(b *testing.B) {
	root := mustRoot(b, "cl", testNow)
	tok, _ := NewJoinToken(root, bytesReader(1))
	s := tok.String()
	for b.Loop() {
		if _, err := ParseJoinToken(s); err != nil {
			b.Fatal(err)
		}
	}
}
