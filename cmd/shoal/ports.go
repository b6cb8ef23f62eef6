package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/shoal-project/shoal/core/taskspec"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// parsePublish reads one --publish value: the long form
// published=P,target=T[,protocol=tcp|udp][,mode=ingress|host] or the short
// one [P:]T[/tcp|udp] (no P: a dynamic port from the allocator's range).
func parsePublish(s string) (*shoalv1.PortConfig, error) {
	if strings.Contains(s, "=") {
		return parseLongPublish(s)
	}
	p := &shoalv1.PortConfig{Protocol: "tcp"}
	spec := s
	if i := strings.IndexByte(spec, '/'); i >= 0 {
		p.Protocol, spec = spec[i+1:], spec[:i]
	}
	pub, target, has := strings.Cut(spec, ":")
	if !has {
		target, pub = pub, ""
	}
	var err error
	if p.TargetPort, err = portNumber(s, "target", target); err != nil {
		return nil, err
	}
	if pub != "" {
		if p.PublishedPort, err = portNumber(s, "published", pub); err != nil {
			return nil, err
		}
	}
	return p, checkPublish(s, p)
}

func parseLongPublish(s string) (*shoalv1.PortConfig, error) {
	p := &shoalv1.PortConfig{Protocol: "tcp", PublishMode: taskspec.ModeIngress}
	var err error
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "published":
			p.PublishedPort, err = portNumber(s, k, v)
		case "target":
			p.TargetPort, err = portNumber(s, k, v)
		case "protocol":
			p.Protocol = v
		case "mode":
			p.PublishMode = v
		default:
			return nil, fmt.Errorf("--publish %q: unknown key %q (use published, target, protocol, mode)", s, k)
		}
		if err != nil {
			return nil, err
		}
	}
	if p.TargetPort == 0 {
		return nil, fmt.Errorf("--publish %q: target: required (the port the tasks listen on)", s)
	}
	return p, checkPublish(s, p)
}

func portNumber(s, field, v string) (uint32, error) {
	n, err := strconv.ParseUint(v, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("--publish %q: %s port %q must be 1-65535", s, field, v)
	}
	return uint32(n), nil
}

func checkPublish(s string, p *shoalv1.PortConfig) error {
	if p.Protocol != "tcp" && p.Protocol != "udp" {
		return fmt.Errorf("--publish %q: protocol %q must be tcp or udp", s, p.Protocol)
	}
	if m := p.PublishMode; m != taskspec.ModeIngress && m != taskspec.ModeHost && m != "" {
		return fmt.Errorf("--publish %q: mode %q must be ingress or host", s, m)
	}
	return nil
}

// removePublished drops the ports --publish-rm names: a published port
// (8080, 8080/udp) or, for a dynamic one, its target (80).
func removePublished(ports []*shoalv1.PortConfig, rm []string) ([]*shoalv1.PortConfig, error) {
	for _, r := range rm {
		spec, proto, has := strings.Cut(r, "/")
		if !has {
			proto = "tcp"
		}
		n, err := strconv.ParseUint(spec, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("--publish-rm %q: give a published port, e.g. 8080 or 8080/udp", r)
		}
		before := len(ports)
		ports = slices.DeleteFunc(ports, func(p *shoalv1.PortConfig) bool {
			port := p.GetPublishedPort()
			if port == 0 {
				port = p.GetTargetPort()
			}
			return port == uint32(n) && taskspec.Protocol(p) == proto
		})
		if len(ports) == before {
			return nil, fmt.Errorf("--publish-rm %q: the service publishes no such port", r)
		}
	}
	return ports, nil
}

// servicePorts lists the ports a service serves: the ones its endpoint
// holds (a dynamic port once allocated), an ingress one once the service
// has its address on the ingress network. Host-mode ports say so.
func servicePorts(s *shoalv1.Service) string {
	var out []string
	for _, p := range s.GetEndpoint().GetPorts() {
		if p.GetPublishedPort() == 0 {
			continue
		}
		where := "*"
		if taskspec.Mode(p) == taskspec.ModeHost {
			where = "host"
		} else if len(s.GetEndpoint().GetVirtualIps()) == 0 {
			continue
		}
		out = append(out, fmt.Sprintf("%s:%d->%d/%s", where, p.GetPublishedPort(), p.GetTargetPort(), taskspec.Protocol(p)))
	}
	return strings.Join(out, ",")
}

// applyPublish removes the --publish-rm ports, then adds the --publish-add ones.
func (u *updateFlags) applyPublish(_ string, sp *shoalv1.ServiceSpec) error {
	if len(u.publish)+len(u.pubAdd)+len(u.pubRm) == 0 {
		return nil
	}
	ports, err := removePublished(sp.GetEndpoint().GetPorts(), u.pubRm)
	if err != nil {
		return err
	}
	for _, s := range append(slices.Clone(u.publish), u.pubAdd...) {
		p, err := parsePublish(s)
		if err != nil {
			return err
		}
		ports = append(ports, p)
	}
	sp.Endpoint = &shoalv1.EndpointSpec{Ports: ports}
	return nil
}
