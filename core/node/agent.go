package node

// restartAgent (re)starts the node's agent with the current certificate.
func (n *Node) restartAgent() {}
