package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/client"
)

// listTasks lists the tasks of each ref (a service or a node, as req says).
func listTasks(ctx context.Context, cl *client.Client, refs []string, req func(ref string) *shoalv1.ListTasksRequest) ([]*shoalv1.Task, error) {
	var all []*shoalv1.Task
	for _, ref := range refs {
		res, err := cl.Control.ListTasks(ctx, connect.NewRequest(req(ref)))
		if err != nil {
			return nil, err
		}
		all = append(all, res.Msg.GetTasks()...)
	}
	return all, nil
}

// printTasks prints tasks as service ps and node ps do: a table with each
// slot's history under its newest task, or (format json) a JSON array.
func printTasks(cmd *cobra.Command, cl *client.Client, all []*shoalv1.Task, format string, noTrunc bool) error {
	if format == "json" {
		return printJSON(cmd.OutOrStdout(), all...)
	}
	names := nodeNames(cmd, cl)
	sortTasks(all)
	now := time.Now()
	var rows [][]string
	prev := ""
	for _, t := range all {
		name := slotKey(t)
		if t.GetSlot() == 0 {
			name = t.GetServiceName() + "." + shortID(t.GetNodeId())
		}
		if slotKey(t) == prev {
			name = ` \_ ` + name
		}
		prev = slotKey(t)
		id := t.GetId()
		errText := t.GetStatus().GetErr()
		if !noTrunc {
			id = shortID(id)
			if len(errText) > 60 {
				errText = errText[:57] + "..."
			}
		}
		node := names[t.GetNodeId()]
		if node == "" {
			node = shortID(t.GetNodeId())
		}
		cur := enumName(t.GetStatus().GetState().String(), "TASK_STATE_")
		if ts := t.GetStatus().GetTimestamp(); ts != nil {
			cur += " " + strings.ToLower(ago(ts.AsTime(), now)[:1]) + ago(ts.AsTime(), now)[1:]
		}
		rows = append(rows, []string{id, name, node, enumName(t.GetDesiredState().String(), "TASK_STATE_"), cur, errText})
	}
	return table(cmd.OutOrStdout(), []string{"ID", "NAME", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR"}, rows)
}

// slotKey names a task's slot: SERVICE.SLOT, or SERVICE.NODE for a global task.
func slotKey(t *shoalv1.Task) string {
	if t.GetSlot() > 0 {
		return fmt.Sprintf("%s.%d", t.GetServiceName(), t.GetSlot())
	}
	return t.GetServiceName() + "." + t.GetNodeId()
}

// sortTasks orders tasks by service and slot (node for global ones), each
// slot's newest task first.
func sortTasks(all []*shoalv1.Task) {
	sort.SliceStable(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.GetServiceName() != b.GetServiceName() {
			return a.GetServiceName() < b.GetServiceName()
		}
		if a.GetSlot() != b.GetSlot() {
			return a.GetSlot() < b.GetSlot()
		}
		if a.GetSlot() == 0 && a.GetNodeId() != b.GetNodeId() {
			return a.GetNodeId() < b.GetNodeId()
		}
		return a.GetMeta().GetCreatedAt().AsTime().After(b.GetMeta().GetCreatedAt().AsTime())
	})
}
