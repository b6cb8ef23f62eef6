package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-project/shoal/internal/client"
)

// formatFlag adds --format with the formats the command supports (the
// first is the default) and refuses any other before the command runs.
func formatFlag(c *cobra.Command, formats ...string) *string {
	f := new(string)
	c.Flags().StringVar(f, "format", formats[0], "output format: "+strings.Join(formats, " or "))
	c.PreRunE = func(cmd *cobra.Command, _ []string) error {
		if !slices.Contains(formats, *f) {
			return fmt.Errorf("--format %q: %s prints %s", *f, cmd.CommandPath(), strings.Join(formats, " or "))
		}
		return nil
	}
	return f
}

var jsonOpts = protojson.MarshalOptions{Multiline: true, Indent: "  ", EmitUnpopulated: false}

// printJSON prints one message, or a JSON array of messages.
func printJSON[M proto.Message](w io.Writer, msgs ...M) error {
	parts := make([]string, 0, len(msgs))
	for _, m := range msgs {
		b, err := jsonOpts.Marshal(m)
		if err != nil {
			return err
		}
		parts = append(parts, string(b))
	}
	_, err := fmt.Fprintln(w, "["+strings.Join(parts, ",\n")+"]")
	return err
}

// printOneJSON prints a single message as a JSON object.
func printOneJSON(w io.Writer, m proto.Message) error {
	b, err := jsonOpts.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

// table prints rows under a header with aligned columns.
func table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// enumName turns NODE_STATE_READY into "Ready".
func enumName(s, prefix string) string {
	s = strings.TrimPrefix(s, prefix)
	if s == "" || s == "UNSPECIFIED" {
		return ""
	}
	words := strings.Split(strings.ToLower(s), "_")
	words[0] = strings.ToUpper(words[0][:1]) + words[0][1:]
	return strings.Join(words, " ")
}

// ago prints "8 seconds ago" the way docker does.
func ago(t time.Time, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return "Less than a second ago"
	case d < time.Minute:
		return plural(int(d.Seconds()), "second") + " ago"
	case d < time.Hour:
		return plural(int(d.Minutes()), "minute") + " ago"
	case d < 48*time.Hour:
		return plural(int(d.Hours()), "hour") + " ago"
	default:
		return plural(int(d.Hours()/24), "day") + " ago"
	}
}

func plural(n int, unit string) string {
	if n == 1 {
		if unit == "hour" {
			return "About an hour"
		}
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// withClient makes c dial a manager and run f with the client.
func withClient(c *cobra.Command, f func(cmd *cobra.Command, cl *client.Client, args []string) error) *cobra.Command {
	c.RunE = func(cmd *cobra.Command, args []string) error {
		cl, err := dial()
		if err != nil {
			return err
		}
		return f(cmd, cl, args)
	}
	return c
}

// listCmd is an "ls" command: list fetches the items through a manager;
// they print as a table (printTable), or with --format json as a JSON array.
func listCmd[M proto.Message](short string, list func(ctx context.Context, cl *client.Client) ([]M, error), printTable func(w io.Writer, items []M) error) *cobra.Command {
	c := &cobra.Command{Use: "ls", Aliases: []string{"list"}, Short: short, Args: cobra.NoArgs}
	format := formatFlag(c, "table", "json")
	return withClient(c, func(cmd *cobra.Command, cl *client.Client, _ []string) error {
		items, err := list(cmd.Context(), cl)
		if err != nil {
			return err
		}
		if *format == "json" {
			return printJSON(cmd.OutOrStdout(), items...)
		}
		return printTable(cmd.OutOrStdout(), items)
	})
}

// inspectCmd is an "inspect REF..." command: it gets each argument through
// a manager and prints them as a JSON array.
func inspectCmd[M proto.Message](use, short string, get func(ctx context.Context, cl *client.Client, ref string) (M, error)) *cobra.Command {
	c := &cobra.Command{Use: use, Short: short, Args: cobra.MinimumNArgs(1)}
	formatFlag(c, "json")
	return withClient(c, func(cmd *cobra.Command, cl *client.Client, args []string) error {
		out := make([]M, 0, len(args))
		for _, a := range args {
			m, err := get(cmd.Context(), cl, a)
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return printJSON(cmd.OutOrStdout(), out...)
	})
}

// eachArgCmd is a command that does act to each argument through a manager
// and prints done with the argument (docker's rm commands print the name).
func eachArgCmd(c *cobra.Command, done string, act func(ctx context.Context, cl *client.Client, arg string) error) *cobra.Command {
	return withClient(c, func(cmd *cobra.Command, cl *client.Client, args []string) error {
		for _, a := range args {
			if err := act(cmd.Context(), cl, a); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), done, a)
		}
		return nil
	})
}

// removeCmd is an "rm NAME..." command that removes each argument with rm.
func removeCmd(use, short string, rm func(ctx context.Context, cl *client.Client, name string) error) *cobra.Command {
	return eachArgCmd(&cobra.Command{Use: use, Aliases: []string{"remove"}, Short: short, Args: cobra.MinimumNArgs(1)}, "%s\n", rm)
}
