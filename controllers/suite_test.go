package controllers_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/charts"
	"github.com/configsync/configsync/controllers"
	"github.com/configsync/configsync/internal/testenv"
	"github.com/configsync/configsync/renderers/sandbox"
	"github.com/configsync/configsync/source"
)

// k8s talks to the test apiserver directly, never through the manager's
// cache, so assertions see what the apiserver holds.
var k8s client.Client

// reconciler is the manager's, for tests that wire the webhook receiver to it.
var reconciler *controllers.ConfigSyncReconciler

// testScheme knows the API types and ConfigSync.
var testScheme *runtime.Scheme

// restConfig reaches the test apiserver as an administrator.
var restConfig *rest.Config

func TestMain(m *testing.M) {
	// Tests render through renderers/sandbox, which starts this binary.
	sandbox.ServeIfChild()
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	// Every log line of the manager goes to managerLogs, for the no-leak
	// test; stderr gets them only when CONFIGSYNC_TEST_LOGS asks.
	var sink io.Writer = &managerLogs
	if os.Getenv("CONFIGSYNC_TEST_LOGS") != "" {
		sink = io.MultiWriter(&managerLogs, os.Stderr)
	}
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(sink), zap.Level(zapcore.DebugLevel)))
	env, err := testenv.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start control plane:", err)
		return 1
	}
	defer env.Stop()

	restConfig = cfg
	k8s, err = client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// This manager is the main instance: shards started by tests take the
	// ConfigSyncs labelled with a shard key.
	cacheOpts, err := controllers.CacheOptions("!" + configsv1.LabelShardKey)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	testScheme = env.Scheme
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 env.Scheme,
		Cache:                  cacheOpts,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// The test Git servers speak plain HTTP on loopback; the manager
	// refuses credentials over http:// unless its admin allows them.
	// The chart test servers are on 127.0.0.1, plain HTTP or HTTPS with
	// their own CA. A long index TTL shows that a new chart version is
	// seen because a reconcile request reads the index afresh.
	reconciler = controllers.New(mgr, &source.GitFetcher{AllowPlainHTTPCredentials: true}, controllers.Options{
		Workers: 4,
		Charts: charts.New(charts.Options{
			AllowPlainHTTP: true, AllowedHosts: []string{"127.0.0.1"}, MaxChartBytes: testMaxChartBytes, IndexTTL: time.Hour,
		}),
	})
	if err := reconciler.SetupWithManager(mgr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	code := m.Run()
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		return 1
	}
	return code
}

// managerLogs holds every line the manager logged during the suite.
var managerLogs lockedBuffer

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newNamespace creates a namespace for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "test-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// getConfigSync reads a ConfigSync, failing the assertion on error.
func getConfigSync(g Gomega, ns, name string) *configsv1.ConfigSync {
	cs := &configsv1.ConfigSync{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, cs)).To(Succeed())
	return cs
}

// patchObject reads obj by key, lets mutate change it, and merge-patches the change.
func patchObject[T client.Object](t *testing.T, key client.ObjectKey, obj T, mutate func(T)) {
	t.Helper()
	if err := k8s.Get(context.Background(), key, obj); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
	mutate(obj)
	if err := k8s.Patch(context.Background(), obj, patch); err != nil {
		t.Fatal(err)
	}
}

// requestReconcile sets the reconcile annotation, as `configsync reconcile` will.
func requestReconcile(t *testing.T, ns, name string) {
	t.Helper()
	patchObject(t, client.ObjectKey{Namespace: ns, Name: name}, &configsv1.ConfigSync{}, func(cs *configsv1.ConfigSync) {
		if cs.Annotations == nil {
			cs.Annotations = map[string]string{}
		}
		cs.Annotations[configsv1.AnnotationReconcileRequestedAt] = time.Now().Format(time.RFC3339Nano)
	})
}

const timeout = 30 * time.Second

func keyOf(name string) client.ObjectKey { return client.ObjectKey{Name: name} }

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// pruneAtCleanup deletes the ConfigSync ns/name when the test ends and waits
// until its finalizer has pruned what it applied and each of the
// cluster-scoped objects named is gone: those outlive the test's namespace,
// and the same test run again (-count, make test-stress) would find them
// owned by the previous run's ConfigSync.
func pruneAtCleanup(t *testing.T, ns, name string, clusterScoped ...client.Object) {
	t.Cleanup(func() {
		ctx := context.Background()
		g := NewWithT(t)
		cs := &configsv1.ConfigSync{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		g.Expect(client.IgnoreNotFound(k8s.Delete(ctx, cs))).To(Succeed())
		gone := func(o client.Object) func() bool {
			return func() bool {
				return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(o), o))
			}
		}
		g.Eventually(gone(cs), timeout).Should(BeTrue(), "ConfigSync %s/%s pruned and deleted", ns, name)
		for _, o := range clusterScoped {
			g.Eventually(gone(o), timeout).Should(BeTrue(), "%T %s deleted", o, o.GetName())
		}
	})
}
