package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"connectrpc.com/connect"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// WithEvents sets the history WatchEvents serves from.
func WithEvents(h *EventHistory) Option { return func(s *Server) { s.events = h } }

// Event types and actions a WatchEventsRequest may name. secret and config
// are part of the contract though nothing of those kinds is stored yet.
var (
	eventTypes   = []string{"cluster", "node", "service", "task", "network", "plugin", "secret", "config"}
	eventActions = []string{"create", "update", "remove"}
)

// WatchEvents streams the store's changes: first the version the stream
// starts at (with the kept events after req.since, when set), then each
// entry's matching events as it is applied on this manager.
func (s *Server) WatchEvents(ctx context.Context, req *connect.Request[shoalv1.WatchEventsRequest], stream *connect.ServerStream[shoalv1.WatchEventsResponse]) error {
	if s.events == nil {
		return connect.NewError(connect.CodeUnimplemented, errors.New("this manager keeps no event history"))
	}
	match, err := eventMatcher(req.Msg)
	if err != nil {
		return err
	}
	first, sub, err := s.events.Subscribe(req.Msg.GetSince(), match)
	if err != nil {
		return eventsErr(err, req.Msg.GetSince())
	}
	defer sub.Close()
	last := first.Version
	for b := first; ; {
		if err := stream.Send(&shoalv1.WatchEventsResponse{Events: b.Events, Version: b.Version}); err != nil {
			return err
		}
		last = b.Version
		if b, err = sub.Next(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return eventsErr(err, last)
		}
	}
}

// eventsErr is the API error that ends a stream whose client has seen every
// event up to version last.
func eventsErr(err error, last uint64) error {
	switch {
	case errors.Is(err, ErrEventsGone):
		return connect.NewError(connect.CodeOutOfRange, fmt.Errorf("since: %w; read the current state again and watch from now (since 0)", err))
	case errors.Is(err, ErrSubscriberFellBehind):
		return connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("%w; resume with since %d", err, last))
	case errors.Is(err, ErrHistoryReset):
		return connect.NewError(connect.CodeOutOfRange, fmt.Errorf("%w after version %d; read the current state again and watch from now (since 0)", err, last))
	}
	return connect.NewError(connect.CodeUnavailable, fmt.Errorf("%w; resume with since %d on another manager", err, last))
}

// eventMatcher checks the request's filters and returns what they select:
// within a field any value, across fields every field (empty: all).
func eventMatcher(req *shoalv1.WatchEventsRequest) (func(*shoalv1.Event) bool, error) {
	if err := checkValues("types", req.GetTypes(), eventTypes); err != nil {
		return nil, err
	}
	if err := checkValues("actions", req.GetActions(), eventActions); err != nil {
		return nil, err
	}
	types, actions, ids, names := req.GetTypes(), req.GetActions(), req.GetIds(), req.GetNames()
	return func(e *shoalv1.Event) bool {
		return anyOrNone(types, func(t string) bool { return t == e.GetType() }) &&
			anyOrNone(actions, func(a string) bool { return a == e.GetAction() }) &&
			anyOrNone(ids, func(id string) bool { return strings.HasPrefix(e.GetId(), id) }) &&
			anyOrNone(names, func(n string) bool { return n == e.GetName() })
	}, nil
}

func checkValues(field string, got, known []string) error {
	for i, v := range got {
		if !slices.Contains(known, v) {
			return invalidArg("%s[%d] %q: want one of %s", field, i, v, strings.Join(known, ", "))
		}
	}
	return nil
}

// anyOrNone reports whether vs is empty or f holds for one of its values.
func anyOrNone(vs []string, f func(string) bool) bool {
	return len(vs) == 0 || slices.ContainsFunc(vs, f)
}

// objectName is the name an event gives its object: the spec's name, a
// node's hostname, a task's service.slot (service.node for global tasks).
func objectName(o store.Object) string {
	switch v := o.(type) {
	case *shoalv1.Cluster:
		return v.GetSpec().GetName()
	case *shoalv1.Node:
		return v.GetDescription().GetHostname()
	case *shoalv1.Service:
		return v.GetSpec().GetName()
	case *shoalv1.Task:
		if v.GetSlot() > 0 {
			return fmt.Sprintf("%s.%d", v.GetServiceName(), v.GetSlot())
		}
		return v.GetServiceName() + "." + v.GetNodeId()
	case *shoalv1.Network:
		return v.GetSpec().GetName()
	case *shoalv1.PluginModule:
		return v.GetName()
	}
	return ""
}

// apiObject wraps o for an event, stripped as the other answers strip it.
func apiObject(o store.Object) *shoalv1.StoreObject {
	switch v := o.(type) {
	case *shoalv1.Cluster:
		o = redactCluster(v)
	case *shoalv1.PluginModule:
		o = stripModule(v)
	}
	return store.Wrap(o)
}
