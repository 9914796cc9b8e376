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
// start, its input included. A chart rendering 5,000 objects (5 MiB of YAML)
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
	// holds when it starts, its input tree included; 0 means
	// DefaultMemoryLimit.
	MemoryLimit int64
	// StepTimeout bounds each step; 0 means renderers.StepTimeout.
	StepTimeout time.Duration
	// PassEnvironment gives the child the manager's environment. Only sops
	// cloud KMS needs it (the ambient cloud credentials); otherwise the
	// child starts with nothing but the sandbox marker.
	PassEnvironment bool
}

func init() {
	// Values decoded from YAML or JSON hold these in interfaces.
	gob.Register(map[string]any{})
	gob.Register([]any{})
}

// Run renders tree through steps in a child process, as renderers.Run does
// in this one. A step's error comes back as a *renderers.StepError with its
// message; a render over the memory limit fails with ErrMemoryLimit, one
// past its deadline with context.DeadlineExceeded, and an answer over the
// tree limits with filetree.ErrTooLarge.
func (r *Runner) Run(ctx context.Context, steps []configsv1.RenderStep, in renderers.Inputs, tree filetree.Tree) (filetree.Tree, error) {
	if len(steps) == 0 {
		return tree, nil // nothing to isolate
	}
	req := requestHeader{Steps: steps, Inputs: in, StepTimeout: r.stepTimeout(), MemoryLimit: r.memoryLimit(), Files: len(tree)}
	// Each step stops itself at its timeout and the child exits with it;
	// the deadline here catches a child that cannot even do that (a
	// garbage collector thrashing at the memory limit).
	deadline := time.Duration(len(steps))*req.StepTimeout + 10*time.Second
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	out, stderr, waitErr, readErr := r.exchange(ctx, req, tree)
	switch {
	case waitErr != nil || ctx.Err() != nil:
		return nil, childError(ctx, deadline, stderr, req.MemoryLimit, waitErr)
	case readErr != nil:
		return nil, fmt.Errorf("sandbox: read the render's answer: %w", readErr)
	}
	return out.result()
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

// exchange runs the child, streams the request to it file by file while
// it reads the answer the same way, and waits for it to end. Neither side
// holds a second copy of a whole tree.
func (r *Runner) exchange(ctx context.Context, req requestHeader, tree filetree.Tree) (out *answer, stderr string, waitErr, readErr error) {
	exe := r.Executable
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, "", fmt.Errorf("sandbox: find the operator's binary: %w", err), nil
		}
	}
	cmd := exec.Command(exe)
	cmd.Env = []string{envChild + "=1"}
	if r.PassEnvironment {
		cmd.Env = append(os.Environ(), cmd.Env...)
	}
	errs := &headBuffer{max: 16 << 10}
	cmd.Stderr = errs
	// The child dies with the manager.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, "", fmt.Errorf("sandbox: %w", err), nil
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", fmt.Errorf("sandbox: %w", err), nil
	}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("sandbox: start the render process: %w", err), nil
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
	written := make(chan struct{})
	go func() {
		defer close(written)
		// A child that dies early closes the pipe: its exit says why.
		_ = writeRequest(stdin, req, tree)
		_ = stdin.Close()
	}()
	out, readErr = readAnswer(stdout, filetree.DefaultLimits)
	if readErr != nil {
		_ = cmd.Process.Kill() // an answer that cannot be read is not waited for
	}
	<-written
	waitErr = cmd.Wait()
	close(exited)
	<-watched
	return out, errs.String(), waitErr, readErr
}

// childError says why a child ended without an answer.
func childError(ctx context.Context, deadline time.Duration, stderr string, limit int64, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("sandbox: killed after %s: %w", deadline, ctx.Err())
	case strings.Contains(stderr, "out of memory") || strings.Contains(stderr, "cannot allocate memory"):
		return fmt.Errorf("%w (%d MiB): stopped", ErrMemoryLimit, limit>>20)
	case strings.Contains(stderr, cpuLimitMessage), isSignal(err, syscall.SIGXCPU):
		return fmt.Errorf("sandbox: %s: %w", cpuLimitMessage, context.DeadlineExceeded)
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
