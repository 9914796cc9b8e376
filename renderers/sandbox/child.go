package sandbox

import (
	"bufio"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/configsync/configsync/internal/filetree"
	"github.com/configsync/configsync/renderers"
)

// ServeIfChild renders and exits when this process was started by a
// Runner; otherwise it returns at once. Call it first thing in main, and in
// TestMain of a test binary whose tests render through a Runner.
func ServeIfChild() {
	if _, ok := os.LookupEnv(envChild); !ok {
		return
	}
	os.Exit(serve(os.Stdin, os.Stdout))
}

func serve(in io.Reader, out io.Writer) int {
	dec := gob.NewDecoder(bufio.NewReader(in))
	var req requestHeader
	if err := dec.Decode(&req); err != nil {
		fmt.Fprintf(os.Stderr, "sandbox: read the render request: %v\n", err)
		return 2
	}
	// Limits first: the input tree counts against them.
	if err := limit(req); err != nil {
		fmt.Fprintf(os.Stderr, "sandbox: %v\n", err)
		return 2
	}
	tree, err := readFiles(dec, req.Files, filetree.DefaultLimits)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sandbox: read the render request: %v\n", err)
		return 2
	}
	renderers.StepTimeout = req.StepTimeout
	tree, err = renderers.Run(context.Background(), req.Steps, req.Inputs, tree)
	var h answerHeader
	if err != nil {
		tree, h.Err = nil, err.Error()
		var se *renderers.StepError
		if errors.As(err, &se) {
			h.Step, h.StepKind, h.Err = se.Index, se.Kind, se.Err.Error()
		}
	}
	if err := writeAnswer(out, h, tree); err != nil {
		fmt.Fprintf(os.Stderr, "sandbox: write the render's answer: %v\n", err)
		return 2
	}
	// Exiting ends whatever a timed-out step left running.
	return 0
}

// limit caps what the rest of this process may map and compute: reading
// the input tree, the render, and writing the answer.
//
// Two caps: a watchdog ends the render when the Go runtime has mapped the
// limit, with a clear message; the kernel's RLIMIT_DATA, some headroom
// above, stops a single allocation that leaps past the watchdog (the
// runtime then says "out of memory"). The kernel's cap alone is not enough:
// when it is reached by many small allocations, the runtime can fail in
// its collector with a SIGSEGV that says nothing of memory.
func limit(req requestHeader) error {
	// When the pod nears its memory limit, the kernel kills a render before
	// the manager (a process may always raise its own score).
	if err := os.WriteFile("/proc/self/oom_score_adj", []byte("1000"), 0); err != nil {
		return fmt.Errorf("offer the render to the OOM killer first: %w", err)
	}
	data, err := vmData()
	if err != nil {
		return err
	}
	mem := uint64(req.MemoryLimit)
	hard := data + mem + max(mem/4, 32<<20)
	if !raceDetector {
		if err := syscall.Setrlimit(syscall.RLIMIT_DATA, &syscall.Rlimit{Cur: hard, Max: hard}); err != nil {
			return fmt.Errorf("limit memory: %w", err)
		}
	}
	base := runtimeMapped()
	// The collector works harder as the render nears the cap, so a render
	// that fits does not fail for want of a collection.
	debug.SetMemoryLimit(int64(base + mem*19/20))
	go watchMemory(base, mem)
	// The kernel signals SIGXCPU at the soft CPU limit, which the Go
	// runtime ignores unless asked; SIGKILL follows at the hard one.
	xcpu := make(chan os.Signal, 1)
	signal.Notify(xcpu, syscall.SIGXCPU)
	go func() {
		<-xcpu
		fmt.Fprintln(os.Stderr, "sandbox: "+cpuLimitMessage)
		os.Exit(4)
	}()
	cpu := uint64(len(req.Steps))*uint64(req.StepTimeout.Seconds()) + 5
	if err := syscall.Setrlimit(syscall.RLIMIT_CPU, &syscall.Rlimit{Cur: cpu, Max: cpu + 5}); err != nil {
		return fmt.Errorf("limit CPU time: %w", err)
	}
	return nil
}

// cpuLimitMessage is what a child says when it used up its CPU time.
const cpuLimitMessage = "the render used up its CPU time"

// watchMemory ends the process once the runtime has mapped limit bytes
// more than base. Growing by the headroom above the limit within one tick
// takes a single allocation, which the kernel's cap catches.
func watchMemory(base, limit uint64) {
	tick := time.NewTicker(5 * time.Millisecond)
	for range tick.C {
		if used := runtimeMapped() - base; used > limit {
			fmt.Fprintf(os.Stderr, "sandbox: out of memory: the render mapped %d MiB, its limit is %d MiB\n", used>>20, limit>>20)
			os.Exit(3)
		}
	}
}

// runtimeMapped is the memory the Go runtime has mapped from the kernel.
func runtimeMapped() uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/total:bytes"}}
	metrics.Read(sample)
	return sample[0].Value.Uint64()
}

// vmData is the size of this process's data segment in bytes, what
// RLIMIT_DATA counts (Linux 4.7 and later: private writable mappings).
func vmData() (uint64, error) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("read the process status: %w", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if !strings.HasPrefix(line, "VmData:") {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(line, "VmData:")), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read VmData: %w", err)
		}
		return kb << 10, nil
	}
	return 0, errors.New("no VmData in the process status")
}
