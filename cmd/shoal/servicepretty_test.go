package main

import (
	"regexp"
	"strings"
	"testing"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

func TestServiceInspectPrettyShowsTheSpecReadably(t *testing.T) {
	res := &shoalv1.GetServiceResponse{
		Service: &shoalv1.Service{Id: "svc1", Spec: &shoalv1.ServiceSpec{
			Name: "web", Labels: map[string]string{"tier": "front"},
			Mode: &shoalv1.ServiceSpec_Replicated{Replicated: &shoalv1.ReplicatedMode{Replicas: 3}},
			Task: &shoalv1.TaskSpec{
				Runtime:   &shoalv1.TaskSpec_Container{Container: &shoalv1.ContainerSpec{Image: "busybox", Args: []string{"sleep", "60"}}},
				Resources: &shoalv1.ResourceRequirements{Limits: &shoalv1.Resources{NanoCpus: 5e8, MemoryBytes: 64 << 20}},
				Secrets:   []*shoalv1.SecretReference{{SecretName: "db-pass", Target: "pw", Mode: 0o400}},
				Configs:   []*shoalv1.ConfigReference{{ConfigName: "app", Target: "/etc/app.conf", Mode: 0o444}},
			},
		}, Endpoint: &shoalv1.Endpoint{Ports: []*shoalv1.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 30080}}}},
		Status: &shoalv1.ServiceStatus{RunningTasks: 2, DesiredTasks: 3},
	}
	var b strings.Builder
	prettyService(&b, res)
	out := b.String()
	for _, want := range []string{
		`(?m)^ID: +svc1$`, `(?m)^Name: +web$`, `(?m)^ tier=front$`, `(?m)^Service Mode: +Replicated$`, `(?m)^ Replicas: +3$`,
		`(?m)^Tasks: +2/3 running$`, `(?m)^ Image: +busybox$`, `(?m)^ Args: +sleep 60$`,
		`(?m)^Secrets:\n Target: +/run/secrets/pw\n  Source: +db-pass\n  Mode: +0400`,
		`(?m)^Configs:\n Target: +/etc/app.conf\n  Source: +app\n  Mode: +0444`,
		`(?m)^Resources Limits:\n CPU: +0.5\n Memory: +64MiB$`, `(?m)^ PublishedPort: +30080$`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
}
