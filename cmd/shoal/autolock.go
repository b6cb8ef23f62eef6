package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/client"
)

func autolockCommands() []*cobra.Command {
	return []*cobra.Command{newUnlockCmd(), newUnlockKeyCmd()}
}

func newUnlockCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "unlock [--key KEY]",
		Short: "Give a locked manager (restarted while the cluster's autolock is on) its unlock key",
		Args:  cobra.NoArgs,
	}
	key := c.Flags().String("key", "", "the unlock key (default: read from stdin)")
	return withClient(c, func(cmd *cobra.Command, cl *client.Client, _ []string) error {
		k := *key
		if k == "" {
			var err error
			if k, err = readUnlockKey(cmd); err != nil {
				return err
			}
		}
		_, err := cl.Control.UnlockManager(cmd.Context(), connect.NewRequest(&shoalv1.UnlockManagerRequest{UnlockKey: k}))
		if err != nil {
			return hintOn(err, connect.CodePermissionDenied, "'shoal unlock-key' on an unlocked manager prints the current key")
		}
		fmt.Fprintln(cmd.OutOrStdout(), "Manager unlocked.")
		return nil
	})
}

func readUnlockKey(cmd *cobra.Command) (string, error) {
	if term.IsTerminal(int(os.Stdin.Fd())) {
		fmt.Fprint(cmd.ErrOrStderr(), "Unlock key: ")
	}
	line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	if strings.TrimSpace(line) == "" {
		return "", fmt.Errorf("no unlock key on stdin (%v): give --key or type it", err)
	}
	return strings.TrimSpace(line), nil
}

func newUnlockKeyCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "unlock-key [--rotate] [-q]",
		Short: "Print the cluster's unlock key (autolock), or make a new one with --rotate",
		Args:  cobra.NoArgs,
	}
	rotate := c.Flags().Bool("rotate", false, "make a new unlock key (managers rewrap their data under it; keep the old one for managers that are down)")
	quiet := c.Flags().BoolP("quiet", "q", false, "print the key only")
	return withClient(c, func(cmd *cobra.Command, cl *client.Client, _ []string) error {
		return printUnlockKey(cmd, cl, *rotate, *quiet)
	})
}

func printUnlockKey(cmd *cobra.Command, cl *client.Client, rotate, quiet bool) error {
	res, err := cl.Control.GetUnlockKey(cmd.Context(), connect.NewRequest(&shoalv1.GetUnlockKeyRequest{Rotate: rotate}))
	if err != nil {
		return hintOn(err, connect.CodeFailedPrecondition, "turn autolock on with 'shoal cluster update --autolock=true'")
	}
	k := res.Msg.GetUnlockKey()
	if k == "" {
		return fmt.Errorf("autolock is off: turn it on with 'shoal cluster update --autolock=true'")
	}
	if quiet {
		fmt.Fprintln(cmd.OutOrStdout(), k)
		return nil
	}
	fmt.Fprint(cmd.OutOrStdout(), unlockKeyNotice(k))
	return nil
}

// unlockKeyNotice tells where the key is needed ("" without a key).
func unlockKeyNotice(key string) string {
	if key == "" {
		return ""
	}
	return "\nAutolock is on. A manager that restarts waits for its unlock key: run 'shoal unlock' and give it this key:\n\n    " + key +
		"\n\nKeep it safe: it is printed once here, and 'shoal unlock-key' shows it on an unlocked manager.\n"
}
