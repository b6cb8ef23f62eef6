//go:build !linux

package node

import (
	"errors"

	"github.com/shoal-project/shoal/core/netagent"
)

func (n *Node) newClusterNetwork() (*netagent.Node, string, error) {
	return nil, "", errors.New("cluster networks need Linux")
}
