// Command manager runs the ConfigSync operator.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/apply"
	"github.com/configsync/configsync/controllers"
	"github.com/configsync/configsync/deploy"
	"github.com/configsync/configsync/source"
)

func main() {
	var (
		metricsAddr, probeAddr, cacheDir string
		leaderElect, installCRDs         bool
		workers, maxArtifacts, applyConc int
		maxFetchBytes                    int64
		minRetry, maxRetry               time.Duration
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint; 0 disables it")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	flag.StringVar(&cacheDir, "cache-dir", filepath.Join(os.TempDir(), "configsync"), "folder for fetched Git artifacts")
	flag.BoolVar(&leaderElect, "leader-elect", false, "elect a leader so that only one replica reconciles")
	flag.BoolVar(&installCRDs, "install-crds", false, "server-side apply the ConfigSync CRD before starting (for local runs)")
	flag.IntVar(&workers, "concurrent", 4, "ConfigSyncs reconciled in parallel")
	flag.IntVar(&applyConc, "apply-concurrency", apply.DefaultConcurrency, "dry-runs and applies one ConfigSync has in flight at once")
	flag.DurationVar(&minRetry, "min-retry-delay", 750*time.Millisecond, "first delay of the exponential backoff after a transient failure")
	flag.DurationVar(&maxRetry, "max-retry-delay", 15*time.Minute, "longest delay of the exponential backoff after transient failures")
	flag.IntVar(&maxArtifacts, "max-artifacts", source.DefaultMaxArtifacts, "Git commits kept in the artifact cache; the least recently used beyond it are evicted")
	flag.Int64Var(&maxFetchBytes, "max-fetch-bytes", source.DefaultMaxBytes, "largest download (uncompressed objects) of one Git fetch")
	zapOpts := zap.Options{Development: false}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	fetcher := &source.GitFetcher{Dir: cacheDir, MaxArtifacts: maxArtifacts, MaxBytes: maxFetchBytes}
	opts := controllers.Options{Workers: workers, ApplyConcurrency: applyConc, MinRetryDelay: minRetry, MaxRetryDelay: maxRetry}
	if err := run(metricsAddr, probeAddr, fetcher, leaderElect, installCRDs, opts); err != nil {
		ctrl.Log.Error(err, "manager stopped")
		os.Exit(1)
	}
}

func run(metricsAddr, probeAddr string, fetcher *source.GitFetcher, leaderElect, installCRDs bool, opts controllers.Options) error {
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
	if installCRDs {
		if err := installCRD(ctx, cfg, scheme); err != nil {
			return err
		}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress: probeAddr,
		LeaderElection:         leaderElect,
		LeaderElectionID:       "configsync.configs.example.io",
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	r := controllers.New(mgr, fetcher)
	if err := r.SetupWithManager(mgr, opts); err != nil {
		return fmt.Errorf("set up reconciler: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	ctrl.Log.Info("starting manager", "cacheDir", fetcher.Dir, "workers", opts.Workers)
	return mgr.Start(ctx)
}

// installCRD applies the embedded CRD and waits until the apiserver serves it.
func installCRD(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme) error {
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	crd := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(deploy.CRD, &crd.Object); err != nil {
		return fmt.Errorf("decode embedded CRD: %w", err)
	}
	if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(crd), client.FieldOwner(controllers.FieldOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("apply CRD: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		got := &apiextensionsv1.CustomResourceDefinition{}
		if err := c.Get(ctx, client.ObjectKey{Name: crd.GetName()}, got); err == nil && crdEstablished(got) {
			ctrl.Log.Info("CRD installed", "name", crd.GetName())
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for CRD %s: %w", crd.GetName(), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func crdEstablished(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
			return true
		}
	}
	return false
}
