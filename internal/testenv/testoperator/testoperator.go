// Package testoperator runs the ConfigSync operator (a controller manager
// with the ConfigSync reconciler) on a test control plane. It is the one
// place tests build a reconciler (controllers.New) and set it up on a
// manager (SetupWithManager).
//
// It imports controllers, so only external test packages (controllers_test,
// ui_test, ...) may use it, never a file of package controllers. It is apart
// from internal/testenv so that what links testenv (hack/devcluster, bench)
// does not link the controllers too.
package testoperator

import (
	"context"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/configsync/configsync/controllers"
	"github.com/configsync/configsync/internal/testenv"
	"github.com/configsync/configsync/source"
)

// NewReconciler is the ConfigSync reconciler of mgr, not set up: for tests
// that call Reconcile or TriggerPush on it themselves.
func NewReconciler(mgr ctrl.Manager, fetcher source.Fetcher, opts controllers.Options) *controllers.ConfigSyncReconciler {
	return controllers.New(mgr, fetcher, opts)
}

// SetupReconciler builds the reconciler of mgr with opts and sets it up on
// mgr.
func SetupReconciler(mgr ctrl.Manager, fetcher source.Fetcher, opts controllers.Options) (*controllers.ConfigSyncReconciler, error) {
	r := NewReconciler(mgr, fetcher, opts)
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	return r, nil
}

// NewManager is a manager (not started) on cfg whose cache holds what
// cacheOpts selects; no metrics or probe listeners.
func NewManager(cfg *rest.Config, scheme *runtime.Scheme, cacheOpts cache.Options) (ctrl.Manager, error) {
	return ctrl.NewManager(cfg, ctrl.Options{
		Scheme: scheme, Cache: cacheOpts,
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
	})
}

// Start runs mgr until stop is called; stop waits for it to end and returns
// what mgr.Start returned, the same on every call.
func Start(mgr ctrl.Manager) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	var err error
	return func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
}

// SuiteOptions say which manager a Suite runs.
type SuiteOptions struct {
	// Cache selects the ConfigSyncs the manager takes (controllers.CacheOptions).
	Cache cache.Options
	// Fetcher fetches the sources.
	Fetcher source.Fetcher
	// Options set the reconciler up, as in SetupReconciler.
	Options controllers.Options
}

// Suite is a control plane with the operator running on it, for the tests
// of a package: its TestMain starts it before m.Run and stops it after.
type Suite struct {
	Env *envtest.Environment
	// Config and Client reach the apiserver as an administrator, directly,
	// not through the manager's cache; both know Scheme.
	Config     *rest.Config
	Client     client.Client
	Scheme     *runtime.Scheme
	Reconciler *controllers.ConfigSyncReconciler
	stop       func() error
}

// StartSuite starts a control plane and the operator's manager on it.
func StartSuite(opts SuiteOptions) (_ *Suite, err error) {
	env, err := testenv.New()
	if err != nil {
		return nil, err
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start control plane: %w", err)
	}
	defer func() {
		if err != nil {
			_ = env.Stop()
		}
	}()
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		return nil, err
	}
	mgr, err := NewManager(cfg, env.Scheme, opts.Cache)
	if err != nil {
		return nil, err
	}
	r, err := SetupReconciler(mgr, opts.Fetcher, opts.Options)
	if err != nil {
		return nil, err
	}
	return &Suite{Env: env, Config: cfg, Client: c, Scheme: env.Scheme, Reconciler: r, stop: Start(mgr)}, nil
}

// Stop stops the manager, then the control plane; its error is the
// manager's.
func (s *Suite) Stop() error {
	err := s.stop()
	_ = s.Env.Stop()
	if err != nil {
		return fmt.Errorf("manager: %w", err)
	}
	return nil
}
