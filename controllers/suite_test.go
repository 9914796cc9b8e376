package controllers_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/types"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap/zapcore"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/charts"
	"github.com/configsync/configsync/controllers"
	"github.com/configsync/configsync/internal/testenv/testoperator"
	"github.com/configsync/configsync/internal/testgit"
	"github.com/configsync/configsync/receiver"
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

// testMaxChartBytes is the suite's chart size limit (see runSuite).
const testMaxChartBytes = 1 << 20

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
	// This manager is the main instance: shards started by tests take the
	// ConfigSyncs labelled with a shard key.
	cacheOpts, err := controllers.CacheOptions("!" + configsv1.LabelShardKey)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	suite, err := testoperator.StartSuite(testoperator.SuiteOptions{
		Cache: cacheOpts,
		// The test Git servers speak plain HTTP on loopback; the manager
		// refuses credentials over http:// unless its admin allows them.
		Fetcher: &source.GitFetcher{AllowPlainHTTPCredentials: true},
		Options: controllers.Options{
			Workers: 4,
			// The chart test servers are on 127.0.0.1, plain HTTP or HTTPS
			// with their own CA. A long index TTL shows that a new chart
			// version is seen because a reconcile request reads the index
			// afresh.
			Charts: charts.New(charts.Options{
				AllowPlainHTTP: true, AllowedHosts: []string{"127.0.0.1"}, MaxChartBytes: testMaxChartBytes, IndexTTL: time.Hour,
			}),
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	k8s, reconciler, testScheme, restConfig = suite.Client, suite.Reconciler, suite.Scheme, suite.Config
	code := m.Run()
	// After the tests -run selected, however they were ordered.
	if err := writeReliabilityReport(); err != nil {
		fmt.Fprintln(os.Stderr, "reliability report:", err)
		code = 1
	}
	if err := suite.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
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

// ConfigSyncs and what they apply.

// configMap is the manifest of ConfigMap name with data color.
func configMap(name, color string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\ndata:\n  color: " + color + "\n"
}

// newConfigSync is a ConfigSync of ns/name syncing path of the Git repository repoURL.
func newConfigSync(ns, name, repoURL, path string) *configsv1.ConfigSync {
	return &configsv1.ConfigSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: configsv1.ConfigSyncSpec{
			Source: configsv1.Source{Git: configsv1.GitSource{RepoURL: repoURL, Path: path}},
		},
	}
}

// condition is the condition typ of cs's status, Unknown when it has none.
func condition(cs *configsv1.ConfigSync, typ string) metav1.Condition {
	if c := apimeta.FindStatusCondition(cs.Status.Conditions, typ); c != nil {
		return *c
	}
	return metav1.Condition{Type: typ, Status: metav1.ConditionUnknown}
}

// denied expects ConfigSync ns/name stalled on AccessDenied, its Ready
// message saying each of what, and returns it.
func denied(g Gomega, ns, name string, what ...string) *configsv1.ConfigSync {
	cs := getConfigSync(g, ns, name)
	ready := condition(cs, configsv1.ConditionReady)
	g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(ready.Reason).To(Equal(configsv1.ReasonAccessDenied))
	for _, w := range what {
		g.Expect(ready.Message).To(ContainSubstring(w))
	}
	g.Expect(condition(cs, configsv1.ConditionStalled).Reason).To(Equal(configsv1.ReasonAccessDenied))
	return cs
}

// createSecret creates Secret ns/name holding data.
func createSecret(t *testing.T, ns, name string, data map[string]string) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: data}
	if err := k8s.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

// withAuth makes cs authenticate to Git with method and the Secret named secret.
func withAuth(cs *configsv1.ConfigSync, method configsv1.AuthMethod, secret string) *configsv1.ConfigSync {
	cs.Spec.Source.Git.AuthMethod = method
	cs.Spec.Source.Git.AuthSecretRef = &configsv1.LocalObjectReference{Name: secret}
	return cs
}

// configMapData is the data of the ConfigMap ns/name.
func configMapData(g Gomega, ns, name string) map[string]string {
	return getConfigMap(g, ns, name).Data
}

// getConfigMap reads the ConfigMap ns/name, failing the assertion on error.
func getConfigMap(g Gomega, ns, name string) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, cm)).To(Succeed())
	return cm
}

// configMapGone asserts that ConfigMap ns/name does not exist.
func configMapGone(g Gomega, ns, name string) {
	err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &corev1.ConfigMap{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "ConfigMap %s should be gone, got %v", name, err)
}

// manifest is the manifest of a v1 object of kind named name, body appended.
func manifest(kind, name, body string) string {
	return "apiVersion: v1\nkind: " + kind + "\nmetadata:\n  name: " + name + "\n" + body
}

// appliedBy lists the objects of the usual kinds, in any namespace, that
// carry the ConfigSync's ownership labels.
func appliedBy(g Gomega, ns, name string) []string {
	var out []string
	sel := client.MatchingLabels{configsv1.LabelNamespace: ns, configsv1.LabelName: name}
	for _, kind := range []string{"ConfigMapList", "SecretList", "ServiceList"} {
		list := &unstructured.UnstructuredList{}
		list.SetAPIVersion("v1")
		list.SetKind(kind)
		g.Expect(k8s.List(context.Background(), list, sel)).To(Succeed())
		for _, o := range list.Items {
			out = append(out, o.GetName())
		}
	}
	return out
}

// fixtureFiles reads a folder of testdata/e2e into path → content.
func fixtureFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	return readTree(t, filepath.Join("..", "testdata", "e2e", dir))
}

// readTree reads the files below root into path (relative, with slashes)
// → content.
func readTree(t *testing.T, root string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// sopsThenTemplate is a ConfigSync that decrypts SOPS files with the age key
// in Secret keySecret, then renders templates for the prod environment with
// the values of ConfigMap team-values.
func sopsThenTemplate(ns, name, url, keySecret string) *configsv1.ConfigSync {
	cs := newConfigSync(ns, name, url, "")
	cs.Spec.Render = []configsv1.RenderStep{
		{Sops: &configsv1.SopsStep{DecryptionSecretRef: configsv1.LocalObjectReference{Name: keySecret}}},
		{Template: &configsv1.TemplateStep{
			Environment: "prod",
			ValuesFrom:  []configsv1.ValuesReference{{Kind: "ConfigMap", Name: "team-values"}},
		}},
	}
	return cs
}

// setRollback sets (or, with nil, removes) the rollback of ConfigSync ns/name.
func setRollback(t *testing.T, ns, name string, rb *configsv1.Rollback) {
	t.Helper()
	patchObject(t, client.ObjectKey{Namespace: ns, Name: name}, &configsv1.ConfigSync{}, func(cs *configsv1.ConfigSync) {
		cs.Spec.Rollback = rb
	})
}

// haveEvent matches an Event of the ConfigSync's namespace.
func haveEvent(typ, reason string, note types.GomegaMatcher) types.GomegaMatcher {
	return ContainElement(And(HaveField("Type", typ), HaveField("Reason", reason), HaveField("Note", note)))
}

// events are the Events of namespace ns.
func events(g Gomega, ns string) []eventsv1.Event {
	list := &eventsv1.EventList{}
	g.Expect(k8s.List(context.Background(), list, client.InNamespace(ns))).To(Succeed())
	return list.Items
}

// stillSyncs shows the manager survived what came before: a ConfigSync,
// changed by adapt (if not nil), of a new repository of server holding files,
// applies ConfigMap "after" (color: blue) into a new namespace.
func stillSyncs(t *testing.T, server *testgit.Server, repoName string, files map[string]string, adapt func(*configsv1.ConfigSync)) {
	t.Helper()
	g := NewWithT(t)
	ns := newNamespace(t)
	repo := server.NewRepo(t, repoName)
	repo.Commit(t, files, "after")
	cs := newConfigSync(ns, "after", repo.URL, "")
	if adapt != nil {
		adapt(cs)
	}
	g.Expect(k8s.Create(context.Background(), cs)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(configMapData(g, ns, "after")).To(HaveKeyWithValue("color", "blue"))
	}, timeout).Should(Succeed())
}

// Shards and tenants.

// startShard runs a second operator instance, as --watch-label-selector
// would, taking the ConfigSyncs labelled with shard.
func startShard(t *testing.T, shard string, opts controllers.Options) {
	t.Helper()
	startShardStoppable(t, shard, opts)
}

// startShardStoppable is startShard with a stop function (idempotent).
func startShardStoppable(t *testing.T, shard string, opts controllers.Options) (stop func()) {
	t.Helper()
	return startShardOn(t, restConfig, shard, opts)
}

// startShardOn starts the shard with cfg (say, through a proxy to the
// apiserver).
func startShardOn(t *testing.T, cfg *rest.Config, shard string, opts controllers.Options) (stop func()) {
	t.Helper()
	mgr := newShardManager(t, cfg, shard)
	opts.SkipNameValidation = true
	if _, err := testoperator.SetupReconciler(mgr, &source.GitFetcher{}, opts); err != nil {
		t.Fatal(err)
	}
	stopManager := testoperator.Start(mgr)
	stop = func() {
		if err := stopManager(); err != nil {
			t.Errorf("shard manager: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// newShardManager is a manager (not started) whose cache holds the
// ConfigSyncs labelled with shard; no metrics or probe listeners.
func newShardManager(t *testing.T, cfg *rest.Config, shard string) ctrl.Manager {
	t.Helper()
	cacheOpts, err := controllers.CacheOptions(configsv1.LabelShardKey + "=" + shard)
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := testoperator.NewManager(cfg, testScheme, cacheOpts)
	if err != nil {
		t.Fatal(err)
	}
	return mgr
}

// inShard labels cs for the operator instance that takes shard.
func inShard(cs *configsv1.ConfigSync, shard string) *configsv1.ConfigSync {
	cs.Labels = map[string]string{configsv1.LabelShardKey: shard}
	return cs
}

// grantConfigMaps gives ServiceAccount sa of ns every right on ConfigMaps of ns, and nothing else.
func grantConfigMaps(t *testing.T, ns, sa string) {
	t.Helper()
	if err := k8s.Create(context.Background(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sa}}); err != nil {
		t.Fatal(err)
	}
	grantRole(t, ns, sa, sa, rbacv1.PolicyRule{
		APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}})
}

// grantRole creates Role name in ns with rule, and binds it to
// ServiceAccount sa of ns.
func grantRole(t *testing.T, ns, name, sa string, rule rbacv1.PolicyRule) {
	t.Helper()
	for _, o := range []client.Object{
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Rules: []rbacv1.PolicyRule{rule}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: sa}}},
	} {
		if err := k8s.Create(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
}

// create creates obj, and deletes it when the test ends.
func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := k8s.Create(context.Background(), obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), obj) })
}

// serviceAccountToken is a token of ServiceAccount sa of ns (TokenRequest),
// registered for the no-leak test.
func serviceAccountToken(t *testing.T, ns, sa string) string {
	t.Helper()
	expiry := int64(3600)
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}
	obj := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sa}}
	if err := k8s.SubResource("token").Create(context.Background(), obj, tr); err != nil || tr.Status.Token == "" {
		t.Fatalf("token of %s/%s: %v", ns, sa, err)
	}
	registerSecret(tr.Status.Token)
	return tr.Status.Token
}

// deniedRead waits until ConfigSync name of ns is Ready=False and Stalled
// with reason AccessDenied, its message naming field, the Secret and the
// ServiceAccount it read as, and records the escape; reached counts what
// reached a server the Secret would have opened.
func deniedRead(t *testing.T, escape, ns, name, field, secret, sa string, reached func() int64) {
	t.Helper()
	g := NewWithT(t)
	g.Eventually(func(g Gomega) {
		denied(g, ns, name, field, "Secret "+ns+"/"+secret, "forbidden to system:serviceaccount:"+ns+":"+sa)
	}, timeout).Should(Succeed(), name)
	cs := getConfigSync(g, ns, name)
	g.Expect(cs.Status.Inventory).To(BeEmpty(), name)
	g.Expect(cs.Status.AppliedTargets).To(BeZero(), name)
	t.Logf("%s: %s", name, condition(cs, configsv1.ConditionReady).Message)
	recordEscape(t, escape, configsv1.ReasonAccessDenied+": "+quote("forbidden to system:serviceaccount:<ns>:"+sa),
		condition(cs, configsv1.ConditionReady).Reason, reached(), len(appliedBy(g, ns, name)))
}

// What the manager did: requests, reconciles, metrics.

// writeRequests reads the apiserver's own request counter: every request
// that is not a dry-run and whose verb writes, for one resource.
func writeRequests(g Gomega, resource string) float64 {
	return countRequests(g, resource, `dry_run=""`)
}

// dryRunRequests counts the dry-run writes to one resource.
func dryRunRequests(g Gomega, resource string) float64 {
	return countRequests(g, resource, `dry_run="All"`)
}

// countRequests sums the apiserver's apiserver_request_total over the
// writing verbs (apply, patch, create, update, delete) of resource whose
// series contain dryRun.
func countRequests(g Gomega, resource, dryRun string) float64 {
	cs, err := kubernetes.NewForConfig(restConfig)
	g.Expect(err).NotTo(HaveOccurred())
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	var total float64
	scanner := bufio.NewScanner(strings.NewReader(string(raw)))
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		line := scanner.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") || !strings.Contains(line, `resource="`+resource+`"`) ||
			!strings.Contains(line, dryRun) {
			continue
		}
		write := false
		for _, verb := range []string{"APPLY", "PATCH", "POST", "PUT", "DELETE"} {
			if strings.Contains(line, `verb="`+verb+`"`) {
				write = true
			}
		}
		if !write {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64)
		g.Expect(err).NotTo(HaveOccurred())
		total += v
	}
	return total
}

// waitForHandledRequest waits until the ConfigSync handled the last
// reconcile request and is Ready.
func waitForHandledRequest(g Gomega, ns, name string) {
	g.Eventually(func(g Gomega) {
		cs := getConfigSync(g, ns, name)
		g.Expect(cs.Status.LastHandledReconcileAt).To(Equal(cs.Annotations["configs.example.io/reconcile-at"]))
		g.Expect(cs.Status.Conditions).To(ContainElement(HaveField("Type", "Ready")))
	}, timeout).Should(Succeed())
}

// reconciles is how many reconciles the suite's controller has finished.
func reconciles(g Gomega) float64 {
	total := 0.0
	for _, m := range series(g, "controller_runtime_reconcile_total", map[string]string{"controller": "configsync"}) {
		total += m.GetCounter().GetValue()
	}
	return total
}

// series returns the metric family name's series whose labels include want.
func series(g Gomega, name string, want map[string]string) []*dto.Metric {
	families, err := ctrlmetrics.Registry.Gather() // what the /metrics handler serves
	g.Expect(err).NotTo(HaveOccurred())
	var out []*dto.Metric
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue next
				}
			}
			out = append(out, m)
		}
	}
	return out
}

const webhookFixtures = "../testdata/webhooks"

// startReceiver serves the webhook receiver wired to the suite's reconciler,
// with its token in a Secret of namespace ns.
func startReceiver(t *testing.T, ns string, token []byte) string {
	t.Helper()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "webhook-token"}, Data: map[string][]byte{receiver.SecretKey: token}}
	if err := k8s.Create(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(&receiver.Handler{
		Secret:  receiver.SecretFromCluster(k8s, client.ObjectKeyFromObject(secret)),
		Trigger: reconciler.TriggerPush,
		Log:     ctrl.Log.WithName("receiver"),
	})
	t.Cleanup(srv.Close)
	return srv.URL
}

// The reliability report and the no-leak test: findings and secret values.

// finding is one row of docs/reliability.md: a case, what it must give, what
// it gave, and what it applied or lost.
type finding struct {
	Suite, Case, Want, Got string
	Applied, Lost          int
	Pass                   bool
}

// findings are the rows of the reliability report, recorded as tests end.
var findings struct {
	sync.Mutex
	rows []finding
}

// record adds a row to the reliability report.
func record(f finding) {
	findings.Lock()
	defer findings.Unlock()
	findings.rows = append(findings.rows, f)
}

// secrets are the values the no-leak test must find nowhere.
var secrets struct {
	sync.Mutex
	values []string
}

// registerSecret names values the no-leak test must find nowhere.
func registerSecret(values ...string) {
	secrets.Lock()
	defer secrets.Unlock()
	secrets.values = append(secrets.values, values...)
}

// lastLine is the last line of s, trailing space trimmed.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// recordFault records the story's outcome in the reliability report when
// the test ends: it survived the fault if every assertion held.
func recordFault(t *testing.T, name, want string) {
	t.Cleanup(func() {
		got, lost := "converged, nothing lost", 0
		if t.Failed() {
			got, lost = "FAILED (see the test log)", -1
		}
		record(finding{Suite: "fault", Case: name, Want: want, Got: got, Lost: max(lost, 0), Pass: !t.Failed()})
	})
}

// recordEscape is one row of the "tenant escape" table of
// docs/reliability.md: worked when anything reached the attacker or was
// applied from it, or the test failed.
func recordEscape(t *testing.T, name, want, got string, reached int64, applied int) {
	pass := reached == 0 && applied == 0 && !t.Failed()
	outcome := got
	if reached > 0 {
		outcome = sprintf("%s; %d request(s) reached the attacker", got, reached)
	}
	record(finding{Suite: "tenant escape", Case: name, Want: want, Got: outcome, Applied: applied, Pass: pass})
}

// assertNoLeak fails when secret appears in the ConfigSync's status or in any
// Event of its namespace.
func assertNoLeak(g Gomega, ns, name, secret string) {
	cs := getConfigSync(g, ns, name)
	g.Expect(fmt.Sprintf("%+v", cs.Status)).NotTo(ContainSubstring(secret))
	events := &eventsv1.EventList{}
	g.Expect(k8s.List(context.Background(), events, client.InNamespace(ns))).To(Succeed())
	for _, e := range events.Items {
		g.Expect(e.Note).NotTo(ContainSubstring(secret))
	}
}

// quote is s as a code span of a Markdown table cell, cut at 60 bytes.
func quote(s string) string {
	if s == "" {
		return "any message"
	}
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return "`" + strings.ReplaceAll(s, "|", "\\|") + "`"
}
