// Package controllers holds the ConfigSync reconciler. It only wires the
// stages together (source, renderers, apply, prune) and reports what they did
// through status, conditions, Events and logs.
package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	ctrlmanager "sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/apply"
	"github.com/configsync/configsync/charts"
	"github.com/configsync/configsync/internal/filetree"
	"github.com/configsync/configsync/renderers"
	"github.com/configsync/configsync/source"
)

// FieldOwner is the server-side apply field manager of what the operator
// applies outside a ConfigSync (its CRD); each ConfigSync applies as
// FieldOwnerFor(it).
const FieldOwner = "configsync"

// FieldOwnerFor is the field manager a ConfigSync applies with:
// "configsync/<namespace>/<name>". Two ConfigSyncs rendering the same object
// then conflict on its ownership labels, which the apply reports, instead
// of taking the object from each other at every sync. Names too long for a
// field manager (128 bytes) are shortened with a digest.
func FieldOwnerFor(namespace, name string) string {
	owner := FieldOwner + "/" + namespace + "/" + name
	if len(owner) <= 128 {
		return owner
	}
	sum := sha256.Sum256([]byte(owner))
	return owner[:100] + "-" + hex.EncodeToString(sum[:8])
}

// DefaultRefreshInterval applies when a ConfigSync was stored without the
// CRD's default (e.g. by an older CRD).
const DefaultRefreshInterval = 10 * time.Minute

// ConfigSyncReconciler reconciles ConfigSync objects.
type ConfigSyncReconciler struct {
	Client client.Client
	// APIReader reads Secrets without caching them.
	APIReader client.Reader
	Fetcher   source.Fetcher
	// Charts fetches remote Helm charts, one for the whole manager (its
	// cache makes one download per chart version); nil refuses them.
	Charts   *charts.Fetcher
	Applier  *apply.Manager
	Recorder recorder.EventRecorder

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
	// by keyring (see ChartFetch.Verified).
	chartsVerified sync.Map
	// elected is closed once this replica leads (see enqueue).
	elected <-chan struct{}

	// clusters builds appliers for other clusters and tenant identities.
	clusters *clusters
	opts     Options

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

// stageError carries the condition reason of a failed stage and whether a
// retry may succeed without the user changing anything.
type stageError struct {
	reason    string
	transient bool
	err       error
}

func (e *stageError) Error() string { return e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

func transientErr(reason string, err error) error {
	return &stageError{reason: reason, transient: true, err: err}
}
func configErr(reason string, err error) error { return &stageError{reason: reason, err: err} }

func refreshInterval(cs *configsv1.ConfigSync) time.Duration {
	if cs.Spec.RefreshInterval != nil && cs.Spec.RefreshInterval.Duration > 0 {
		return cs.Spec.RefreshInterval.Duration
	}
	return DefaultRefreshInterval
}

// requeueAfter spreads resyncs by up to 5% so that many ConfigSyncs created
// together do not all poll their Git servers in the same second.
func requeueAfter(cs *configsv1.ConfigSync) time.Duration {
	return wait.Jitter(refreshInterval(cs), 0.05)
}

// setCondition sets a condition stamped with the object's generation.
func setCondition(cs *configsv1.ConfigSync, typ string, status metav1.ConditionStatus, reason, message string) {
	apimeta.SetStatusCondition(&cs.Status.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: message, ObservedGeneration: cs.Generation,
	})
}

// removeConditions drops conditions that no longer apply.
func removeConditions(cs *configsv1.ConfigSync, types ...string) {
	for _, t := range types {
		apimeta.RemoveStatusCondition(&cs.Status.Conditions, t)
	}
}

// patchStatus writes status when it changed since before, so a resync that
// changes nothing makes no write.
func (r *ConfigSyncReconciler) patchStatus(ctx context.Context, before, cs *configsv1.ConfigSync) error {
	if equality.Semantic.DeepEqual(before.Status, cs.Status) {
		return nil
	}
	if err := r.Client.Status().Patch(ctx, cs, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("patch status of %s/%s: %w", cs.Namespace, cs.Name, err)
	}
	r.written.record(cs)
	return nil
}

// reasonOf maps an error to a condition reason and whether it is transient.
func reasonOf(err error) (string, bool) {
	var se *stageError
	if errors.As(err, &se) {
		return se.reason, se.transient
	}
	return configsv1.ReasonApplyFailed, true
}

// RenderFunc renders tree through steps, as renderers.Run does.
type RenderFunc func(ctx context.Context, steps []configsv1.RenderStep, in renderers.Inputs, tree filetree.Tree) (filetree.Tree, error)

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
	// SkipNameValidation lets a second manager in one process (a test's
	// shard) register the controller again.
	SkipNameValidation bool
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

// New builds a reconciler wired to mgr's client and the given Git fetcher.
func New(mgr ctrlmanager.Manager, fetcher source.Fetcher) *ConfigSyncReconciler {
	var caps *clusterCapabilities
	if dc, err := discovery.NewDiscoveryClientForConfig(mgr.GetConfig()); err == nil {
		caps = &clusterCapabilities{discovery: dc}
	}
	return &ConfigSyncReconciler{
		capabilities: caps,
		Client:       mgr.GetClient(),
		APIReader:    mgr.GetAPIReader(),
		Fetcher:      fetcher,
		Applier:      &apply.Manager{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), FieldOwner: FieldOwner},
		Recorder:     mgr.GetEventRecorder("configsync"),
		pushes:       make(chan event.GenericEvent, 1024),
		clusters:     &clusters{local: mgr.GetConfig(), localMap: mgr.GetRESTMapper(), scheme: mgr.GetScheme()},
		elected:      mgr.Elected(),
	}
}
