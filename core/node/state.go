package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/shoal-project/shoal/internal/atomicfile"
)

// stateFile records who a node is; written at init/join, read by run.
const stateFile = "node.json"

// ErrNoState is returned by Run on a data dir where no node was created.
var ErrNoState = errors.New("no node in data dir")

// ErrRemoved is returned by Wait when the cluster removed this node (it
// left: its tasks were removed), and by Run for the data dir of such a node.
var ErrRemoved = errors.New("this node was removed from the cluster")

// ErrManagerFailed is returned by Wait when the node's manager stopped on
// an error of its own (its Raft log could not be written).
var ErrManagerFailed = errors.New("this node's manager failed")

type state struct {
	NodeID        string   `json:"node_id"`
	ClusterID     string   `json:"cluster_id"`
	Role          string   `json:"role"`
	ListenAddr    string   `json:"listen_addr"`
	AdvertiseAddr string   `json:"advertise_addr"`
	Managers      []string `json:"managers"`
	Backend       string   `json:"backend"`
	Hostname      string   `json:"hostname"`
	// Backend settings, so 'shoal run' needs no flags.
	ContainerdAddress  string   `json:"containerd_address,omitempty"`
	InsecureRegistries []string `json:"insecure_registries,omitempty"`
	// Removed is set when the cluster removed this node (shoal node rm) and
	// it left: its tasks were removed and 'shoal run' refuses to start it.
	Removed bool `json:"removed,omitempty"`
}

// Local is what a data dir says of its node, for commands that run without
// its daemon.
type Local struct {
	NodeID            string
	Backend           string
	ContainerdAddress string
}

// ReadLocal reads the node in dir. A dir without one gives ErrNoState.
func ReadLocal(dir string) (Local, error) {
	st, err := loadState(dir)
	if err != nil {
		return Local{}, err
	}
	return Local{NodeID: st.NodeID, Backend: st.Backend, ContainerdAddress: st.ContainerdAddress}, nil
}

// loadState is the one reader of node.json.
func loadState(dir string) (*state, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w %s: create one with 'shoal init' or 'shoal join'", ErrNoState, dir)
	}
	if err != nil {
		return nil, err
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, stateFile), err)
	}
	if s.NodeID == "" {
		return nil, fmt.Errorf("%s does not name a node (no node_id)", filepath.Join(dir, stateFile))
	}
	return &s, nil
}

// save writes the state atomically.
func (s *state) save(dir string) error {
	return atomicfile.WriteJSON(filepath.Join(dir, stateFile), s, 0o600)
}
