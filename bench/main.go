// Command bench is `make bench`: it starts the test control plane, a Git
// server and the operator (the real cmd/manager binary, as its own process,
// so its CPU and memory can be measured), runs the scenarios of
// docs/benchmarks.md next to their baselines in the same run, and writes
// the table. N is a flag, so anyone can run it bigger.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/testenv"
	"github.com/configsync/configsync/internal/testgit"
	"github.com/configsync/configsync/receiver"
)

type config struct {
	n, objects, big, pushes, repoFiles, workers, applyConc int
	curve                                                  []int
	out, renderResults, only, profileDir                   string
	profileSeconds                                         int
}

func main() {
	var c config
	var curve string
	flag.IntVar(&c.n, "n", 1000, "ConfigSyncs in the mass sync")
	flag.IntVar(&c.objects, "objects", 10, "objects per ConfigSync")
	flag.IntVar(&c.big, "big", 5000, "objects in the big set")
	flag.IntVar(&c.pushes, "pushes", 100, "commits announced by webhook")
	flag.IntVar(&c.repoFiles, "repo-files", 10000, "files of the monorepo in the second push-latency run (0 skips it)")
	flag.IntVar(&c.workers, "concurrent", 8, "the manager's --concurrent")
	flag.IntVar(&c.applyConc, "apply-concurrency", 8, "the manager's --apply-concurrency")
	flag.StringVar(&curve, "curve", "100,300", "ConfigSync counts of the scaling curve (the mass sync adds n)")
	flag.StringVar(&c.out, "out", "docs/benchmarks.md", "where to write the results")
	flag.StringVar(&c.renderResults, "render-results", "", "output of go test -bench BenchmarkRender to include")
	flag.StringVar(&c.only, "only", "", "run only these scenarios (comma-separated: mass, big, latency, curve, costs, charts); the table is printed, docs are not written")
	flag.StringVar(&c.profileDir, "profile", "", "write the manager's CPU profiles of the mass sync and the no-op resync to this folder")
	flag.IntVar(&c.profileSeconds, "profile-seconds", 20, "length of each CPU profile")
	flag.Parse()
	for _, s := range strings.Split(curve, ",") {
		if v, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && v > 0 {
			c.curve = append(c.curve, v)
		}
	}
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// bench holds the environment every scenario shares.
type bench struct {
	config
	git        *testgit.Server
	standalone *testgit.Standalone
	k8s        client.Client
	rest       *rest.Config
	kubeconfig string
	managerBin string
	tmp        string
	rows       []string
	notes      []string
	profiles   sync.WaitGroup
	// costRows are the request costs' table (see requestCosts).
	costRows []string
	// baselineCPU is what the last baseline's processes used, per process.
	baselineCPU string
	// assets is the folder of the control plane's binaries.
	assets string
	// mass is the mass sync's time and the manager's peak RSS, the last
	// point of the scaling curve.
	mass struct {
		took time.Duration
		rss  int64
	}
}

func run(c config) (err error) {
	b := &bench{config: c, standalone: &testgit.Standalone{}}
	defer b.standalone.Close()
	defer testgit.RecoverFatal(&err)
	if err := b.setUp(); err != nil {
		return err
	}
	// Request costs come first, from an apiserver that holds nothing yet
	// and has no clean-up of an earlier scenario to do: measured last, they
	// came out up to twice as high, and uneven.
	steps := []struct {
		name string
		run  func() error
	}{{"costs", b.requestCosts}, {"mass", b.massSyncAndNoOp}, {"big", b.bigSet}, {"latency", b.pushLatencies}, {"curve", b.scalingCurve}, {"charts", b.remoteChart}}
	for _, step := range steps {
		if c.only != "" && !slices.Contains(strings.Split(c.only, ","), step.name) {
			continue
		}
		if err := step.run(); err != nil {
			return err
		}
	}
	b.profiles.Wait()
	if c.only != "" {
		b.out = "" // a partial run does not replace the published table
	}
	return b.write()
}

func (b *bench) setUp() error {
	b.tmp = b.standalone.TempDir()
	log("building the manager")
	b.managerBin = filepath.Join(b.tmp, "manager")
	build := exec.Command("go", "build", "-o", b.managerBin, "./cmd/manager")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build the manager: %w", err)
	}
	log("starting the control plane")
	env, err := testenv.New()
	if err != nil {
		return err
	}
	if b.rest, err = env.Start(); err != nil {
		return err
	}
	b.standalone.Cleanup(func() { _ = env.Stop() })
	b.assets = env.BinaryAssetsDirectory
	// Room for the load: the default client limits would measure themselves.
	b.rest.QPS, b.rest.Burst = 1000, 2000
	if b.k8s, err = client.New(b.rest, client.Options{Scheme: env.Scheme}); err != nil {
		return err
	}
	user, err := env.AddUser(envtest.User{Name: "bench", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	data, err := user.KubeConfig()
	if err != nil {
		return err
	}
	b.kubeconfig = filepath.Join(b.tmp, "kubeconfig")
	if err := os.WriteFile(b.kubeconfig, data, 0o600); err != nil {
		return err
	}
	b.git = testgit.Start(b.standalone)
	return nil
}

// manager is the operator running as its own process.
type manager struct {
	cmd     *exec.Cmd
	webhook string
	pprof   string // base URL of /debug/pprof, when profiling
}

func (b *bench) startManager(name string, extra ...string) (*manager, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	m := &manager{webhook: fmt.Sprintf("http://127.0.0.1:%d", port)}
	m.cmd = exec.Command(b.managerBin, "--leader-elect=false", "--metrics-bind-address=0", "--health-probe-bind-address=0",
		fmt.Sprintf("--webhook-bind-address=127.0.0.1:%d", port), "--webhook-secret=default/bench-webhook",
		fmt.Sprintf("--concurrent=%d", b.workers), fmt.Sprintf("--apply-concurrency=%d", b.applyConc),
		"--zap-log-level=error",
		// Each scenario's manager sees only its own ConfigSyncs, not those
		// the earlier scenarios left behind.
		"--watch-label-selector=bench="+name)
	m.cmd.Args = append(m.cmd.Args, extra...)
	if b.profileDir != "" {
		pport, err := freePort()
		if err != nil {
			return nil, err
		}
		m.pprof = fmt.Sprintf("http://127.0.0.1:%d/debug/pprof", pport)
		m.cmd.Args = append(m.cmd.Args, fmt.Sprintf("--pprof-bind-address=127.0.0.1:%d", pport))
	}
	m.cmd.Env = append(os.Environ(), "KUBECONFIG="+b.kubeconfig)
	m.cmd.Stderr = os.Stderr
	if err := m.cmd.Start(); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *manager) stop() {
	_ = m.cmd.Process.Signal(os.Interrupt)
	_ = m.cmd.Wait()
}

// usage reads the manager's CPU seconds, its render processes' included
// (renderers/sandbox: the children it waited for), and its peak RSS from
// /proc.
func (m *manager) usage() (cpu time.Duration, peakRSS int64) {
	pid := m.cmd.Process.Pid
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		fields := strings.Fields(string(stat)[strings.LastIndex(string(stat), ")")+2:])
		var ticks int64
		for _, i := range []int{11, 12, 13, 14} { // utime, stime, cutime, cstime
			n, _ := strconv.ParseInt(fields[i], 10, 64)
			ticks += n
		}
		cpu = time.Duration(ticks) * time.Second / 100 // USER_HZ
	}
	if status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				peakRSS = kb << 10
			}
		}
	}
	return cpu, peakRSS
}

// fleet commits n apps of objs ConfigMaps each to a repository.
func (b *bench) fleet(name string, n, objs int) (*testgit.Repo, error) {
	repo := b.git.NewRepo(b.standalone, name+".git")
	files := map[string]string{}
	for i := range n {
		for j := range objs {
			files[fmt.Sprintf("apps/%04d/cm-%02d.yaml", i, j)] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s-%04d-%02d\ndata:\n  value: \"%d\"\n", name, i, j, j)
		}
	}
	repo.Commit(b.standalone, files, name)
	return repo, nil
}

func (b *bench) namespace(name string) error {
	return client.IgnoreAlreadyExists(b.k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}))
}

// createConfigSyncs creates n ConfigSyncs, one per app folder of repo.
func (b *bench) createConfigSyncs(ns string, repo *testgit.Repo, n int) error {
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(32)
	for i := range n {
		g.Go(func() error {
			return b.k8s.Create(ctx, benchConfigSync(ns, repo.URL, i))
		})
	}
	return g.Wait()
}

// readyWatch counts the ConfigSyncs of a namespace that are Ready, from a
// watch rather than by listing them again and again: polling a thousand
// statuses would load the apiserver the benchmark measures. A watch that
// ends is resumed from a fresh list.
type readyWatch struct {
	c     client.WithWatch
	ns    string
	ready map[string]bool
	// firstReady is when the first ConfigSync was seen Ready: before it the
	// operator starts and downloads the repository.
	firstReady time.Time
}

func (b *bench) watchReady(ns string) (*readyWatch, error) {
	wc, err := client.NewWithWatch(b.rest, client.Options{Scheme: b.k8s.Scheme()})
	if err != nil {
		return nil, err
	}
	return &readyWatch{c: wc, ns: ns, ready: map[string]bool{}}, nil
}

func (rw *readyWatch) observe(cs *configsv1.ConfigSync, deleted bool) {
	c := apimeta.FindStatusCondition(cs.Status.Conditions, configsv1.ConditionReady)
	rw.ready[cs.Name] = !deleted && c != nil && c.Status == metav1.ConditionTrue
	if rw.ready[cs.Name] && rw.firstReady.IsZero() {
		rw.firstReady = time.Now()
	}
}

func (rw *readyWatch) count() int {
	n := 0
	for _, r := range rw.ready {
		if r {
			n++
		}
	}
	return n
}

// wait returns once n ConfigSyncs are Ready.
func (rw *readyWatch) wait(n int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		list := &configsv1.ConfigSyncList{}
		if err := rw.c.List(ctx, list, client.InNamespace(rw.ns)); err != nil {
			return fmt.Errorf("%d of %d ConfigSyncs Ready: %w", rw.count(), n, err)
		}
		for i := range list.Items {
			rw.observe(&list.Items[i], false)
		}
		if rw.count() >= n {
			return nil
		}
		w, err := rw.c.Watch(ctx, &configsv1.ConfigSyncList{}, client.InNamespace(rw.ns), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
		if err != nil {
			return fmt.Errorf("%d of %d ConfigSyncs Ready: %w", rw.count(), n, err)
		}
		for ev := range w.ResultChan() {
			if cs, ok := ev.Object.(*configsv1.ConfigSync); ok {
				rw.observe(cs, ev.Type == watch.Deleted)
			}
			if rw.count() >= n {
				w.Stop()
				return nil
			}
		}
		w.Stop()
		if ctx.Err() != nil {
			return fmt.Errorf("%d of %d ConfigSyncs Ready after %s", rw.count(), n, timeout)
		}
	}
}

// baseline server-side-applies n*objs ConfigMaps with a bare client and
// the manager's total concurrency: the apiserver's own speed. With
// dryRunFirst every object is dry-run before any is applied, which is the
// least an all-or-nothing applier (ours, Flux's) must ask of the apiserver.
func (b *bench) baseline(ns string, n, objs int, dryRunFirst bool) (time.Duration, error) {
	if err := b.namespace(ns); err != nil {
		return 0, err
	}
	cpuBefore := processCPU()
	start := time.Now()
	pass := func(opts ...client.PatchOption) error {
		g, ctx := errgroup.WithContext(context.Background())
		g.SetLimit(b.workers * b.applyConc)
		for i := range n {
			for j := range objs {
				g.Go(func() error {
					cm := &unstructured.Unstructured{}
					cm.SetAPIVersion("v1")
					cm.SetKind("ConfigMap")
					cm.SetNamespace(ns)
					cm.SetName(fmt.Sprintf("base-%04d-%02d", i, j))
					_ = unstructured.SetNestedField(cm.Object, strconv.Itoa(j), "data", "value")
					return b.ssa(ctx, cm, append(opts, client.FieldOwner("baseline"))...)
				})
			}
		}
		return g.Wait()
	}
	if dryRunFirst {
		if err := pass(client.DryRunAll); err != nil {
			return 0, err
		}
	}
	if err := pass(); err != nil {
		return 0, err
	}
	took := time.Since(start)
	// Read before the clean-up, whose deletes would count as the baseline's.
	b.baselineCPU = logCPU(ns, cpuBefore, processCPU(), took)
	return took, b.clearConfigMaps(ns)
}

// clearConfigMaps deletes what a baseline applied, so that every scenario
// meets an apiserver holding the same objects: one holding 20,000 more
// ConfigMaps serves the same requests about 15% slower.
func (b *bench) clearConfigMaps(ns string) error {
	ctx := context.Background()
	if err := b.k8s.DeleteAllOf(ctx, &corev1.ConfigMap{}, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("clear %s: %w", ns, err)
	}
	return nil
}

func (b *bench) row(scenario, ours, baseline, ratio, target string) {
	b.rows = append(b.rows, fmt.Sprintf("| %s | %s | %s | %s | %s |", scenario, ours, baseline, ratio, target))
}

func (b *bench) massSyncAndNoOp() error {
	log("mass sync: %d ConfigSyncs x %d objects", b.n, b.objects)
	repo, err := b.fleet("mass", b.n, b.objects)
	if err != nil {
		return err
	}
	base, err := b.baseline("bench-mass-baseline", b.n, b.objects, false)
	if err != nil {
		return err
	}
	b.notes = append(b.notes, "Bare SSA baseline, CPU time used: "+b.baselineCPU+fmt.Sprintf(" (in %s).", base.Round(time.Millisecond)))
	floor, err := b.baseline("bench-mass-floor", b.n, b.objects, true)
	if err != nil {
		return err
	}
	b.notes = append(b.notes, "Dry-run + SSA baseline, CPU time used: "+b.baselineCPU+fmt.Sprintf(" (in %s).", floor.Round(time.Millisecond)))
	same, err := b.sameRequests("bench-mass-same", repo, b.n, b.objects)
	if err != nil {
		return err
	}
	b.notes = append(b.notes, "Same-requests baseline, CPU time used: "+b.baselineCPU+fmt.Sprintf(" (in %s).", same.Round(time.Millisecond)))
	reqBefore, err := b.requests()
	if err != nil {
		return err
	}
	procBefore := processCPU()
	took, m, err := b.syncFleet("bench-mass", repo, b.n)
	if err != nil {
		return err
	}
	defer m.stop()
	if reqAfter, err := b.requests(); err == nil {
		b.notes = append(b.notes, "Mass sync, requests to the apiserver: "+logRequests("mass sync", reqBefore, reqAfter, b.n)+".")
	}
	b.notes = append(b.notes, "Mass sync, CPU time used: "+logCPU("mass sync", procBefore, processCPU(), took)+
		fmt.Sprintf(" (in %s on %d cores).", took.Round(time.Millisecond), runtime.NumCPU()))
	_, rss := m.usage()
	b.mass.took, b.mass.rss = took, rss
	b.row(fmt.Sprintf("1. mass sync: %d ConfigSyncs x %d objects, creation to all Ready", b.n, b.objects),
		took.Round(time.Millisecond).String(), base.Round(time.Millisecond).String()+" (bare SSA)", fmt.Sprintf("%.2fx", took.Seconds()/base.Seconds()), "within 1.5x; under 60 s")
	b.row("   against bare SSA with a dry-run of each object first", took.Round(time.Millisecond).String(), floor.Round(time.Millisecond).String()+" (dry-run + SSA)", fmt.Sprintf("%.2fx", took.Seconds()/floor.Seconds()), "")
	b.row("   against a bare client sending the operator's requests (no operator, no Git)", took.Round(time.Millisecond).String(), same.Round(time.Millisecond).String()+" (same requests)", fmt.Sprintf("%.2fx", took.Seconds()/same.Seconds()), "")
	b.row("   the same requests from a bare client, against bare SSA (what this API's requests take without an operator)", same.Round(time.Millisecond).String(), base.Round(time.Millisecond).String()+" (bare SSA)", fmt.Sprintf("%.2fx", same.Seconds()/base.Seconds()), "")
	b.row("   manager peak RSS", mib(rss), "", "", "under 200 MiB")

	log("no-op resync of all %d", b.n)
	writesBefore, byBefore, err := b.writeRequestsBy()
	if err != nil {
		return err
	}
	cpuBefore, _ := m.usage()
	b.profile(m, "noop")
	start := time.Now()
	triggered, err := b.push(m, repo.URL)
	if err != nil {
		return err
	}
	if err := b.waitIdle(m, cpuBefore); err != nil {
		return err
	}
	took = time.Since(start)
	cpuAfter, _ := m.usage()
	writesAfter, byAfter, err := b.writeRequestsBy()
	if err != nil {
		return err
	}
	for k, v := range byAfter {
		if d := v - byBefore[k]; d > 0 {
			log("no-op resync wrote %s: %.0f", k, d)
		}
	}
	cpu := cpuAfter - cpuBefore
	b.row(fmt.Sprintf("2. no-op resync of %d ConfigSyncs (one push event; %d triggered)", b.n, triggered), took.Round(time.Millisecond).String(), "", "", "")
	b.row("   write requests to the apiserver", fmt.Sprintf("%.0f", writesAfter-writesBefore), "", "", "0")
	b.row("   manager CPU", fmt.Sprintf("%.2f s, %.2f ms per ConfigSync", cpu.Seconds(), float64(cpu.Microseconds())/1000/float64(b.n)), "", "", "under 5 ms per ConfigSync")
	return nil
}

// syncFleet starts a manager, creates n ConfigSyncs on repo and waits until all are Ready.
func (b *bench) syncFleet(ns string, repo *testgit.Repo, n int) (time.Duration, *manager, error) {
	if err := b.namespace(ns); err != nil {
		return 0, nil, err
	}
	if err := b.webhookSecret(); err != nil {
		return 0, nil, err
	}
	m, err := b.startManager(ns)
	if err != nil {
		return 0, nil, err
	}
	b.profile(m, ns)
	b.profileAPIServer(ns)
	rw, err := b.watchReady(ns)
	if err != nil {
		m.stop()
		return 0, nil, err
	}
	start := time.Now()
	if err := b.createConfigSyncs(ns, repo, n); err != nil {
		m.stop()
		return 0, nil, err
	}
	if err := rw.wait(n, 15*time.Minute); err != nil {
		m.stop()
		return 0, nil, err
	}
	log("%s: the first ConfigSync was Ready after %s", ns, rw.firstReady.Sub(start).Round(time.Millisecond))
	return time.Since(start), m, nil
}

const webhookToken = "bench-token"

func (b *bench) webhookSecret() error {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "bench-webhook"}, StringData: map[string]string{receiver.SecretKey: webhookToken}}
	return client.IgnoreAlreadyExists(b.k8s.Create(context.Background(), s))
}

// push announces a push of repoURL's main branch through the generic provider.
func (b *bench) push(m *manager, repoURL string) (int, error) {
	body := []byte(fmt.Sprintf(`{"repoURL": %q, "branch": "main"}`, repoURL))
	generic := receiver.Fixture{Provider: "generic"}
	for attempt := 0; ; attempt++ {
		req, err := generic.Request(m.webhook, body, []byte(webhookToken))
		if err != nil {
			return 0, err
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			if attempt < 50 { // the receiver may still be starting
				time.Sleep(100 * time.Millisecond)
				continue
			}
			return 0, err
		}
		var out struct{ Triggered int }
		_ = jsonDecode(resp.Body, &out)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return 0, fmt.Errorf("webhook: HTTP %d", resp.StatusCode)
		}
		return out.Triggered, nil
	}
}

// waitIdle waits until the manager stops burning CPU (two quiet seconds).
func (b *bench) waitIdle(m *manager, since time.Duration) error {
	last, quiet := since, 0
	for range 600 {
		time.Sleep(500 * time.Millisecond)
		cpu, _ := m.usage()
		if cpu-last < 20*time.Millisecond {
			quiet++
			if quiet >= 4 {
				return nil
			}
		} else {
			quiet = 0
		}
		last = cpu
	}
	return fmt.Errorf("the manager never went idle")
}

func (b *bench) bigSet() error {
	log("big set: one ConfigSync with %d objects", b.big)
	repo, err := b.fleet("big", 1, b.big)
	if err != nil {
		return err
	}
	base, err := b.baselineFlat("bench-big-baseline", b.big, false)
	if err != nil {
		return err
	}
	floor, err := b.baselineFlat("bench-big-floor", b.big, true)
	if err != nil {
		return err
	}
	took, m, err := b.syncFleet("bench-big", repo, 1)
	if err != nil {
		return err
	}
	m.stop()
	b.row(fmt.Sprintf("3. big set: 1 ConfigSync with %d objects", b.big), took.Round(time.Millisecond).String(),
		base.Round(time.Millisecond).String()+" (bare SSA)", fmt.Sprintf("%.2fx", took.Seconds()/base.Seconds()), "")
	b.row("   against bare SSA with a dry-run of each object first", took.Round(time.Millisecond).String(),
		floor.Round(time.Millisecond).String()+" (dry-run + SSA)", fmt.Sprintf("%.2fx", took.Seconds()/floor.Seconds()), "")
	return nil
}

// baselineFlat applies n objects with the concurrency one ConfigSync gets.
func (b *bench) baselineFlat(ns string, n int, dryRunFirst bool) (time.Duration, error) {
	saved := b.workers
	b.workers = 1
	defer func() { b.workers = saved }()
	return b.baseline(ns, 1, n, dryRunFirst)
}

// pushLatencies measures push latency on a small repository, then on a
// monorepo whose other files the ConfigSync does not read: a new commit
// must cost in proportion to what is read, not to the repository.
func (b *bench) pushLatencies() error {
	if err := b.pushLatency("latency", 0); err != nil {
		return err
	}
	if b.repoFiles <= 0 {
		return nil
	}
	return b.pushLatency("latency-monorepo", b.repoFiles)
}

func (b *bench) pushLatency(name string, others int) error {
	log("push latency: %d commits, %d other files", b.pushes, others)
	repo := b.git.NewRepo(b.standalone, name+".git")
	cm := func(i int) string {
		return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: latency}\ndata: {seq: \"%d\"}\n", i)
	}
	first := map[string]string{"apps/0000/cm.yaml": cm(0)}
	for i := range others {
		first[fmt.Sprintf("other/%04d/cm.yaml", i)] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other-%04d}\n", i)
	}
	repo.Commit(b.standalone, first, "0")
	ns := "bench-" + name
	_, m, err := b.syncFleet(ns, repo, 1)
	if err != nil {
		return err
	}
	defer m.stop()
	var latencies []time.Duration
	for i := 1; i <= b.pushes; i++ {
		repo.Commit(b.standalone, map[string]string{"apps/0000/cm.yaml": cm(i)}, strconv.Itoa(i))
		start := time.Now()
		if _, err := b.push(m, repo.URL); err != nil {
			return err
		}
		want := strconv.Itoa(i)
		for {
			got := &corev1.ConfigMap{}
			if err := b.k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "latency"}, got); err == nil && got.Data["seq"] == want {
				break
			}
			if time.Since(start) > time.Minute {
				return fmt.Errorf("push %d never landed", i)
			}
			time.Sleep(2 * time.Millisecond)
		}
		latencies = append(latencies, time.Since(start))
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	p := func(q float64) string {
		return latencies[int(q*float64(len(latencies)-1))].Round(time.Millisecond).String()
	}
	what := fmt.Sprintf("4. push latency, %d commits (push event to object updated)", b.pushes)
	if others > 0 {
		what = fmt.Sprintf("   the same in a repository of %d more files the ConfigSync does not read", others)
	}
	b.row(what,
		fmt.Sprintf("p50 %s, p95 %s, p99 %s", p(0.50), p(0.95), p(0.99)), "", "", "p99 under 1 s")
	return nil
}

func (b *bench) scalingCurve() error {
	for _, n := range b.curve {
		log("scaling curve: %d ConfigSyncs", n)
		ns := fmt.Sprintf("bench-curve-%d", n)
		repo, err := b.fleet(ns, n, b.objects)
		if err != nil {
			return err
		}
		took, m, err := b.syncFleet(ns, repo, n)
		if err != nil {
			return err
		}
		_, rss := m.usage()
		m.stop()
		b.row(fmt.Sprintf("6. scaling: %d ConfigSyncs x %d objects", n, b.objects), took.Round(time.Millisecond).String()+", peak RSS "+mib(rss), "", "", "")
	}
	if b.mass.took > 0 {
		b.row(fmt.Sprintf("6. scaling: %d ConfigSyncs x %d objects (the mass sync)", b.n, b.objects), b.mass.took.Round(time.Millisecond).String()+", peak RSS "+mib(b.mass.rss), "", "", "")
	}
	return nil
}

func (b *bench) write() error {
	var s strings.Builder
	s.WriteString("# Benchmarks\n\nWritten by `make bench` (bench/main.go and `go test ./renderers -bench BenchmarkRender`); do not edit.\n")
	s.WriteString("Every figure is measured in the same run as its baseline, on the same machine: a real kube-apiserver and etcd (the test control plane), a Git server on loopback, and the operator's own binary as a separate process (its CPU and peak RSS read from /proc).\n\n")
	fmt.Fprintf(&s, "Machine: %d cores, %s memory, %s/%s, %s; %s; manager flags --concurrent=%d --apply-concurrency=%d; run %s.\n\n",
		runtime.NumCPU(), memTotal(), runtime.GOOS, runtime.GOARCH, runtime.Version(), b.versions(), b.workers, b.applyConc, time.Now().UTC().Format("2006-01-02"))
	s.WriteString("Three baselines: *bare SSA* applies each object once with a bare client; *dry-run + SSA* first dry-runs every object, then applies them, which is the least an applier that refuses to write anything of a set that would partly fail (ConfigSync, Flux) must ask of the apiserver; *same requests* (mass sync only) sends with a bare client, and without Git, every request the operator's first sync sends per ConfigSync: the ConfigSync's create (the user's), its finalizer patch, a dry-run and an apply of each object, one status patch and one Event. Every baseline applies as the operator does: the object as a raw apply patch, the answer asked for as metadata only (protobuf). The gap to *same requests* is the operator's own cost; the gap from bare SSA to it is what the API asks of any operator. On this machine the apiserver, etcd, the Git server and the manager share two cores, so every request any of them serves is time taken from the others.\n\n")
	s.WriteString("| scenario | ConfigSync | baseline | ratio | target |\n|---|---|---|---|---|\n")
	for _, r := range b.rows {
		s.WriteString(r + "\n")
	}
	if b.renderResults != "" {
		rows, err := renderRows(b.renderResults)
		if err != nil {
			return err
		}
		s.WriteString("\n## 5. Render: in-process against the reference CLI run as a process\n\n| fixture | in-process | reference CLI | speed-up | target |\n|---|---|---|---|---|\n")
		for _, r := range rows {
			s.WriteString(r + "\n")
		}
	}
	if len(b.costRows) > 0 {
		s.WriteString("\n## 7. What one request of a first sync costs the apiserver\n\nEach kind on its own, " + strconv.Itoa(b.n) + " requests with the manager's total concurrency; CPU of the kube-apiserver process only (etcd comes on top).\n\n| request | sent by | apiserver CPU each |\n|---|---|---|\n")
		for _, r := range b.costRows {
			s.WriteString(r + "\n")
		}
	}
	if len(b.notes) > 0 {
		s.WriteString("\n## Where the time went: requests and CPU per process\n")
	}
	for _, n := range b.notes {
		s.WriteString("\n" + n + "\n")
	}
	if b.out != "" {
		if err := os.WriteFile(b.out, []byte(s.String()), 0o644); err != nil {
			return err
		}
	}
	fmt.Print(s.String())
	return nil
}

// renderRows pairs the in-process and reference-cli results of BenchmarkRender.
func renderRows(path string) ([]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	type pair struct{ in, cli float64 }
	pairs := map[string]*pair{}
	var order []string
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "BenchmarkRender/") || f[3] != "ns/op" {
			continue
		}
		name := strings.TrimPrefix(f[0], "BenchmarkRender/")
		name = name[:strings.LastIndex(name, "-")] // the GOMAXPROCS suffix
		fixture, kind := filepath.Dir(name), filepath.Base(name)
		ns, _ := strconv.ParseFloat(f[2], 64)
		if pairs[fixture] == nil {
			pairs[fixture] = &pair{}
			order = append(order, fixture)
		}
		if kind == "in-process" {
			pairs[fixture].in = ns
		} else {
			pairs[fixture].cli = ns
		}
	}
	var rows []string
	for _, fx := range order {
		p := pairs[fx]
		if p.in == 0 || p.cli == 0 {
			continue
		}
		rows = append(rows, fmt.Sprintf("| %s | %.1f ms | %.1f ms | %.1fx | at least 2x |", fx, p.in/1e6, p.cli/1e6, p.cli/p.in))
	}
	return rows, nil
}

// versions names what the figures were measured against: the control
// plane's versions and the operator's commit. What cannot be read is left out.
func (b *bench) versions() string {
	var parts []string
	if dc, err := discovery.NewDiscoveryClientForConfig(b.rest); err == nil {
		if v, err := dc.ServerVersion(); err == nil {
			parts = append(parts, "kube-apiserver "+v.GitVersion)
		}
	}
	if out, err := exec.Command(filepath.Join(b.assets, "etcd"), "--version").Output(); err == nil {
		first, _, _ := strings.Cut(string(out), "\n")
		parts = append(parts, "etcd "+strings.TrimSpace(strings.TrimPrefix(first, "etcd Version:")))
	}
	if out, err := exec.Command("git", "describe", "--always", "--dirty").Output(); err == nil {
		parts = append(parts, "ConfigSync at "+strings.TrimSpace(string(out)))
	}
	return strings.Join(parts, ", ")
}

func mib(b int64) string { return fmt.Sprintf("%d MiB", b>>20) }

func memTotal() string {
	raw, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return fmt.Sprintf("%d GiB", kb>>20)
		}
	}
	return "?"
}

var logMu sync.Mutex

func log(format string, args ...any) {
	logMu.Lock()
	defer logMu.Unlock()
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}
