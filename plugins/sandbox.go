package plugins

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/shoal-project/shoal/sdk"
)

// SandboxEnv is the environment variable that turns this binary into a
// plugin sandbox process.
const SandboxEnv = "SHOAL_PLUGIN_SANDBOX"

// maxRequestFrame caps what the sandbox accepts from the host: modules and
// large scheduling batches.
const maxRequestFrame = 512 << 20

// MaybeRunSandbox turns the process into a plugin sandbox when SandboxEnv is
// set, and never returns in that case; otherwise it returns at once. Call it
// first thing in main and in the TestMain of every package whose tests
// create a Host.
func MaybeRunSandbox() {
	if os.Getenv(SandboxEnv) != "1" {
		return
	}
	// The protocol runs on fds 3 (requests) and 4 (replies); stdout and
	// stderr go to the host's log.
	in := os.NewFile(3, "shoal-plugin-requests")
	out := os.NewFile(4, "shoal-plugin-replies")
	if err := serveSandbox(context.Background(), in, out); err != nil && err != io.EOF {
		fmt.Fprintln(os.Stderr, "plugin sandbox:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// serveSandbox answers requests until in is closed. It runs wazero without
// WithCloseOnContextDone: the host enforces deadlines by killing the
// process.
func serveSandbox(ctx context.Context, in io.Reader, out io.Writer) error {
	f, err := readFrame(in, maxRequestFrame)
	if err != nil {
		return err
	}
	if f.typ != frameConfig {
		return fmt.Errorf("first frame is %d, want config", f.typ)
	}
	fs, err := decodeFields(f.payload)
	if err != nil {
		return err
	}
	cfg := engineConfig{
		cacheDir:  string(fs.bytes[1]),
		memPages:  uint32(fs.varints[2]),
		maxOutput: uint32(fs.varints[3]),
		maxLog:    uint32(fs.varints[4]),
		poolSize:  int(fs.varints[5]),
	}
	e, err := newEngine(ctx, cfg)
	if err != nil {
		_ = writeFrame(out, frameErr, encodeFields(nil, 1, errorCode(ErrSandbox), 2, err.Error()))
		return err
	}
	defer e.close(ctx)
	if err := writeFrame(out, frameOK, nil); err != nil {
		return err
	}
	for {
		f, err := readFrame(in, maxRequestFrame)
		if err != nil {
			return err
		}
		typ, payload := handleFrame(ctx, e, f)
		if err := writeFrame(out, typ, payload); err != nil {
			return err
		}
	}
}

func errFrame(err error, logs string) (frameType, []byte) {
	return frameErr, encodeFields(nil, 1, errorCode(err), 2, detailOf(err), 3, logs)
}

func detailOf(err error) string {
	if ce, ok := err.(*codedError); ok {
		return ce.detail
	}
	for _, e := range errorCodes {
		if e == err {
			return ""
		}
	}
	return err.Error()
}

func handleFrame(ctx context.Context, e *engine, f frame) (frameType, []byte) {
	fs, err := decodeFields(f.payload)
	if err != nil {
		return errFrame(errorf(ErrSandbox, "bad frame: %v", err), "")
	}
	switch f.typ {
	case frameLoad:
		if err := e.load(ctx, string(fs.bytes[1]), fs.bytes[2]); err != nil {
			return errFrame(err, "")
		}
		return frameOK, nil
	case frameValidate:
		info, err := e.validate(ctx, fs.bytes[1], Kind(fs.bytes[2]))
		if err != nil {
			return errFrame(err, "")
		}
		return frameOK, encodeFields(nil, 1, uint64(info.ABIVersion), 2, uint64(info.Capabilities))
	case frameCall:
		o := op(fs.varints[2])
		if o != opSchedule && o != opAllocate && o != opRebalance {
			return errFrame(errorf(ErrSandbox, "unknown op %d", o), "")
		}
		answer, logs, err := e.call(ctx, string(fs.bytes[1]), o, fs.bytes[3])
		if err != nil {
			return errFrame(err, logs)
		}
		return frameResult, encodeFields(nil, 1, answer, 2, logs)
	case frameUnload:
		e.unload(ctx, string(fs.bytes[1]))
		return frameOK, nil
	}
	return errFrame(errorf(ErrSandbox, "unknown frame type %d", f.typ), "")
}

// infoFromOK decodes a validate reply.
func infoFromOK(payload []byte) (Info, error) {
	fs, err := decodeFields(payload)
	if err != nil {
		return Info{}, err
	}
	return Info{ABIVersion: uint32(fs.varints[1]), Capabilities: sdk.Capability(fs.varints[2])}, nil
}
