package sandbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/filetree"
	"github.com/configsync/configsync/renderers"
	"github.com/configsync/configsync/renderers/sandbox"
)

// TestMain lets this test binary serve as the sandbox's child process.
func TestMain(m *testing.M) {
	sandbox.ServeIfChild()
	os.Exit(m.Run())
}

const chartYAML = "apiVersion: v2\nname: app\nversion: 0.1.0\n"

// A pipeline of every offline renderer, with values from outside the tree.
func TestTheSandboxRendersWhatTheManagerWould(t *testing.T) {
	templated := filetree.Tree{
		"tpl/cm.yaml":            []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .name }}\ndata:\n  replicas: \"{{ .replicas }}\"\n  nested: {{ .nested.list | toJson | quote }}\n"),
		"tpl/kustomization.yaml": []byte("resources: [cm.yaml]\nlabels:\n- pairs:\n    team: a\n"),
	}
	in := renderers.Inputs{
		Namespace: "team-a",
		Steps: map[int]renderers.StepInputs{0: {ValuesFrom: []map[string]any{
			{"nested": map[string]any{"list": []any{1.0, "two", nil, true, map[string]any{"k": "v"}}}},
		}}},
	}
	for _, tc := range []struct {
		name  string
		tree  filetree.Tree
		steps []configsv1.RenderStep
	}{
		{"template then kustomize", templated, []configsv1.RenderStep{
			{Template: &configsv1.TemplateStep{Values: &apiextensionsv1.JSON{Raw: []byte(`{"name":"cm","replicas":2}`)}}},
			{Kustomize: &configsv1.KustomizeStep{Path: "tpl"}},
		}},
		{"jsonnet", filetree.Tree{
			"main.jsonnet": []byte(`{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "from-jsonnet" }, data: { n: std.toString(std.length(std.makeArray(10, function(i) i))) } }`),
		}, []configsv1.RenderStep{{Jsonnet: &configsv1.JsonnetStep{Entrypoint: "main.jsonnet"}}}},
		{"helm", filetree.Tree{
			"chart/Chart.yaml":        []byte(chartYAML),
			"chart/templates/cm.yaml": []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\ndata:\n  ns: {{ .Release.Namespace }}\n  x: {{ .Values.x | quote }}\n"),
			"chart/values.yaml":       []byte("x: 1\n"),
		}, []configsv1.RenderStep{{Helm: &configsv1.HelmStep{Chart: "chart", ReleaseName: "r"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := renderers.Run(context.Background(), tc.steps, in, tc.tree)
			if err != nil {
				t.Fatalf("in-process render: %v", err)
			}
			got, err := (&sandbox.Runner{}).Run(context.Background(), tc.steps, in, tc.tree)
			if err != nil {
				t.Fatalf("sandboxed render: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("the sandbox rendered differently (-in-process +sandbox):\n%s", diff)
			}
		})
	}
}

func TestAStepErrorComesBackAsTheSameStepError(t *testing.T) {
	tree := filetree.Tree{"main.jsonnet": []byte(`error "no such thing"`)}
	steps := []configsv1.RenderStep{{Jsonnet: &configsv1.JsonnetStep{Entrypoint: "main.jsonnet"}}}
	_, want := renderers.Run(context.Background(), steps, renderers.Inputs{}, tree)
	_, err := (&sandbox.Runner{}).Run(context.Background(), steps, renderers.Inputs{}, tree)
	var se *renderers.StepError
	if !errors.As(err, &se) || se.Index != 1 || se.Kind != "jsonnet" {
		t.Fatalf("error %v, want a StepError of step 1 (jsonnet)", err)
	}
	if err.Error() != want.Error() {
		t.Errorf("message %q, want the in-process one %q", err, want)
	}
}

// A tenant's Jsonnet asks for a billion-element array: in the manager it
// would take tens of GiB (and the manager with it). The child dies at its
// limit, and the manager's heap never holds the array.
func TestAMemoryBombKillsOnlyItsRender(t *testing.T) {
	for _, tc := range []struct{ name, program string }{
		{"std.makeArray", `std.length(std.makeArray(1e9, function(i) i))`},
		{"std.range", `std.length(std.range(1, 1e9))`},
		{"nested arrays", `std.length(std.flattenArrays(std.makeArray(1e4, function(i) std.makeArray(1e4, function(j) j))))`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tree := filetree.Tree{"main.jsonnet": []byte(tc.program)}
			steps := []configsv1.RenderStep{{Jsonnet: &configsv1.JsonnetStep{Entrypoint: "main.jsonnet"}}}
			before := heapInUse()
			_, err := (&sandbox.Runner{MemoryLimit: 64 << 20}).Run(context.Background(), steps, renderers.Inputs{}, tree)
			if !errors.Is(err, sandbox.ErrMemoryLimit) {
				t.Fatalf("error %v, want %v", err, sandbox.ErrMemoryLimit)
			}
			if !strings.Contains(err.Error(), "64 MiB") {
				t.Errorf("error %q does not say the limit", err)
			}
			if grew := heapInUse() - before; grew > 32<<20 {
				t.Errorf("the test process's heap grew by %d MiB", grew>>20)
			}
		})
	}
}

// helm's template engine takes no context: in the manager, a template
// that loops for hours keeps a core busy after its step timed out. The
// child exits at the step's timeout and takes the loop with it.
func TestATimeBombEndsWithItsStep(t *testing.T) {
	defer setStepTimeout(2 * time.Second)()
	// The first process started leaves a goroutine of os/exec's behind for
	// good: start one before counting.
	if _, err := render(context.Background(), []configsv1.RenderStep{{Jsonnet: &configsv1.JsonnetStep{Entrypoint: "a.jsonnet"}}}, renderers.Inputs{}, filetree.Tree{"a.jsonnet": []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	loop := "{{- range until 100000 }}{{- range until 100000 }}{{- range until 100000 }}{{- end }}{{- end }}{{- end }}"
	for _, tc := range []struct {
		name  string
		tree  filetree.Tree
		steps []configsv1.RenderStep
	}{
		{"helm nested ranges", filetree.Tree{
			"chart/Chart.yaml":        []byte(chartYAML),
			"chart/templates/cm.yaml": []byte(loop),
		}, []configsv1.RenderStep{{Helm: &configsv1.HelmStep{Chart: "chart"}}}},
		{"jsonnet fold", filetree.Tree{
			"main.jsonnet": []byte(`local sum(n) = std.foldl(function(a, j) a + j, std.range(1, n), 0); std.foldl(function(acc, i) acc + sum(100000), std.range(1, 100000), 0)`),
		}, []configsv1.RenderStep{{Jsonnet: &configsv1.JsonnetStep{Entrypoint: "main.jsonnet"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			goroutines := runtime.NumGoroutine()
			_, err := render(context.Background(), tc.steps, renderers.Inputs{}, tc.tree)
			if err == nil || !strings.Contains(err.Error(), "stopped after 2s") {
				t.Fatalf("error %v, want the step stopped after 2s", err)
			}
			// In the manager's process the render would still be running.
			// os/exec's own goroutines end just after Wait: give them a
			// moment, not a loop that never ends.
			for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > goroutines && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			if n := runtime.NumGoroutine(); n > goroutines {
				buf := make([]byte, 1<<20)
				t.Errorf("%d goroutines after the render, %d before: the loop still runs here\n%s", n, goroutines, buf[:runtime.Stack(buf, true)])
			}
			if pids := children(t); len(pids) > 0 {
				t.Errorf("render processes %v still run after their step timed out", pids)
			}
		})
	}
}

// The parent's deadline kills a child that ignores its own.
func TestACancelledRenderKillsItsProcess(t *testing.T) {
	tree := filetree.Tree{
		"chart/Chart.yaml":        []byte(chartYAML),
		"chart/templates/cm.yaml": []byte("{{- range until 100000 }}{{- range until 100000 }}{{- range until 100000 }}{{- end }}{{- end }}{{- end }}"),
	}
	steps := []configsv1.RenderStep{{Helm: &configsv1.HelmStep{Chart: "chart"}}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := (&sandbox.Runner{}).Run(ctx, steps, renderers.Inputs{}, tree)
		done <- err
	}()
	waitForChild(t)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if pids := children(t); len(pids) > 0 {
		t.Errorf("render processes %v still run after their render was cancelled", pids)
	}
}

func TestAnEmptyPipelineStartsNoProcess(t *testing.T) {
	tree := filetree.Tree{"a.yaml": []byte("a: 1\n")}
	got, err := (&sandbox.Runner{Executable: "/nonexistent"}).Run(context.Background(), nil, renderers.Inputs{}, tree)
	if err != nil || !cmp.Equal(got, tree) {
		t.Fatalf("got %v, %v; want the tree unchanged", got, err)
	}
}

// render is the sandbox under test (renderers.Run shows what it defends).
var render = (&sandbox.Runner{}).Run

func setStepTimeout(d time.Duration) (restore func()) {
	old := renderers.StepTimeout
	renderers.StepTimeout = d
	return func() { renderers.StepTimeout = old }
}

func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}

// children are the live processes this test process started.
func children(t *testing.T) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // ended while listed
		}
		// pid (comm) state ppid ...: comm may hold spaces, so count from its ')'.
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(os.Getpid()) && fields[0] != "Z" {
			pids = append(pids, pid)
		}
	}
	return pids
}

// waitForChild returns once a render process runs.
func waitForChild(t *testing.T) {
	t.Helper()
	for len(children(t)) == 0 {
		runtime.Gosched()
	}
}

// The input tree counts against the limit: a repository that inflates to
// more than the limit (Git stores one blob once, however many paths name
// it) fails clearly instead of growing a child past the pod's memory.
func TestABigInputCountsAgainstTheLimit(t *testing.T) {
	tree := bigTree(96, 1<<20)
	tree["main.jsonnet"] = []byte(`{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "cm" } }`)
	steps := []configsv1.RenderStep{{Jsonnet: &configsv1.JsonnetStep{Entrypoint: "main.jsonnet"}}}
	_, err := (&sandbox.Runner{MemoryLimit: 64 << 20}).Run(context.Background(), steps, renderers.Inputs{}, tree)
	if !errors.Is(err, sandbox.ErrMemoryLimit) {
		t.Fatalf("error %v, want %v", err, sandbox.ErrMemoryLimit)
	}
}

// Files stream across one by one, so a step that passes 48 MiB through
// needs about 48 MiB of its limit, not several copies of it.
func TestALargePassThroughStillRenders(t *testing.T) {
	tree := bigTree(48, 1<<20)
	steps := []configsv1.RenderStep{{Sops: &configsv1.SopsStep{}}}
	got, err := (&sandbox.Runner{MemoryLimit: 80 << 20}).Run(context.Background(), steps, renderers.Inputs{}, tree)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(tree) {
		t.Fatalf("%d files came back, want %d", len(got), len(tree))
	}
	for name, data := range tree {
		if !bytes.Equal(got[name], data) {
			t.Errorf("%s came back changed", name)
		}
	}
}

// bigTree has n files of size bytes each.
func bigTree(n, size int) filetree.Tree {
	data := []byte(strings.Repeat("a", size))
	tree := filetree.Tree{}
	for i := range n {
		tree[fmt.Sprintf("data/f%03d.txt", i)] = data
	}
	return tree
}
