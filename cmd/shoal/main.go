package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"connectrpc.com/connect"
)

func main() {
	reexecHooks()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "shoal: "+describeError(err))
		if h := hintFor(err); h != "" {
			fmt.Fprintln(os.Stderr, "hint: "+h)
		}
		os.Exit(1)
	}
}

// describeError turns an API error into one line a person can act on.
func describeError(err error) string {
	var ce *connect.Error
	if errors.As(err, &ce) {
		switch ce.Code() {
		case connect.CodeUnavailable:
			return "manager unavailable: " + ce.Message()
		default:
			return ce.Message() + " (" + ce.Code().String() + ")"
		}
	}
	return err.Error()
}
