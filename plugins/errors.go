package plugins

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every failure of a call is a *CallError wrapping one of
// the first group; module validation wraps one of the second.
var (
	// ErrTimeout: the call overran its deadline; the sandbox was restarted.
	ErrTimeout = errors.New("plugin call timed out")
	// ErrTrap: the guest trapped (Go panic outside the sdk's recover, out of
	// memory under the page limit, exit); the instance was discarded.
	ErrTrap = errors.New("plugin trapped")
	// ErrInvalidAnswer: the answer does not decode or fails validation.
	ErrInvalidAnswer = errors.New("plugin answer invalid")
	// ErrOutputTooLarge: the answer exceeds HostConfig.MaxOutput.
	ErrOutputTooLarge = errors.New("plugin answer too large")
	// ErrPluginFailed: the guest answered with its Error field set (for
	// example a panic recovered by the sdk).
	ErrPluginFailed = errors.New("plugin reported an error")
	// ErrNotLoaded: no module with that digest was loaded.
	ErrNotLoaded = errors.New("plugin not loaded")
	// ErrSandbox: the sandbox process failed or could not be started.
	ErrSandbox = errors.New("plugin sandbox failure")
	// ErrClosed: the host was closed.
	ErrClosed = errors.New("plugin host closed")

	// ErrInvalidModule: the bytes are not a usable Wasm module.
	ErrInvalidModule = errors.New("invalid plugin module")
	// ErrABIVersion: the module speaks another ABI version.
	ErrABIVersion = errors.New("plugin ABI version mismatch")
	// ErrMissingExport: a required export is missing or has the wrong type.
	ErrMissingExport = errors.New("plugin missing export")
	// ErrCapability: the module does not offer the capability of its kind.
	ErrCapability = errors.New("plugin lacks capability")
	// ErrDigestMismatch: the sha256 given does not match the bytes.
	ErrDigestMismatch = errors.New("plugin digest mismatch")
)

// CallError describes a failed plugin call. Err is one of the sentinels
// above; errors.Is works through it.
type CallError struct {
	Op     string // "schedule", "allocate", "load", "validate"
	Plugin string // sha256 hex (may be shortened in messages)
	Err    error
	Detail string
}

func (e *CallError) Error() string {
	p := e.Plugin
	if len(p) > 12 {
		p = p[:12]
	}
	if e.Detail == "" {
		return fmt.Sprintf("plugin %s %s: %v", p, e.Op, e.Err)
	}
	return fmt.Sprintf("plugin %s %s: %v: %s", p, e.Op, e.Err, e.Detail)
}

func (e *CallError) Unwrap() error { return e.Err }

// Error codes carried over the sandbox pipe, one per sentinel.
var errorCodes = []error{
	nil, ErrTimeout, ErrTrap, ErrInvalidAnswer, ErrOutputTooLarge, ErrPluginFailed,
	ErrNotLoaded, ErrSandbox, ErrClosed, ErrInvalidModule, ErrABIVersion,
	ErrMissingExport, ErrCapability, ErrDigestMismatch,
}

func errorCode(err error) uint64 {
	for i, e := range errorCodes {
		if e != nil && errors.Is(err, e) {
			return uint64(i)
		}
	}
	return uint64(indexOf(ErrSandbox))
}

func codeError(c uint64) error {
	if c == 0 || c >= uint64(len(errorCodes)) {
		return ErrSandbox
	}
	return errorCodes[c]
}

func indexOf(err error) int {
	for i, e := range errorCodes {
		if e == err {
			return i
		}
	}
	return 0
}

// codedError is an error with a sentinel and a detail, as produced by the
// engine and carried across the pipe.
type codedError struct {
	sentinel error
	detail   string
}

func (e *codedError) Error() string {
	if e.detail == "" {
		return e.sentinel.Error()
	}
	return e.sentinel.Error() + ": " + e.detail
}
func (e *codedError) Unwrap() error { return e.sentinel }

func errorf(sentinel error, format string, args ...any) error {
	return &codedError{sentinel: sentinel, detail: fmt.Sprintf(format, args...)}
}
