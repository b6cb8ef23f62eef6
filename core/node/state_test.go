package node

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadLocalReadsWhatSaveWrote(t *testing.T) {
	dir := t.TempDir()
	st := &state{NodeID: "n1", Backend: "containerd", ContainerdAddress: "/run/c.sock", Role: "worker"}
	if err := st.save(dir); err != nil {
		t.Fatal(err)
	}
	got, err := ReadLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Local{NodeID: "n1", Backend: "containerd", ContainerdAddress: "/run/c.sock"}); got != want {
		t.Fatalf("ReadLocal = %+v, want %+v", got, want)
	}
}

func TestReadLocalRefusesWhatIsNoNode(t *testing.T) {
	for _, tc := range []struct {
		name     string
		contents string // "" = no node.json
		wantIs   error
		wantText string
	}{
		{name: "no node.json", wantIs: ErrNoState, wantText: "shoal init"},
		{name: "not JSON", contents: "{", wantText: "node.json"},
		{name: "no node ID", contents: `{"backend":"sim"}`, wantText: "does not name a node"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.contents != "" {
				if err := os.WriteFile(filepath.Join(dir, stateFile), []byte(tc.contents), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := ReadLocal(dir)
			if err == nil || (tc.wantIs != nil && !errors.Is(err, tc.wantIs)) || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tc.wantIs, tc.wantText)
			}
		})
	}
}
