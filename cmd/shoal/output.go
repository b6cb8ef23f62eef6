package main

import (
	"context"

	"fmt"
	"github.com/shoal-project/shoal/internal/client"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// addFormatFlag adds --format table|json to a listing or inspect command.
func addFormatFlag(c *cobra.Command, def string) *string {
	f := new(string)
	c.Flags().StringVar(f, "format", def, "output format: table or json")
	return f
}

func checkFormat(f string, allowed ...string) error {
	for _, a := range allowed {
		if f == a {
			return nil
		}
	}
	return fmt.Errorf("--format %q: use one of %s", f, strings.Join(allowed, ", "))
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

// removeCmd is an "rm NAME..." command: it removes each argument with rm
// through a manager and prints its name, as docker's rm commands do.
func removeCmd(use, short string, rm func(ctx context.Context, cl *client.Client, name string) error) *cobra.Command {
	c := &cobra.Command{Use: use, Aliases: []string{"remove"}, Short: short, Args: cobra.MinimumNArgs(1)}
	c.RunE = func(cmd *cobra.Command, args []string) error {
		cl, err := dial()
		if err != nil {
			return err
		}
		for _, a := range args {
			if err := rm(cmd.Context(), cl, a); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), a)
		}
		return nil
	}
	return c
}
