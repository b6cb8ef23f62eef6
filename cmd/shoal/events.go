package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/client"
)

// eventsReconnectDelay separates the attempts to resume an event stream
// that a manager ended (leader change, manager stopping).
const eventsReconnectDelay = 500 * time.Millisecond

func newEventsCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "events [OPTIONS]",
		Short: "Follow the cluster's changes as they happen",
		Long: `Follow the cluster's changes (docker events): one line per created, updated
or removed node, service, task, network, plugin or cluster, as the managers
apply them. Each line carries the store version of the change; --since
VERSION first prints every change after it that the manager still keeps.
When a manager ends the stream (a leader change), events resumes from the
last version it printed, so nothing is missed or printed twice.`,
		Args: cobra.NoArgs,
	}
	filters := c.Flags().StringArrayP("filter", "f", nil, "filter key=value (repeatable): type, action (or event), id, name; one key's values are ORed, different keys ANDed")
	since := c.Flags().Uint64("since", 0, "print the changes after this store version first (0: only new ones)")
	format := formatFlag(c, "table", "json")
	return withClient(c, func(cmd *cobra.Command, cl *client.Client, _ []string) error {
		req, err := eventsRequest(*filters)
		if err != nil {
			return err
		}
		req.Since = *since
		print := printEventLine
		if *format == "json" {
			print = printEventJSON
		}
		err = followEvents(cmd.Context(), cl, req, gf.timeout, func(e *shoalv1.Event) error {
			return print(cmd.OutOrStdout(), e)
		})
		return hintOn(err, connect.CodeOutOfRange, "run 'shoal events' again without --since, after reading what you need with the ls commands")
	})
}

// eventsRequest turns --filter key=value flags into a request.
func eventsRequest(filters []string) (*shoalv1.WatchEventsRequest, error) {
	req := &shoalv1.WatchEventsRequest{}
	for _, f := range filters {
		k, v, ok := strings.Cut(f, "=")
		if !ok || v == "" {
			return nil, fmt.Errorf("--filter %q: want key=value (type, action, id or name)", f)
		}
		switch k {
		case "type":
			req.Types = append(req.Types, v)
		case "action", "event":
			req.Actions = append(req.Actions, v)
		case "id":
			req.Ids = append(req.Ids, v)
		case "name":
			req.Names = append(req.Names, v)
		default:
			return nil, fmt.Errorf("--filter %q: unknown key %q (want type, action, id or name)", f, k)
		}
	}
	return req, nil
}

// followEvents streams events to emit until ctx ends. A stream the manager
// ends with Unavailable is resumed from the last version seen, for as long
// as reconnecting fails for less than budget (0: forever).
func followEvents(ctx context.Context, cl *client.Client, req *shoalv1.WatchEventsRequest, budget time.Duration, emit func(*shoalv1.Event) error) error {
	failingSince := time.Time{}
	for {
		progressed, err := watchOnce(ctx, cl, req, emit)
		switch {
		case ctx.Err() != nil:
			return nil
		case connect.CodeOf(err) != connect.CodeUnavailable:
			return err
		case progressed || failingSince.IsZero():
			failingSince = time.Now()
		case budget > 0 && time.Since(failingSince) > budget:
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(eventsReconnectDelay):
		}
	}
}

// watchOnce runs one stream, advancing req.Since with every message; it
// reports whether the stream got any message.
func watchOnce(ctx context.Context, cl *client.Client, req *shoalv1.WatchEventsRequest, emit func(*shoalv1.Event) error) (bool, error) {
	stream, err := cl.Control.WatchEvents(ctx, connect.NewRequest(req))
	if err != nil {
		return false, err
	}
	defer stream.Close()
	progressed := false
	for stream.Receive() {
		progressed = true
		for _, e := range stream.Msg().GetEvents() {
			if err := emit(e); err != nil {
				return progressed, err
			}
		}
		req.Since = max(req.Since, stream.Msg().GetVersion())
	}
	return progressed, stream.Err()
}

// printEventLine prints an event as docker events does: time, type,
// action, ID, then the attributes in parentheses.
func printEventLine(w io.Writer, e *shoalv1.Event) error {
	_, err := fmt.Fprintf(w, "%s %s %s %s (name=%s, version=%d%s)\n",
		e.GetTime().AsTime().UTC().Format(time.RFC3339Nano), e.GetType(), e.GetAction(), e.GetId(), e.GetName(), e.GetVersion(), rebalanceNote(e))
	return err
}

// printEventJSON prints an event as one line of JSON.
func printEventJSON(w io.Writer, e *shoalv1.Event) error {
	b, err := protojson.Marshal(e)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}
