package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	"github.com/shoal-project/shoal/core/ca"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/client"
)

func newCACmd() *cobra.Command {
	var pemOut bool
	c := &cobra.Command{
		Use:   "ca",
		Short: "Show the cluster's root CA and any rotation in progress",
		Args:  cobra.NoArgs,
	}
	c.Flags().BoolVar(&pemOut, "pem", false, "print the root certificate (PEM) only")
	c.AddCommand(newCARotateCmd())
	return withClient(c, func(cmd *cobra.Command, cl *client.Client, _ []string) error {
		st, err := loadRotation(cmd.Context(), cl)
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		if pemOut {
			_, err := out.Write(st.cluster.GetRootCa().GetCaCertPem())
			return err
		}
		fmt.Fprintf(out, "Root CA:   %s%s\n", st.cluster.GetRootCa().GetDigest(), rootExpiry(st.cluster.GetRootCa().GetCaCertPem()))
		rot := st.cluster.GetRootRotation()
		if rot == nil {
			fmt.Fprintln(out, "Rotation:  none")
			return nil
		}
		fmt.Fprintf(out, "Rotation:  to %s since %s: %d of %d nodes moved\n", rot.GetDigest(), rot.GetStarted().AsTime().Format(time.RFC3339), st.moved, st.total)
		for _, id := range st.left {
			fmt.Fprintf(out, "  waiting for %s\n", id)
		}
		return nil
	})
}

func rootExpiry(certPEM []byte) string {
	cert, err := ca.ParseCertPEM(certPEM)
	if err != nil {
		return ""
	}
	return " (expires " + cert.NotAfter.Format(time.RFC3339) + ")"
}

func newCARotateCmd() *cobra.Command {
	var certFile, keyFile string
	var detach bool
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "rotate [--cert FILE --key FILE] [--detach]",
		Short: "Move the cluster to a new root CA (made, or given): every node gets a certificate from it, then the old root is dropped",
		Args:  cobra.NoArgs,
	}
	fl := c.Flags()
	fl.StringVar(&certFile, "cert", "", "the new root certificate (PEM, self-signed, subject O = the cluster ID); default: a new root is made")
	fl.StringVar(&keyFile, "key", "", "the new root's private key (PEM, ECDSA P-256); with --cert")
	fl.BoolVar(&detach, "detach", false, "return once the rotation has started instead of following it")
	fl.DurationVar(&timeout, "timeout", 10*time.Minute, "how long to follow the rotation before returning (it goes on)")
	return withClient(c, func(cmd *cobra.Command, cl *client.Client, _ []string) error {
		req, err := rotateRequest(certFile, keyFile)
		if err != nil {
			return err
		}
		res, err := cl.Control.RotateRootCA(cmd.Context(), connect.NewRequest(req))
		if err != nil {
			return hintOn(err, connect.CodeFailedPrecondition, "see 'shoal ca' for the nodes it waits for")
		}
		digest := res.Msg.GetCluster().GetRootRotation().GetDigest()
		if !detach {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			if err := followRotation(ctx, cl, digest, cmd.ErrOrStderr()); err != nil {
				return err
			}
		}
		fmt.Fprintln(cmd.OutOrStdout(), digest)
		if !detach {
			fmt.Fprintln(cmd.ErrOrStderr(), "The join tokens now pin the new root: see 'shoal join-token worker' and 'shoal join-token manager'.")
		}
		return nil
	})
}

func rotateRequest(certFile, keyFile string) (*shoalv1.RotateRootCARequest, error) {
	if (certFile == "") != (keyFile == "") {
		return nil, fmt.Errorf("--cert and --key: give both (the new root and its key) or neither (a new root is made)")
	}
	req := &shoalv1.RotateRootCARequest{}
	if certFile == "" {
		return req, nil
	}
	var err error
	if req.CaCertPem, err = os.ReadFile(certFile); err != nil {
		return nil, fmt.Errorf("--cert: %w", err)
	}
	if req.CaKeyPem, err = os.ReadFile(keyFile); err != nil {
		return nil, fmt.Errorf("--key: %w", err)
	}
	return req, nil
}

// rotationState is the cluster's root and how far a rotation got.
type rotationState struct {
	cluster      *shoalv1.Cluster
	moved, total int
	left         []string
}

func loadRotation(ctx context.Context, cl *client.Client) (rotationState, error) {
	cres, err := cl.Control.GetCluster(ctx, connect.NewRequest(&shoalv1.GetClusterRequest{}))
	if err != nil {
		return rotationState{}, err
	}
	st := rotationState{cluster: cres.Msg.GetCluster()}
	rot := st.cluster.GetRootRotation()
	if rot == nil {
		return st, nil
	}
	nres, err := cl.Control.ListNodes(ctx, connect.NewRequest(&shoalv1.ListNodesRequest{}))
	if err != nil {
		return rotationState{}, err
	}
	for _, n := range nres.Msg.GetNodes() {
		if n.GetStatus().GetState() == shoalv1.NodeState_NODE_STATE_DOWN {
			continue
		}
		st.total++
		if n.GetCertIssuerDigest() == rot.GetDigest() {
			st.moved++
		} else {
			st.left = append(st.left, n.GetId()+" ("+n.GetDescription().GetHostname()+")")
		}
	}
	return st, nil
}

// followRotation prints the rotation's progress, as 'docker swarm ca
// --rotate' does, until the cluster's root is digest.
func followRotation(ctx context.Context, cl *client.Client, digest string, w io.Writer) error {
	last := ""
	for {
		st, err := loadRotation(ctx, cl)
		if err != nil {
			return err
		}
		done := st.cluster.GetRootCa().GetDigest() == digest
		caLine := "[>" + strings.Repeat(" ", 30) + "] waiting for every node"
		if done {
			caLine = progressBar(1, 1, true)
		}
		line := "rotated TLS certificates:  " + progressBar(st.moved, st.total, done) + "\nrotated CA certificates:   " + caLine
		if line != last {
			fmt.Fprintln(w, line)
			last = line
		}
		if done {
			return nil
		}
		if st.cluster.GetRootRotation().GetDigest() != digest {
			return fmt.Errorf("the cluster moved to another root (%s): see 'shoal ca'", st.cluster.GetRootCa().GetDigest())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the rotation goes on, %d of %d nodes moved so far: follow it with 'shoal ca' (%w)", st.moved, st.total, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func progressBar(n, total int, done bool) string {
	const width = 30
	if done {
		return "[" + strings.Repeat("=", width) + "] done"
	}
	fill := 0
	if total > 0 {
		fill = width * n / total
	}
	return fmt.Sprintf("[%s>%s] %d/%d nodes", strings.Repeat("=", fill), strings.Repeat(" ", width-fill), n, total)
}
