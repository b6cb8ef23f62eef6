package main

import (
	"errors"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/shoal-project/shoal/core/api"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// hinted is an error with a line of advice the CLI prints under it. The API
// speaks of objects and fields; what to type next is the CLI's to say.
type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return h.err.Error() }
func (h *hinted) Unwrap() error { return h.err }

// hintOn adds hint to err when err is an API error with code.
func hintOn(err error, code connect.Code, hint string) error {
	if err == nil || hint == "" || connect.CodeOf(err) != code {
		return err
	}
	return &hinted{err: err, hint: hint}
}

// notFoundHints say how to find the objects of a kind a NotFound names.
var notFoundHints = map[string]string{
	api.KindService: "list services with 'shoal service ls'",
	api.KindNode:    "list nodes with 'shoal node ls'",
	api.KindPlugin:  "list plugins with 'shoal plugin ls' (built in: spread, binpack, ipam, evener); add one with 'shoal plugin install'",
	api.KindTask:    "list a service's tasks with 'shoal service ps SERVICE'",
	api.KindNetwork: "list networks with 'shoal network ls'; create one with 'shoal network create NAME'",
	api.KindSecret:  "list secrets with 'shoal secret ls'; create one with 'shoal secret create NAME FILE|-'",
	api.KindConfig:  "list configs with 'shoal config ls'; create one with 'shoal config create NAME FILE|-'",
}

// networkCreateHint says what to change in a refused network create, in
// the CLI's words ("" when there is nothing to add).
func networkCreateHint(spec *shoalv1.NetworkSpec) string {
	switch {
	case spec.GetName() == "bridge" || spec.GetName() == "host" || spec.GetName() == "none":
		return spec.GetName() + " is a mode of 'shoal service create --network', not a network name"
	case spec.GetGateway() != "" && spec.GetSubnet() == "":
		return "--gateway needs --subnet"
	}
	return ""
}

// hintFor is the advice to print under err, or "".
func hintFor(err error) string {
	if h := (*hinted)(nil); errors.As(err, &h) {
		return h.hint
	}
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeNotFound {
		return ""
	}
	for _, d := range ce.Details() {
		if v, derr := d.Value(); derr == nil {
			if ri, ok := v.(*errdetails.ResourceInfo); ok {
				return notFoundHints[ri.GetResourceType()]
			}
		}
	}
	return ""
}
