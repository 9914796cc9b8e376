// Package sandbox runs a render pipeline in a child process of the
// operator's own binary, with a memory limit the kernel enforces and a
// deadline that kills it.
//
// Why a process: go-jsonnet, helm's template engine and kustomize take no
// context, so a render that outlives its step timeout cannot be stopped
// inside the manager; it keeps a core busy until it ends, if it ends. And
// no library bounds what a render allocates: `std.makeArray(1e9, ...)` in
// a tenant's Jsonnet would take the manager down with every other tenant's
// sync. A child process is bounded by the kernel (RLIMIT_DATA, RLIMIT_CPU)
// and killed at the deadline, and its death costs one render, the way
// Argo CD's repo-server runs helm and kustomize as processes. The child
// starts with an empty environment, so the operator's cloud credentials are
// not there for a render to find (unless sops cloud KMS is allowed).
package sandbox

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/filetree"
	"github.com/configsync/configsync/renderers"
)

// envChild marks a process started to render; its value is ignored.
const envChild = "CONFIGSYNC_RENDER_SANDBOX"

// DefaultMemoryLimit is what one render may allocate beyond the child's
// start and its input. A chart rendering 5,000 objects (5 MiB of YAML)
// fits in a quarter of it, and four renders at once (--concurrent) beside the
// manager stay inside the Deployment's 1.5 GiB limit.
const DefaultMemoryLimit = 256 << 20

// ErrMemoryLimit says a render needed more memory than the sandbox allows.
var ErrMemoryLimit = errors.New("the render needed more memory than the sandbox allows")

// Runner renders in child processes. Its zero value runs the current
// executable with DefaultMemoryLimit.
type Runner struct {
	// Executable is the binary to start; it must call ServeIfChild first
	// thing in main (or TestMain). Empty means os.Executable().
	Executable string
	// MemoryLimit bounds the memory a render may map beyond what the child
	// holds once it has read its request; 0 means DefaultMemoryLimit.
	MemoryLimit int64
	// StepTimeout bounds each step; 0 means renderers.StepTimeout.
	StepTimeout time.Duration
	// PassEnvironment gives the child the manager's environment. Only sops
	// cloud KMS needs it (the ambient cloud credentials); otherwise the
	// child starts with nothing but the sandbox marker.
	PassEnvironment bool
}

// request is what the child reads from its stdin.
type request struct {
	Steps       []configsv1.RenderStep
	Inputs      renderers.Inputs
	Tree        filetree.Tree
	StepTimeout time.Duration
	MemoryLimit int64
}

// response is what the child writes to its stdout.
type response struct {
	Tree filetree.Tree
	// Step is set when a step failed (1-based, as renderers.StepError).
	Step     int
	StepKind string
	Err      string
}

func init() {
	// Values decoded from YAML or JSON hold these in interfaces.
	gob.Register(map[string]any{})
	gob.Register([]any{})
}

// Run renders tree through steps in a child process, as renderers.Run does
// in this one. A step's error comes back as a *renderers.StepError with its
// message; a render over the memory limit fails with ErrMemoryLimit and one
// past its deadline with context.DeadlineExceeded.
func (r *Runner) Run(ctx context.Context, steps []configsv1.RenderStep, in renderers.Inputs, tree filetree.Tree) (filetree.Tree, error) {
	if len(steps) == 0 {
		return tree, nil // nothing to isolate
	}
	var body bytes.Buffer
	req := request{Steps: steps, Inputs: in, Tree: tree, StepTimeout: r.stepTimeout(), MemoryLimit: r.memoryLimit()}
	if err := gob.NewEncoder(&body).Encode(&req); err != nil {
		return nil, fmt.Errorf("sandbox: encode the render request: %w", err)
	}
	// Each step stops itself at its timeout and the child exits with it;
	// the deadline here catches a child that cannot even do that (a
	// garbage collector thrashing at the memory limit).
	deadline := time.Duration(len(steps))*req.StepTimeout + 10*time.Second
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	out, stderr, err := r.start(ctx, &body, len(steps))
	if err != nil {
		return nil, childError(ctx, deadline, stderr, req.MemoryLimit, err)
	}
	var resp response
	if err := gob.NewDecoder(bytes.NewReader(out)).Decode(&resp); err != nil {
		return nil, fmt.Errorf("sandbox: read the render's answer: %w", err)
	}
	return resp.result()
}

func (r *Runner) stepTimeout() time.Duration {
	if r.StepTimeout > 0 {
		return r.StepTimeout
	}
	return renderers.StepTimeout
}

func (r *Runner) memoryLimit() int64 {
	if r.MemoryLimit > 0 {
		return r.MemoryLimit
	}
	return DefaultMemoryLimit
}

// start runs the child with body on its stdin and returns its stdout.
func (r *Runner) start(ctx context.Context, body io.Reader, steps int) (stdout []byte, stderr string, err error) {
	exe := r.Executable
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return nil, "", fmt.Errorf("sandbox: find the operator's binary: %w", err)
		}
	}
	cmd := exec.Command(exe)
	cmd.Env = []string{envChild + "=1"}
	if r.PassEnvironment {
		cmd.Env = append(os.Environ(), cmd.Env...)
	}
	cmd.Stdin = body
	var out bytes.Buffer
	errs := &headBuffer{max: 16 << 10}
	cmd.Stdout, cmd.Stderr = &out, errs
	// The child dies with the manager, and a killed child's pipes close
	// at once even if it started something.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("sandbox: start the render process: %w", err)
	}
	// Not exec.CommandContext: its watcher may outlive Wait, and nothing
	// of a render may outlive Run.
	exited, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-ctx.Done():
			_ = cmd.Process.Kill()
		case <-exited:
		}
	}()
	err = cmd.Wait()
	close(exited)
	<-watched
	return out.Bytes(), errs.String(), err
}

// childError says why a child ended without an answer.
func childError(ctx context.Context, deadline time.Duration, stderr string, limit int64, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("sandbox: killed after %s: %w", deadline, ctx.Err())
	case strings.Contains(stderr, "out of memory") || strings.Contains(stderr, "cannot allocate memory"):
		return fmt.Errorf("%w (%d MiB): stopped", ErrMemoryLimit, limit>>20)
	case strings.Contains(stderr, "signal: CPU time limit exceeded"), isSignal(err, syscall.SIGXCPU):
		return fmt.Errorf("sandbox: the render used up its CPU time: %w", context.DeadlineExceeded)
	}
	return fmt.Errorf("sandbox: the render process failed: %v: %s", err, firstLine(stderr))
}

func isSignal(err error, sig syscall.Signal) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	const max = 300
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}

func (r *response) result() (filetree.Tree, error) {
	switch {
	case r.Err == "":
		return r.Tree, nil
	case r.Step > 0:
		return nil, &renderers.StepError{Index: r.Step, Kind: r.StepKind, Err: errors.New(r.Err)}
	}
	return nil, errors.New(r.Err)
}

// headBuffer keeps the first max bytes written: a Go runtime's fatal error
// says what happened in its first lines, then dumps every goroutine.
type headBuffer struct {
	max int
	buf bytes.Buffer
}

func (b *headBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *headBuffer) String() string { return b.buf.String() }
