// Command manager runs the ConfigSync operator.
package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"go.uber.org/zap/zapcore"
	"net/http"
	"os"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/apply"
	"github.com/configsync/configsync/charts"
	"github.com/configsync/configsync/controllers"
	"github.com/configsync/configsync/deploy"
	"github.com/configsync/configsync/receiver"
	"github.com/configsync/configsync/renderers/sandbox"
	"github.com/configsync/configsync/source"
)

// config is the manager's command line.
type config struct {
	metricsAddr, probeAddr, webhookAddr     string
	metricsSecure                           bool
	webhookSecret, watchSelector, pprofAddr string
	leaderElect, installCRDs                bool
	webhookMaxBody                          int64
	controller                              controllers.Options
	renderSandbox                           bool
	renderMemory                            int64
	charts                                  charts.Options
	helmRemoteCharts                        bool
	helmAllowedHosts                        string
}

func main() {
	// A render process started by this manager (renderers/sandbox) renders
	// and exits here, before any flag or client.
	sandbox.ServeIfChild()
	var c config
	fetcher := &source.GitFetcher{}
	flag.StringVar(&c.metricsAddr, "metrics-bind-address", "127.0.0.1:8080", "address of the Prometheus metrics endpoint (loopback unless told: the Deployment sets :8080); 0 disables it")
	flag.BoolVar(&c.metricsSecure, "metrics-secure", true, "serve metrics over HTTPS (a self-signed certificate unless one is in the cert folder), only to clients the apiserver authenticates and authorizes for GET /metrics (TokenReview + SubjectAccessReview); false serves plain HTTP to anyone who can reach the address")
	flag.StringVar(&c.probeAddr, "health-probe-bind-address", "127.0.0.1:8081", "address of /healthz and /readyz (loopback unless told: the Deployment sets :8081)")
	flag.StringVar(&c.pprofAddr, "pprof-bind-address", "", "address of the Go profiler's /debug/pprof endpoints (off when empty); for profiling, never expose it")
	flag.StringVar(&c.webhookAddr, "webhook-bind-address", "127.0.0.1:9292", "address of the push webhook receiver (POST /hooks/<provider>; loopback unless told: the Deployment sets :9292); 0 disables it")
	flag.StringVar(&c.webhookSecret, "webhook-secret", "", "namespace/name of the Secret whose \"token\" key the webhook providers sign with (required for the receiver)")
	flag.Int64Var(&c.webhookMaxBody, "webhook-max-body-bytes", receiver.DefaultMaxBodyBytes, "largest webhook body accepted")
	flag.BoolVar(&c.leaderElect, "leader-elect", true, "elect a leader so that only one replica reconciles")
	flag.StringVar(&c.watchSelector, "watch-label-selector", "", "reconcile only the ConfigSyncs this label selector matches (sharding: \"!"+configsv1.LabelShardKey+"\" on the main instance, \""+configsv1.LabelShardKey+"=<shard>\" on each shard)")
	flag.BoolVar(&c.installCRDs, "install-crds", false, "server-side apply the ConfigSync CRD before starting (for local runs)")
	flag.IntVar(&c.controller.Workers, "concurrent", 4, "ConfigSyncs reconciled in parallel")
	flag.IntVar(&c.controller.ApplyConcurrency, "apply-concurrency", apply.DefaultConcurrency, "dry-runs and applies one ConfigSync has in flight at once")
	flag.DurationVar(&c.controller.MinRetryDelay, "min-retry-delay", 750*time.Millisecond, "first delay of the exponential backoff after a transient failure")
	flag.DurationVar(&c.controller.MaxRetryDelay, "max-retry-delay", 15*time.Minute, "longest delay of the exponential backoff after transient failures")
	flag.StringVar(&c.controller.DefaultServiceAccount, "default-service-account", "", "ServiceAccount (of each ConfigSync's namespace) to impersonate when a ConfigSync names none")
	flag.BoolVar(&c.controller.NoCrossNamespaceRefs, "no-cross-namespace-refs", false, "refuse targets, Helm release namespaces and rendered objects outside the ConfigSync's namespace, and rendered cluster-scoped objects")
	flag.BoolVar(&c.controller.AllowClusterScoped, "allow-cluster-scoped", false, "with --no-cross-namespace-refs, still apply rendered cluster-scoped objects (ClusterRoleBinding, Namespace, CRD...): give tenants a ServiceAccount whose RBAC bounds them (see docs/security.md)")
	flag.BoolVar(&c.controller.SopsAllowCloudKMS, "sops-allow-cloud-kms", false, "UNSAFE with tenants: let sops steps decrypt with AWS/GCP/Azure KMS, Vault and HuaweiCloud keys, using the operator's own cloud credentials and network position (see docs/security.md); age and PGP keys always work")
	flag.BoolVar(&c.controller.Kubeconfig.AllowExec, "kubeconfig-allow-exec", false, "UNSAFE with tenants: accept exec credential plugins and auth-provider plugins in the kubeconfigs of ConfigSyncs (spec.kubeConfigSecretRef); they run programs inside the operator with its environment and files (see docs/security.md)")
	flag.BoolVar(&c.controller.Kubeconfig.InsecureTLS, "kubeconfig-insecure-tls", false, "UNSAFE: accept insecure-skip-tls-verify in the kubeconfigs of ConfigSyncs; their connections to other clusters are then open to interception (see docs/security.md)")
	flag.BoolVar(&c.renderSandbox, "render-sandbox", true, "run each render pipeline in a child process of this binary, under a memory limit the kernel enforces and killed with its step's timeout (see docs/security.md); false renders inside the manager, where a Jsonnet, Helm or kustomize render that will not stop keeps running after its timeout and one that allocates without bound takes the manager down")
	flag.Int64Var(&c.renderMemory, "render-max-memory-bytes", sandbox.DefaultMemoryLimit, "memory one sandboxed render may allocate beyond its input; --concurrent renders may run at once, so keep concurrent x this + the manager's own use under the container's memory limit")
	flag.IntVar(&fetcher.MaxArtifacts, "max-artifacts", source.DefaultMaxArtifacts, "Git commits kept in the artifact cache (in memory); the least recently used beyond it are evicted")
	flag.Int64Var(&fetcher.MaxCacheBytes, "max-cache-bytes", source.DefaultMaxCacheBytes, "file contents the artifact cache keeps in memory; the least recently used commits beyond it are evicted (commits in use stay)")
	flag.BoolVar(&fetcher.AllowPlainHTTPCredentials, "git-allow-plain-http-credentials", false, "UNSAFE: send Git credentials (authMethod https, or a user name/password in repoURL) over plain http://, readable by anyone on the path; off, such a ConfigSync fails with AuthenticationFailed before connecting (see docs/security.md)")
	flag.Int64Var(&fetcher.MaxBytes, "max-fetch-bytes", source.DefaultMaxBytes, "largest download (uncompressed objects) of one Git fetch")
	flag.BoolVar(&c.helmRemoteCharts, "helm-remote-charts", true, "let helm steps fetch charts from Helm repositories and OCI registries (repoURL, and remote Chart.yaml dependencies); false refuses them with RemoteChartsDisabled")
	flag.StringVar(&c.helmAllowedHosts, "helm-allowed-hosts", "", "comma-separated hosts (host or host:port) remote charts may come from; empty allows any host but loopback and link-local addresses and cloud metadata endpoints. A chart elsewhere fails with ChartHostNotAllowed")
	flag.Int64Var(&c.charts.MaxChartBytes, "helm-max-chart-bytes", charts.DefaultMaxChartBytes, "largest chart archive downloaded (ChartTooLarge beyond)")
	flag.DurationVar(&c.charts.IndexTTL, "helm-index-ttl", charts.DefaultIndexTTL, "how long a Helm repository's index or an OCI registry's tag list is reused; a reconcile request reads it afresh")
	flag.BoolVar(&c.charts.AllowPlainHTTP, "helm-allow-plain-http", false, "UNSAFE: accept http:// Helm repositories and plain-HTTP OCI registries (local test registries); their charts and credentials cross the network in clear")
	// Stack traces only for panics: a failed sync is the user's input or the
	// network, not a bug in the operator, and its message says all
	// (--zap-stacktrace-level lowers it).
	zapOpts := zap.Options{Development: false, StacktraceLevel: zapcore.DPanicLevel}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	if err := run(c, fetcher); err != nil {
		ctrl.Log.Error(err, "manager stopped")
		os.Exit(1)
	}
}

func run(c config, fetcher *source.GitFetcher) error {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, configsv1.AddToScheme, apiextensionsv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return err
		}
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	ctx := ctrl.SetupSignalHandler()
	if c.installCRDs {
		if err := installCRD(ctx, cfg, scheme); err != nil {
			return err
		}
	}
	cacheOpts, err := controllers.CacheOptions(c.watchSelector)
	if err != nil {
		return err
	}
	leaseID := "configsync.configs.example.io"
	if c.watchSelector != "" {
		// Each shard elects its own leader.
		sum := sha256.Sum256([]byte(c.watchSelector))
		leaseID = fmt.Sprintf("configsync-%x.configs.example.io", sum[:8])
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  cacheOpts,
		Metrics:                metricsOptions(c),
		HealthProbeBindAddress: c.probeAddr,
		PprofBindAddress:       c.pprofAddr,
		LeaderElection:         c.leaderElect,
		LeaderElectionID:       leaseID,
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	if c.renderSandbox {
		// Cloud KMS reads the ambient credentials from the environment.
		runner := &sandbox.Runner{MemoryLimit: c.renderMemory, PassEnvironment: c.controller.SopsAllowCloudKMS}
		c.controller.Render = runner.Run
	}
	c.controller.Charts = charts.New(chartOptions(c))
	r := controllers.New(mgr, fetcher, c.controller)
	if c.controller.Kubeconfig.AllowExec || c.controller.Kubeconfig.InsecureTLS {
		ctrl.Log.Info("kubeconfigs of ConfigSyncs may hold unsafe fields", "allowExec", c.controller.Kubeconfig.AllowExec, "insecureTLS", c.controller.Kubeconfig.InsecureTLS)
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up reconciler: %w", err)
	}
	if err := addReceiver(mgr, c, r); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	ctrl.Log.Info("starting manager", "workers", c.controller.Workers, "watchLabelSelector", c.watchSelector)
	return mgr.Start(ctx)
}

// addReceiver serves the push webhook receiver on every replica: a replica
// that does not lead hands pushes to the leader through the reconcile
// annotation.
func addReceiver(mgr ctrl.Manager, c config, r *controllers.ConfigSyncReconciler) error {
	if c.webhookAddr == "" || c.webhookAddr == "0" {
		return nil
	}
	if c.webhookSecret == "" {
		ctrl.Log.Info("webhook receiver disabled: --webhook-secret is not set")
		return nil
	}
	ns, name, ok := strings.Cut(c.webhookSecret, "/")
	if !ok || ns == "" || name == "" {
		return fmt.Errorf("--webhook-secret %q: want namespace/name", c.webhookSecret)
	}
	handler := &receiver.Handler{
		Secret:  receiver.SecretFromCluster(mgr.GetAPIReader(), client.ObjectKey{Namespace: ns, Name: name}),
		Trigger: r.TriggerPush,
		// Each namespace with ConfigSyncs may have an endpoint of its own,
		// signed with its own token (docs/operations.md).
		NamespaceSecret: func(namespace string) receiver.SecretFunc {
			return receiver.SecretFromCluster(mgr.GetAPIReader(), client.ObjectKey{Namespace: namespace, Name: receiver.NamespaceSecretName})
		},
		Serves:       r.ServesNamespace,
		MaxBodyBytes: c.webhookMaxBody,
		Log:          ctrl.Log.WithName("receiver"),
	}
	mux := http.NewServeMux()
	mux.Handle("/hooks/", handler)
	srv := &http.Server{Addr: c.webhookAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	return mgr.Add(receiverRunnable{srv})
}

type receiverRunnable struct{ srv *http.Server }

func (receiverRunnable) NeedLeaderElection() bool { return false }

func (rr receiverRunnable) Start(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- rr.srv.ListenAndServe() }()
	ctrl.Log.Info("webhook receiver listening", "address", rr.srv.Addr)
	select {
	case err := <-errc:
		return fmt.Errorf("webhook receiver: %w", err)
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return rr.srv.Shutdown(shutdown)
	}
}

// installCRD applies the embedded CRD and waits until it is served.
func installCRD(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme) error {
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	if err := deploy.InstallCRD(ctx, c); err != nil {
		return err
	}
	ctrl.Log.Info("CRD installed")
	return nil
}

// metricsOptions serves metrics as current kubebuilder scaffolds do: over
// HTTPS, to callers the apiserver authenticates and authorizes (the
// metrics reader ClusterRole in deploy/rbac grants GET /metrics).
func metricsOptions(c config) metricsserver.Options {
	opts := metricsserver.Options{BindAddress: c.metricsAddr}
	if c.metricsSecure {
		opts.SecureServing = true
		opts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return opts
}

// chartOptions builds the one chart fetcher's options from the flags: one
// fetcher serves every ConfigSync, so a chart version is downloaded once.
func chartOptions(c config) charts.Options {
	o := c.charts
	o.Disabled = !c.helmRemoteCharts
	for _, h := range strings.Split(c.helmAllowedHosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			o.AllowedHosts = append(o.AllowedHosts, h)
		}
	}
	// Without an allowlist any host is allowed, but not the operator's own
	// pod or node: a host an admin names is allowed wherever it is.
	o.RefuseLocalAddresses = len(o.AllowedHosts) == 0
	return o
}
