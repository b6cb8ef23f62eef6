package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-project/shoal/core/secrets"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/client"
)

// fileKind is what the secret and config commands differ in.
type fileKind[M proto.Message] struct {
	name   string // "secret", "config"
	create func(ctx context.Context, cl *client.Client, name string, labels map[string]string, data []byte) (string, error)
	list   func(ctx context.Context, cl *client.Client) ([]M, error)
	get    func(ctx context.Context, cl *client.Client, ref string) (M, error)
	remove func(ctx context.Context, cl *client.Client, ref string) error
	row    func(M) (id, name string, size uint64, created time.Time)
}

func newSecretCmd() *cobra.Command {
	return fileCmds(fileKind[*shoalv1.Secret]{
		name: "secret",
		create: func(ctx context.Context, cl *client.Client, name string, labels map[string]string, data []byte) (string, error) {
			res, err := msgOf(cl.Control.CreateSecret(ctx, connect.NewRequest(&shoalv1.CreateSecretRequest{Spec: &shoalv1.SecretSpec{Name: name, Labels: labels, Data: data}})))
			return res.GetSecret().GetId(), err
		},
		list: func(ctx context.Context, cl *client.Client) ([]*shoalv1.Secret, error) {
			res, err := msgOf(cl.Control.ListSecrets(ctx, connect.NewRequest(&shoalv1.ListSecretsRequest{})))
			return res.GetSecrets(), err
		},
		get: func(ctx context.Context, cl *client.Client, ref string) (*shoalv1.Secret, error) {
			res, err := msgOf(cl.Control.GetSecret(ctx, connect.NewRequest(&shoalv1.GetSecretRequest{Secret: ref})))
			return res.GetSecret(), err
		},
		remove: func(ctx context.Context, cl *client.Client, ref string) error {
			_, err := cl.Control.RemoveSecret(ctx, connect.NewRequest(&shoalv1.RemoveSecretRequest{Secret: ref}))
			return err
		},
		row: func(s *shoalv1.Secret) (string, string, uint64, time.Time) {
			return s.GetId(), s.GetSpec().GetName(), s.GetSize(), s.GetMeta().GetCreatedAt().AsTime()
		},
	})
}

func newConfigCmd() *cobra.Command {
	return fileCmds(fileKind[*shoalv1.Config]{
		name: "config",
		create: func(ctx context.Context, cl *client.Client, name string, labels map[string]string, data []byte) (string, error) {
			res, err := msgOf(cl.Control.CreateConfig(ctx, connect.NewRequest(&shoalv1.CreateConfigRequest{Spec: &shoalv1.ConfigSpec{Name: name, Labels: labels, Data: data}})))
			return res.GetConfig().GetId(), err
		},
		list: func(ctx context.Context, cl *client.Client) ([]*shoalv1.Config, error) {
			res, err := msgOf(cl.Control.ListConfigs(ctx, connect.NewRequest(&shoalv1.ListConfigsRequest{})))
			return res.GetConfigs(), err
		},
		get: func(ctx context.Context, cl *client.Client, ref string) (*shoalv1.Config, error) {
			res, err := msgOf(cl.Control.GetConfig(ctx, connect.NewRequest(&shoalv1.GetConfigRequest{Config: ref})))
			return res.GetConfig(), err
		},
		remove: func(ctx context.Context, cl *client.Client, ref string) error {
			_, err := cl.Control.RemoveConfig(ctx, connect.NewRequest(&shoalv1.RemoveConfigRequest{Config: ref}))
			return err
		},
		row: func(c *shoalv1.Config) (string, string, uint64, time.Time) {
			return c.GetId(), c.GetSpec().GetName(), uint64(len(c.GetSpec().GetData())), c.GetMeta().GetCreatedAt().AsTime()
		},
	})
}

// fileCmds are the create, ls, inspect and rm commands of secrets or configs.
func fileCmds[M proto.Message](k fileKind[M]) *cobra.Command {
	c := &cobra.Command{Use: k.name, Short: fmt.Sprintf("Manage %ss (files a service's tasks get, kept in memory on the nodes)", k.name)}
	list := func(ctx context.Context, cl *client.Client) ([]M, error) {
		items, err := k.list(ctx, cl)
		sort.Slice(items, func(i, j int) bool {
			_, a, _, _ := k.row(items[i])
			_, b, _, _ := k.row(items[j])
			return a < b
		})
		return items, err
	}
	ls := listCmd("List "+k.name+"s", list, func(w io.Writer, items []M) error {
		rows := make([][]string, 0, len(items))
		now := time.Now()
		for _, it := range items {
			id, name, size, created := k.row(it)
			rows = append(rows, []string{shortID(id), name, fmt.Sprint(size), ago(created, now)})
		}
		return table(w, []string{"ID", "NAME", "SIZE", "CREATED"}, rows)
	})
	what := "Show " + k.name + "s in detail"
	if k.name == "secret" {
		what += " (never their data)"
	}
	inspect := inspectCmd("inspect "+strings.ToUpper(k.name)+"...", what, k.get)
	rm := removeCmd("rm "+strings.ToUpper(k.name)+"...", "Remove "+k.name+"s no service uses", func(ctx context.Context, cl *client.Client, ref string) error {
		return hintOn(k.remove(ctx, cl, ref), connect.CodeFailedPrecondition,
			fmt.Sprintf("take it out of each service with 'shoal service update --%s-rm %s SERVICE', or remove the services", k.name, ref))
	})
	c.AddCommand(newFileCreateCmd(k), ls, inspect, rm)
	return c
}

func newFileCreateCmd[M proto.Message](k fileKind[M]) *cobra.Command {
	var labels []string
	c := &cobra.Command{Use: "create [OPTIONS] NAME FILE|-", Args: cobra.ExactArgs(2),
		Short: fmt.Sprintf("Create a %s from a file, or from standard input with -", k.name)}
	c.Flags().StringArrayVarP(&labels, "label", "l", nil, k.name+" label key=value (repeatable)")
	return withClient(c, func(cmd *cobra.Command, cl *client.Client, args []string) error {
		kv, err := parseKV("label", labels)
		if err != nil {
			return err
		}
		data, err := readFileArg(cmd.InOrStdin(), args[1])
		if err != nil {
			return err
		}
		id, err := k.create(cmd.Context(), cl, args[0], kv, data)
		if err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), id)
		return nil
	})
}

// readFileArg reads FILE, or stdin for "-", up to one byte past the size
// limit (the manager says what the limit is).
func readFileArg(stdin io.Reader, name string) ([]byte, error) {
	r := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	return io.ReadAll(io.LimitReader(r, secrets.MaxSize+1))
}

// msgOf is the message of an answer; nil (whose getters return zero
// values) when the call failed.
func msgOf[T any](res *connect.Response[T], err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}
