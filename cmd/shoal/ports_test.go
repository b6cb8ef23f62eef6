package main

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

func TestParsePublish(t *testing.T) {
	tests := []struct {
		in    string
		want  *shoalv1.PortConfig
		field string // in the error; "" means valid
	}{
		{in: "8080:80", want: &shoalv1.PortConfig{Protocol: "tcp", PublishedPort: 8080, TargetPort: 80}},
		{in: "53:53/udp", want: &shoalv1.PortConfig{Protocol: "udp", PublishedPort: 53, TargetPort: 53}},
		{in: "80", want: &shoalv1.PortConfig{Protocol: "tcp", TargetPort: 80}},
		{in: "published=8080,target=80", want: &shoalv1.PortConfig{Protocol: "tcp", PublishedPort: 8080, TargetPort: 80, PublishMode: "ingress"}},
		{in: "published=9100,target=9100,protocol=udp,mode=host", want: &shoalv1.PortConfig{Protocol: "udp", PublishedPort: 9100, TargetPort: 9100, PublishMode: "host"}},
		{in: "target=80,mode=host", want: &shoalv1.PortConfig{Protocol: "tcp", TargetPort: 80, PublishMode: "host"}},
		{in: "0", field: "target port"},
		{in: "x:80", field: "published port"},
		{in: "8080:80/sctp", field: "protocol"},
		{in: "published=8080", field: "target: required"},
		{in: "published=8080,target=80,mode=global", field: "mode"},
		{in: "published=8080,target=80,proto=udp", field: `unknown key "proto"`},
		{in: "published=70000,target=80", field: "published port"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parsePublish(tt.in)
			if tt.field != "" {
				if err == nil || !strings.Contains(err.Error(), tt.field) || !strings.Contains(err.Error(), "--publish") {
					t.Fatalf("err = %v, want one naming --publish and %s", err, tt.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRemovePublished(t *testing.T) {
	ports := func() []*shoalv1.PortConfig {
		return []*shoalv1.PortConfig{{PublishedPort: 8080, TargetPort: 80}, {PublishedPort: 53, TargetPort: 53, Protocol: "udp"}, {TargetPort: 9000}}
	}
	tests := []struct {
		rm       []string
		left     int
		errField string
	}{
		{rm: []string{"8080"}, left: 2},
		{rm: []string{"53/udp", "9000"}, left: 1},
		{rm: []string{"53"}, errField: "no such port"},
		{rm: []string{"web"}, errField: "give a published port"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.rm, ","), func(t *testing.T) {
			got, err := removePublished(ports(), tt.rm)
			if tt.errField != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errField) {
					t.Fatalf("err = %v, want %s", err, tt.errField)
				}
				return
			}
			if err != nil || len(got) != tt.left {
				t.Fatalf("left %v (err %v), want %d ports", got, err, tt.left)
			}
		})
	}
}

func TestServicePortsShowsOnlyServedPorts(t *testing.T) {
	svc := &shoalv1.Service{Endpoint: &shoalv1.Endpoint{Ports: []*shoalv1.PortConfig{
		{PublishedPort: 8080, TargetPort: 80, Protocol: "tcp"},
		{TargetPort: 81, Protocol: "tcp"}, // dynamic, not allocated yet
		{PublishedPort: 9100, TargetPort: 9100, Protocol: "udp", PublishMode: "host"},
	}}}
	if got, want := servicePorts(svc), "host:9100->9100/udp"; got != want {
		t.Errorf("without an ingress VIP: %q, want %q", got, want)
	}
	svc.Endpoint.VirtualIps = []*shoalv1.Attachment{{NetworkId: "ing", Addresses: []string{"10.255.0.2/16"}}}
	if got, want := servicePorts(svc), "*:8080->80/tcp,host:9100->9100/udp"; got != want {
		t.Errorf("with an ingress VIP: %q, want %q", got, want)
	}
}
