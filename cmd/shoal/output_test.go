package main

import (
	"errors"
	"testing"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
)

// walk calls f on every command under c.
func walk(c *cobra.Command, f func(*cobra.Command)) {
	f(c)
	for _, sub := range c.Commands() {
		walk(sub, f)
	}
}

func TestEveryLsCommandOffersTableAndJSON(t *testing.T) {
	n := 0
	walk(newRootCmd(), func(c *cobra.Command) {
		if c.Name() != "ls" {
			return
		}
		n++
		f := c.Flags().Lookup("format")
		if f == nil || f.Usage != "output format: table or json" || f.DefValue != "table" {
			t.Errorf("%s: --format %v, want table (default) or json", c.CommandPath(), f)
		}
	})
	if n < 3 {
		t.Fatalf("found %d ls commands, want node, service and plugin ls", n)
	}
}

func TestFormatFlagRefusesWhatTheCommandDoesNotPrint(t *testing.T) {
	c := &cobra.Command{Use: "inspect"}
	format := formatFlag(c, "json")
	for _, tc := range []struct {
		value string
		ok    bool
	}{{"json", true}, {"table", false}, {"yaml", false}} {
		*format = tc.value
		if err := c.PreRunE(c, nil); (err == nil) != tc.ok {
			t.Errorf("--format %s: err = %v, want ok=%v", tc.value, err, tc.ok)
		}
	}
}

func TestHintFor(t *testing.T) {
	notFound := func(kind string) error {
		err := connect.NewError(connect.CodeNotFound, errors.New(kind+` "x" not found`))
		if kind != "" {
			d, derr := connect.NewErrorDetail(&errdetails.ResourceInfo{ResourceType: kind, ResourceName: "x"})
			if derr != nil {
				t.Fatal(derr)
			}
			err.AddDetail(d)
		}
		return err
	}
	precond := connect.NewError(connect.CodeFailedPrecondition, errors.New("in use"))
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"service not found", notFound("service"), "list services with 'shoal service ls'"},
		{"node not found", notFound("node"), "list nodes with 'shoal node ls'"},
		{"not found without detail", notFound(""), ""},
		{"hint on its code", hintOn(precond, connect.CodeFailedPrecondition, "do this"), "do this"},
		{"hint on another code", hintOn(precond, connect.CodeNotFound, "do this"), ""},
		{"plain error", errors.New("boom"), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := hintFor(tc.err); got != tc.want {
				t.Errorf("hintFor = %q, want %q", got, tc.want)
			}
		})
	}
}
