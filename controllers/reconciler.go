// Package controllers holds the ConfigSync reconciler. It only wires the
// stages together (source, renderers, desired, apply, prune) and reports
// what they did through status, conditions, Events, metrics and logs.
//
// The files follow a reconcile: reconciler.go builds and registers it,
// reconcile.go runs one (Reconcile, the trigger, the stage table and the
// deferred finish), stages.go holds the stages, status.go derives the
// status from a run's outcome, rollback.go and finalize.go what their names
// say, errors.go maps failures to condition reasons.
package controllers

import (
	"sync"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	ctrlmanager "sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	ctrlsource "sigs.k8s.io/controller-runtime/pkg/source"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/apply"
	"github.com/configsync/configsync/charts"
	"github.com/configsync/configsync/desired"
	"github.com/configsync/configsync/source"
)

// ConfigSyncReconciler reconciles ConfigSync objects.
type ConfigSyncReconciler struct {
	Client client.Client
	// APIReader reads Secrets without caching them.
	APIReader client.Reader
	Fetcher   source.Fetcher
	Applier   *apply.Manager
	Recorder  recorder.EventRecorder

	opts Options
	// pushes carries ConfigSyncs a webhook asks to reconcile now.
	pushes chan event.GenericEvent
	// pushed holds when a push was announced for each ConfigSync it
	// enqueued, so that its fetch lists the refs after the push.
	pushed eventTimes
	// changed holds when this replica saw each ConfigSync created or its
	// spec changed: a listing of its repository that started later is as
	// good as one of its own (see fetch).
	changed eventTimes
	// renders keeps each ConfigSync's last render for resyncs of the same
	// commit, spec and inputs.
	renders renderCache
	// written holds the resourceVersion of each ConfigSync's last write
	// here, to tell a cache that lags behind it (see getConfigSync).
	written writtenVersions
	// chartRefresh holds the ConfigSyncs whose requested chart index
	// refresh failed: their retries refresh too.
	chartRefresh sync.Map
	// chartsVerified holds the chart digests whose provenance was verified,
	// by keyring (see inputs.ChartFetch.Verified).
	chartsVerified sync.Map
	// elected is closed once this replica leads (see enqueue).
	elected <-chan struct{}
	// clusters builds appliers for other clusters and tenant identities.
	clusters *clusters
	// capabilities describe the cluster to Helm charts; nil leaves Helm's defaults.
	capabilities *clusterCapabilities
}

// +kubebuilder:rbac:groups=configs.example.io,resources=configsyncs,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=configs.example.io,resources=configsyncs/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=configs.example.io,resources=configsyncs/finalizers,verbs=update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// Git credentials, SOPS keys, kubeconfigs, the webhook token and valuesFrom
// are read one object at a time, never listed or watched. A ConfigSync with
// a ServiceAccount (its own or --default-service-account) reads what its
// spec names as that ServiceAccount (readInput), so the manager's own "get"
// serves only the webhook token and ConfigSyncs without one; it stays
// because either may be in use (docs/security.md).
// +kubebuilder:rbac:groups="",resources=secrets;configmaps,verbs=get
// Tenancy (apply, and read what the spec names, as a ConfigSync's
// ServiceAccount) needs "impersonate" on ServiceAccounts: not here but in
// its own ClusterRole, deploy/rbac/impersonate-role.yaml, so that an admin
// can grant it namespace by namespace (docs/security.md).
// Helm charts see the cluster's version and API groups.
// +kubebuilder:rbac:urls=/version;/api;/api/*;/apis;/apis/*,verbs=get
// The metrics endpoint asks the apiserver who a scraper is and whether it
// may GET /metrics (--metrics-secure).
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create
//
// The rights to apply what Git holds are the apply package's (see its
// markers, generated into deploy/rbac/apply-role.yaml).

// Options tune the controller.
type Options struct {
	// Workers is how many ConfigSyncs reconcile in parallel.
	Workers int
	// ApplyConcurrency bounds the dry-runs and applies of one ConfigSync in
	// flight; zero means apply.DefaultConcurrency.
	ApplyConcurrency int
	// MinRetryDelay and MaxRetryDelay bound the exponential backoff of
	// transient failures; zero means 750ms and 15m, as Flux uses.
	MinRetryDelay, MaxRetryDelay time.Duration
	// DefaultServiceAccount is impersonated by ConfigSyncs that name none.
	DefaultServiceAccount string
	// NoCrossNamespaceRefs refuses targets, release namespaces and
	// rendered objects outside the ConfigSync's namespace, and rendered
	// cluster-scoped objects.
	NoCrossNamespaceRefs bool
	// AllowClusterScoped lets ConfigSyncs apply cluster-scoped kinds
	// (ClusterRoleBinding, Namespace, CRD...) under NoCrossNamespaceRefs,
	// which otherwise refuses them with any rendered object outside the
	// ConfigSync's namespace.
	AllowClusterScoped bool
	// SopsAllowCloudKMS lets sops steps decrypt with cloud KMS and Vault
	// keys, through the operator's own ambient credentials (unsafe with
	// tenants: see docs/security.md). Age and PGP keys always work.
	SopsAllowCloudKMS bool
	// Render runs each render pipeline; nil runs renderers.Run in the
	// manager's own process. The manager passes a sandbox.Runner's Run, so
	// that a render's memory and time are bounded by the kernel.
	Render RenderFunc
	// Charts fetches remote Helm charts, one for the whole manager (its
	// cache makes one download per chart version); nil refuses them.
	Charts *charts.Fetcher
	// Kubeconfig is what the kubeconfigs of ConfigSyncs may hold; the zero
	// policy refuses every unsafe field.
	Kubeconfig KubeconfigPolicy
	// SkipNameValidation lets a second manager in one process (a test's
	// shard) register the controller again.
	SkipNameValidation bool
}

// New builds a reconciler wired to mgr's client, the given Git fetcher and
// opts, ready for SetupWithManager.
func New(mgr ctrlmanager.Manager, fetcher source.Fetcher, opts Options) *ConfigSyncReconciler {
	var caps *clusterCapabilities
	if dc, err := discovery.NewDiscoveryClientForConfig(mgr.GetConfig()); err == nil {
		caps = &clusterCapabilities{discovery: dc}
	}
	applier := &apply.Manager{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), FieldOwner: desired.FieldOwner}
	if opts.ApplyConcurrency > 0 {
		applier.Concurrency = opts.ApplyConcurrency
	}
	return &ConfigSyncReconciler{
		Client:       mgr.GetClient(),
		APIReader:    mgr.GetAPIReader(),
		Fetcher:      fetcher,
		Applier:      applier,
		Recorder:     mgr.GetEventRecorder("configsync"),
		opts:         opts,
		capabilities: caps,
		pushes:       make(chan event.GenericEvent, 1024),
		clusters: &clusters{local: mgr.GetConfig(), localMap: mgr.GetRESTMapper(), scheme: mgr.GetScheme(),
			concurrent: opts.ApplyConcurrency, policy: opts.Kubeconfig},
		elected: mgr.Elected(),
	}
}

// SetupWithManager registers the reconciler. Status writes do not trigger a
// reconcile; spec changes and the reconcile-request annotation do.
func (r *ConfigSyncReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&configsv1.ConfigSync{}, builder.WithPredicates(
			r.noteChanges(),
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		WatchesRawSource(ctrlsource.Channel(r.pushes, &handler.EnqueueRequestForObject{})).
		WithOptions(controllerOptions(r.opts)).
		Complete(r)
}

// noteChanges records when a ConfigSync was seen created or its spec
// changed (see changed). It filters nothing: it sits among the predicates
// because they see each event as it arrives.
func (r *ConfigSyncReconciler) noteChanges() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool {
			r.changed.record(client.ObjectKeyFromObject(e.Object), time.Now())
			return true
		},
		UpdateFunc: func(e event.UpdateEvent) bool {
			if e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() {
				r.changed.record(client.ObjectKeyFromObject(e.ObjectNew), time.Now())
			}
			return true
		},
	}
}

func controllerOptions(o Options) controller.Options {
	if o.Workers < 1 {
		o.Workers = 1
	}
	if o.MinRetryDelay <= 0 {
		o.MinRetryDelay = 750 * time.Millisecond
	}
	if o.MaxRetryDelay < o.MinRetryDelay {
		o.MaxRetryDelay = 15 * time.Minute
	}
	return controller.Options{
		SkipNameValidation:      &o.SkipNameValidation,
		MaxConcurrentReconciles: o.Workers,
		RateLimiter:             workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](o.MinRetryDelay, o.MaxRetryDelay),
	}
}
