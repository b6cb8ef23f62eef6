package taskspec

import (
	"strings"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// The publish modes of a port (PortConfig.publish_mode); empty means ingress.
const (
	ModeIngress = "ingress"
	ModeHost    = "host"
)

// Mode is p's publish mode, ModeIngress when unset.
func Mode(p *shoalv1.PortConfig) string {
	if m := p.GetPublishMode(); m != "" {
		return strings.ToLower(m)
	}
	return ModeIngress
}

// Protocol is p's protocol, "tcp" when unset.
func Protocol(p *shoalv1.PortConfig) string {
	if pr := p.GetProtocol(); pr != "" {
		return strings.ToLower(pr)
	}
	return "tcp"
}

// HasMode says whether one of ports is published in mode.
func HasMode(ports []*shoalv1.PortConfig, mode string) bool {
	for _, p := range ports {
		if Mode(p) == mode {
			return true
		}
	}
	return false
}
