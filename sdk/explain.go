package sdk

import (
	"strconv"
	"strings"
)

// Total is the number of nodes the explanation accounts for.
func (e Explanation) Total() uint32 {
	return e.NotReady + e.Drained + e.Paused + e.KindUnsupported +
		e.ConstraintMismatch + e.LacksCPU + e.LacksMemory + e.MaxPerNode
}

// String renders the explanation for a person, e.g.
// "2 nodes lack memory, 1 drained". Zero counts are left out.
func (e Explanation) String() string {
	var parts []string
	add := func(n uint32, one, many string) {
		switch {
		case n == 1:
			parts = append(parts, "1 "+one)
		case n > 1:
			parts = append(parts, strconv.FormatUint(uint64(n), 10)+" "+many)
		}
	}
	add(e.NotReady, "node not ready", "nodes not ready")
	add(e.Drained, "drained", "drained")
	add(e.Paused, "paused", "paused")
	add(e.KindUnsupported, "node cannot run this kind", "nodes cannot run this kind")
	add(e.ConstraintMismatch, "node fails constraints", "nodes fail constraints")
	add(e.LacksCPU, "node lacks cpu", "nodes lack cpu")
	add(e.LacksMemory, "node lacks memory", "nodes lack memory")
	add(e.MaxPerNode, "node at max replicas per node", "nodes at max replicas per node")
	return strings.Join(parts, ", ")
}

// Message renders a group result's failure for a person, e.g.
// "no suitable node: 2 nodes lack memory, 1 drained". It is empty when the
// group has no unschedulable task.
func (g *GroupResult) Message() string {
	switch g.Reason {
	case ReasonNone:
		return ""
	case ReasonNoSuitableNode:
		s := e2s(g.Explanation)
		if g.Detail != "" {
			s += " (" + g.Detail + ")"
		}
		return s
	}
	if g.Detail != "" {
		return g.Reason.String() + ": " + g.Detail
	}
	return g.Reason.String()
}

func e2s(e Explanation) string {
	if e.Total() == 0 {
		return "no suitable node: no nodes"
	}
	return "no suitable node: " + e.String()
}
