package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	ctrlsource "sigs.k8s.io/controller-runtime/pkg/source"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/apply"
	"github.com/configsync/configsync/internal/filetree"
	"github.com/configsync/configsync/prune"
	"github.com/configsync/configsync/renderers"
	"github.com/configsync/configsync/source"
)

// SetupWithManager registers the reconciler. Status writes do not trigger a
// reconcile; spec changes and the reconcile-request annotation do.
func (r *ConfigSyncReconciler) SetupWithManager(mgr ctrl.Manager, opts Options) error {
	r.opts = opts
	if opts.ApplyConcurrency > 0 {
		r.Applier.Concurrency = opts.ApplyConcurrency
		r.clusters.concurrent = opts.ApplyConcurrency
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&configsv1.ConfigSync{}, builder.WithPredicates(
			r.noteChanges(),
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		WatchesRawSource(ctrlsource.Channel(r.pushes, &handler.EnqueueRequestForObject{})).
		WithOptions(controllerOptions(opts)).
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

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// syncRun is the state one reconcile carries from stage to stage.
type syncRun struct {
	cs       *configsv1.ConfigSync
	artifact *source.Artifact
	tree     filetree.Tree
	objs     []*unstructured.Unstructured
	// renderKey digests what objs were rendered from (see renderCache).
	renderKey string
	changes   apply.ChangeSet
	// applier applies to the ConfigSync's cluster as its identity.
	applier *apply.Manager
	// inventory is what the ConfigSync owns after this sync; nil until the
	// prune stage has run.
	inventory prune.Inventory
	started   time.Time

	// before is the status last written, to patch against.
	before *configsv1.ConfigSync
	// newWork: a spec change or a reconcile request started this run, so
	// a revision held back by rollback.onFailure is tried again.
	newWork bool
	// requested: a reconcile request started this run; someone may have
	// just pushed, so the refs are listed afresh.
	requested bool
	// progress patches the Reconciling condition at phase boundaries, at
	// most once per progressEvery (see progress).
	progress bool
	// lastProgress is when the run started or last patched its progress.
	lastProgress time.Time
	// pin fetches this commit instead of the branch (automatic rollback).
	pin string
	// rolledBackFrom is the failed commit an automatic rollback replaced;
	// cause is why it failed (nil when it was held back from an earlier run).
	rolledBackFrom string
	cause          error
	// charts are the remote charts this run rendered, pinned.
	charts []configsv1.PinnedChart
}

// Reconcile fetches, renders, dry-runs and applies one ConfigSync, then
// records the outcome in its status.
func (r *ConfigSyncReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	cs, err := r.getConfigSync(ctx, req.NamespacedName)
	if apierrors.IsNotFound(err) {
		// Gone without a finalize step (its finalizer was removed by hand,
		// or it left this shard): drop what is kept for it all the same.
		r.forget(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	if !cs.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, cs)
	}
	if !controllerutil.ContainsFinalizer(cs, configsv1.Finalizer) {
		// The finalizer comes first, so that no object is ever applied that
		// the ConfigSync's deletion could not clean up.
		patch := client.MergeFromWithOptions(cs.DeepCopy(), client.MergeFromWithOptimisticLock{})
		controllerutil.AddFinalizer(cs, configsv1.Finalizer)
		if err := r.Client.Patch(ctx, cs, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("add finalizer: %w", err)
		}
		r.written.record(cs)
	}
	before := cs.DeepCopy()

	if cs.Spec.Suspend {
		setCondition(cs, configsv1.ConditionReconciling, metav1.ConditionFalse, configsv1.ReasonSuspended, "reconciliation is suspended")
		return ctrl.Result{}, r.patchStatus(ctx, before, cs)
	}

	// New work (a spec change or a reconcile request) shows live progress;
	// a periodic resync does not, as that would cost a status write per
	// ConfigSync per interval.
	requested := cs.Annotations[configsv1.AnnotationReconcileRequestedAt]
	requestedNow := requested != cs.Status.LastHandledReconcileAt
	specChanged := cs.Status.ObservedGeneration != cs.Generation
	cs.Status.LastHandledReconcileAt = requested
	run := &syncRun{cs: cs, before: before, started: time.Now(), newWork: requestedNow || specChanged, requested: requestedNow, progress: requestedNow || specChanged}
	run.lastProgress = run.started
	// Someone who asked for this sync, or changed a ConfigSync that had
	// synced, is likely watching: say at once that it started. A new
	// ConfigSync has no status yet, which says as much without a write.
	if requestedNow || (specChanged && cs.Status.ObservedGeneration > 0) {
		if err := r.writeProgress(ctx, run, "fetching"); err != nil {
			return ctrl.Result{}, err
		}
	}
	defer func() { run.release() }()
	err = r.sync(ctx, run)
	if err != nil && canRollBack(run, err) {
		run, err = r.rollBack(ctx, run, err)
	}
	if err != nil {
		reason, _ := reasonOf(err)
		reconcileDuration.WithLabelValues(reason).Observe(time.Since(run.started).Seconds())
		recordConditionMetric(cs, "False")
		result, retErr := r.recordFailure(ctx, run, err)
		if patchErr := r.patchStatus(ctx, run.before, cs); patchErr != nil {
			return ctrl.Result{}, errors.Join(retErr, patchErr)
		}
		return result, retErr
	}
	r.recordSuccess(ctx, run)
	ready := apimeta.FindStatusCondition(cs.Status.Conditions, configsv1.ConditionReady)
	reconcileDuration.WithLabelValues(ready.Reason).Observe(time.Since(run.started).Seconds())
	recordConditionMetric(cs, string(ready.Status))
	lastSyncTimestamp.WithLabelValues(cs.Namespace, cs.Name).Set(float64(time.Now().Unix()))
	countObjects(run.changes)
	return ctrl.Result{RequeueAfter: requeueAfter(cs)}, r.patchStatus(ctx, run.before, cs)
}

// progressEvery is the least time between two progress patches of one
// run. A status write costs the apiserver several times an object's apply
// (a custom resource is validated and its managed fields computed from its
// schema), so a sync that is done within a second writes its status once,
// with its result; a slow one still shows each phase as it gets there.
const progressEvery = time.Second

// progress marks Reconciling with what the sync does next and patches the
// status, when the run shows progress at all and the last progress patch
// (or the start) is progressEvery ago.
func (r *ConfigSyncReconciler) progress(ctx context.Context, run *syncRun, next string) error {
	if !run.progress || time.Since(run.lastProgress) < progressEvery {
		return nil
	}
	return r.writeProgress(ctx, run, next)
}

func (r *ConfigSyncReconciler) writeProgress(ctx context.Context, run *syncRun, next string) error {
	setCondition(run.cs, configsv1.ConditionReconciling, metav1.ConditionTrue, configsv1.ReasonProgressing, next)
	if err := r.patchStatus(ctx, run.before, run.cs); err != nil {
		return err
	}
	run.before = run.cs.DeepCopy()
	run.lastProgress = time.Now()
	return nil
}

// release gives the artifact back to the source cache.
func (run *syncRun) release() {
	if run.artifact != nil {
		run.artifact.Release()
	}
}

// sync runs the stages in order and stops at the first failure.
func (r *ConfigSyncReconciler) sync(ctx context.Context, run *syncRun) error {
	stages := []struct {
		name string
		run  func(context.Context, *syncRun) error
		next string // what the Reconciling condition says once it is done
	}{
		{"fetch", r.fetch, "rendering"},
		{"render", r.render, "decoding the rendered objects"},
		{"decode", r.decode, "dry-running and applying"},
		{"apply", r.apply, "pruning"},
		{"prune", r.prune, "checking health"},
		{"health", r.health, ""},
	}
	for _, stage := range stages {
		start := time.Now()
		err := stage.run(ctx, run)
		phaseDuration.WithLabelValues(stage.name).Observe(time.Since(start).Seconds())
		if err != nil {
			return err
		}
		if stage.name == "fetch" && run.cs.Status.SourceRevision != run.artifact.Commit {
			run.progress = true // a new revision is news
		}
		if stage.next != "" {
			if err := r.progress(ctx, run, stage.next); err != nil {
				return transientErr(configsv1.ReasonApplyFailed, err)
			}
		}
	}
	return nil
}

func (r *ConfigSyncReconciler) fetch(ctx context.Context, run *syncRun) error {
	if err := r.checkNamespaces(run.cs); err != nil {
		return err
	}
	git := run.cs.Spec.Source.Git
	auth, err := r.gitAuth(ctx, run.cs)
	if err != nil {
		return err
	}
	req := source.Request{URL: git.URL(), Branch: git.Branch, Revision: git.Revision, Auth: auth}
	rollbackTo, err := rollbackTarget(run.cs)
	if err != nil {
		return err
	}
	if rollbackTo != "" {
		req.Revision = rollbackTo // a pinned commit wins over branch and revision
	}
	if run.pin != "" {
		req.Revision = run.pin
	}
	if git.Timeout != nil {
		req.Timeout = git.Timeout.Duration
	}
	// Other fetches of the repository may share a listing already under
	// way, unless a push or a reconcile request came after it started. A
	// fetch for a new or changed ConfigSync may also take a finished
	// listing that started after the change was seen, which is as recent
	// as its own would have been.
	key := client.ObjectKeyFromObject(run.cs)
	pushed, changed := r.pushed.get(key), r.changed.get(key)
	req.NotBefore = pushed
	if run.cs.Status.ObservedGeneration != run.cs.Generation {
		req.NotBefore = latest(req.NotBefore, changed)
	}
	if run.requested {
		req.NotBefore = latest(req.NotBefore, run.started)
	}
	req.BeforeDownload = func() {
		// A clone can take long: say so now, not at the next boundary.
		if run.progress {
			if err := r.writeProgress(ctx, run, "downloading "+source.RedactURL(git.URL())); err != nil {
				ctrl.LoggerFrom(ctx).V(1).Info("progress not recorded", "error", err.Error())
			}
		}
	}
	art, err := r.Fetcher.Fetch(ctx, req)
	if err != nil {
		return sourceErr(err)
	}
	r.pushed.answered(key, pushed)
	r.changed.answered(key, changed)
	if run.pin == "" {
		run.cs.Status.LastAttemptedRevision = art.Commit
	}
	if good := heldBack(run, art.Commit); good != "" {
		// This commit failed and was rolled back; until something changes,
		// keep the good revision applied rather than fail again each interval.
		art.Release()
		run.rolledBackFrom, run.pin = art.Commit, good
		req.Revision = good
		if art, err = r.Fetcher.Fetch(ctx, req); err != nil {
			return sourceErr(err)
		}
	}
	run.artifact = art
	return nil
}

// rollbackTarget resolves spec.rollback.toRevision against the history to a
// full commit SHA, and pins it in status so that "previous" keeps meaning the
// same commit until the field is removed; no interval sync undoes it.
func rollbackTarget(cs *configsv1.ConfigSync) (string, error) {
	want := ""
	if cs.Spec.Rollback != nil {
		want = cs.Spec.Rollback.ToRevision
	}
	if want == "" {
		cs.Status.RolledBackTo, cs.Status.RolledBackCharts = "", nil
		return "", nil
	}
	if pinned := cs.Status.RolledBackTo; pinned != "" && (want == "previous" || strings.HasPrefix(pinned, want)) {
		return pinned, nil
	}
	history := cs.Status.History
	var sha string
	var pins []configsv1.PinnedChart
	if want == "previous" {
		// An earlier commit, or the same commit rendered with other
		// charts (a new chart version matched the step's range).
		for _, h := range history {
			if h.Revision != history[0].Revision || !sameCharts(h.Charts, history[0].Charts) {
				sha, pins = h.Revision, h.Charts
				break
			}
		}
		if sha == "" {
			return "", configErr(configsv1.ReasonRevisionNotFound, errors.New("rollback to previous: the history holds no earlier revision"))
		}
	} else {
		for _, h := range history {
			if strings.HasPrefix(h.Revision, want) {
				sha, pins = h.Revision, h.Charts
				break
			}
		}
		if sha == "" {
			return "", configErr(configsv1.ReasonRevisionNotFound, fmt.Errorf("rollback to %s: not in status.history (the last %d applied revisions)", want, len(history)))
		}
	}
	cs.Status.RolledBackTo, cs.Status.RolledBackCharts = sha, pins
	return sha, nil
}

// gitAuth reads the credentials Secret, as the ConfigSync's ServiceAccount
// when it has one (readInput), never through the cache, so the manager
// never caches every Secret of the cluster.
func (r *ConfigSyncReconciler) gitAuth(ctx context.Context, cs *configsv1.ConfigSync) (*source.Auth, error) {
	git := cs.Spec.Source.Git
	if git.AuthMethod == "" || git.AuthMethod == configsv1.AuthNone {
		return nil, nil
	}
	if git.AuthSecretRef == nil {
		return nil, configErr(configsv1.ReasonAuthenticationFailed, fmt.Errorf("authMethod %s needs authSecretRef", git.AuthMethod))
	}
	secret := &corev1.Secret{}
	key := client.ObjectKey{Namespace: cs.Namespace, Name: git.AuthSecretRef.Name}
	if err := r.readInput(ctx, cs, "authSecretRef", "Secret", key, secret); err != nil {
		var se *stageError
		if errors.As(err, &se) {
			return nil, err // AccessDenied
		}
		// A Secret created after the ConfigSync is picked up by the retry.
		return nil, transientErr(configsv1.ReasonAuthenticationFailed, fmt.Errorf("read auth Secret %s: %w", key, err))
	}
	auth, err := source.AuthFromSecret(source.Method(git.AuthMethod), secret.Data, git.InsecureSkipHostKeyVerification)
	if err != nil {
		return nil, configErr(configsv1.ReasonAuthenticationFailed, fmt.Errorf("auth Secret %s: %w", key, err))
	}
	return auth, nil
}

// sourceErr maps a source error to its condition reason and retry policy.
func sourceErr(err error) error {
	var se *source.Error
	if errors.As(err, &se) {
		return &stageError{reason: string(se.Reason), transient: se.Transient(), err: err}
	}
	return transientErr(configsv1.ReasonFetchFailed, err)
}

func (r *ConfigSyncReconciler) render(ctx context.Context, run *syncRun) error {
	inputs, err := r.renderInputs(ctx, run.cs)
	var se *stageError
	if errors.As(err, &se) {
		return err // AccessDenied: the ConfigSync's identity may not read an input
	}
	if err != nil {
		// A missing Secret or ConfigMap may be created soon: retry with backoff.
		return transientErr(configsv1.ReasonRenderFailed, err)
	}
	git := run.cs.Spec.Source.Git
	// A reconcile request reads chart indexes afresh; so do the retries of
	// one whose refresh failed, rather than sync from the index it meant to
	// replace.
	key := client.ObjectKeyFromObject(run.cs)
	_, retrying := r.chartRefresh.Load(key)
	run.charts, err = FetchCharts(ctx, run.cs, &inputs, ChartFetch{
		Fetcher: r.Charts, Source: run.artifact, Path: git.Path, Credentials: r.chartCredentials(run.cs),
		Pins: chartPins(run), Refresh: run.requested || retrying,
		Keyring: r.chartKeyring(run.cs), Verified: &r.chartsVerified,
	})
	if err != nil {
		if run.requested || retrying {
			r.chartRefresh.Store(key, struct{}{})
		}
		return chartErr(err)
	}
	r.chartRefresh.Delete(key)
	inputs.Context = renderers.ContextOf(run.cs, source.RedactURL(git.URL()), run.artifact.Ref, run.artifact.Commit)
	run.renderKey = renderKey(run.cs, run.artifact.Commit, inputs)
	if objs := r.renders.get(client.ObjectKeyFromObject(run.cs), run.renderKey); objs != nil {
		run.objs = objs // rendered from the same commit, spec and inputs before
		return nil
	}
	tree, err := run.artifact.Load(run.cs.Spec.Source.Git.Path, filetree.DefaultLimits)
	if err != nil {
		return sourceErr(err)
	}
	renderPipeline := r.opts.Render
	if renderPipeline == nil {
		renderPipeline = renderers.Run
	}
	out, err := renderPipeline(ctx, run.cs.Spec.Render, inputs, tree)
	if err != nil {
		return configErr(configsv1.ReasonRenderFailed, err)
	}
	run.tree = out
	return nil
}

func (r *ConfigSyncReconciler) decode(ctx context.Context, run *syncRun) error {
	if run.objs != nil {
		return nil // from the render cache
	}
	objs, err := DesiredObjects(run.cs, run.tree)
	if err != nil {
		return configErr(configsv1.ReasonInvalidManifest, err)
	}
	if len(objs) == 0 && !run.cs.Spec.AllowEmpty {
		return configErr(configsv1.ReasonInvalidManifest, fmt.Errorf("the source rendered no objects at %s; set allowEmpty to sync an empty set", run.artifact.Revision()))
	}
	if err := checkInventorySize(objs); err != nil {
		return configErr(configsv1.ReasonSourceTooLarge, err)
	}
	r.renders.put(client.ObjectKeyFromObject(run.cs), run.renderKey, objs)
	run.objs = objs
	return nil
}

// DesiredObjects turns a rendered tree into the objects cs applies: decoded,
// narrowed to spec.targets (with ConfigMap/Secret targets built from plain
// files and the config digest on workloads) and labelled as cs's. The CLI's
// render and diff use it, so they show exactly what the operator applies.
func DesiredObjects(cs *configsv1.ConfigSync, tree filetree.Tree) ([]*unstructured.Unstructured, error) {
	objs, err := apply.Decode(tree)
	if err != nil {
		return nil, err
	}
	objs, err = selectTargets(cs, objs, tree)
	if err != nil {
		return nil, err
	}
	prune.Label(objs, cs.Namespace, cs.Name)
	return objs, nil
}

func (r *ConfigSyncReconciler) apply(ctx context.Context, run *syncRun) error {
	applier, err := r.applierFor(ctx, run.cs)
	if err != nil {
		return err
	}
	run.applier = applier
	if err := r.checkRenderedNamespaces(run.cs, applier, run.objs); err != nil {
		return err
	}
	changes, err := applier.Apply(ctx, run.objs, apply.Options{
		Force: run.cs.Spec.Force, DefaultNamespace: run.cs.Namespace, FieldOwner: FieldOwnerFor(run.cs.Namespace, run.cs.Name),
		SetLabels: map[string]string{configsv1.LabelName: run.cs.Name, configsv1.LabelNamespace: run.cs.Namespace},
	})
	run.changes = changes
	// Only this cluster's RBAC is ours to explain: another cluster's
	// refusal (kubeConfigSecretRef) stays the apiserver's own words.
	if sa := r.serviceAccountOf(run.cs); sa != "" && run.cs.Spec.KubeConfigSecretRef == nil {
		if refused := impersonationRefused(serviceAccountUser(run.cs.Namespace, sa), run.cs.Namespace, err); refused != nil {
			return refused
		}
	}
	var setErr *apply.SetError
	if errors.As(err, &setErr) {
		reason := configsv1.ReasonApplyFailed
		if setErr.Stage == "dry-run" {
			reason = configsv1.ReasonDryRunFailed
		}
		return &stageError{reason: reason, transient: setErr.Transient(), err: err}
	}
	if err != nil {
		return transientErr(configsv1.ReasonApplyFailed, err)
	}
	return nil
}

// prune deletes what this ConfigSync applied before and no longer renders.
// It runs only after every object applied, so a failed fetch, render or
// apply never deletes anything. A delete that fails keeps its object in the
// inventory, and the next sync retries it.
func (r *ConfigSyncReconciler) prune(ctx context.Context, run *syncRun) error {
	cs := run.cs
	current := prune.Inventory{}
	for _, c := range run.changes {
		current.Add(toReference(c.Ref))
	}
	run.inventory = current
	if !cs.Spec.Prune {
		return nil
	}
	stale := prune.Stale(prune.FromStatus(cs.Status.Inventory), current)
	if len(stale) == 0 {
		return nil
	}
	res := prune.Delete(ctx, run.applier.Client, prune.Owner{Namespace: cs.Namespace, Name: cs.Name}, stale)
	objectsTotal.WithLabelValues("pruned").Add(float64(len(res.Deleted)))
	if len(res.Deleted) > 0 {
		r.Recorder.Eventf(cs, nil, corev1.EventTypeNormal, "Pruned", "Prune", "deleted %s", refList(res.Deleted))
		ctrl.LoggerFrom(ctx).Info("pruned", "objects", refList(res.Deleted))
	}
	if len(res.Released) > 0 {
		ctrl.LoggerFrom(ctx).Info("left in place: not ours any more or pruning disabled", "objects", refList(res.Released))
	}
	if len(res.Failed) == 0 {
		return nil
	}
	msgs := make([]string, 0, len(res.Failed))
	for ref, err := range res.Failed {
		run.inventory.Add(ref)
		msgs = append(msgs, fmt.Sprintf("%s/%s: %v", ref.Kind, ref.Name, err))
	}
	sort.Strings(msgs)
	return transientErr(configsv1.ReasonPruneFailed, fmt.Errorf("prune failed for %d object(s): %s", len(msgs), strings.Join(msgs, "; ")))
}

func refList(refs []configsv1.ObjectReference) string {
	parts := make([]string, len(refs))
	for i, r := range refs {
		parts[i] = r.Kind + "/" + r.Name
		if r.Namespace != "" {
			parts[i] = r.Kind + "/" + r.Namespace + "/" + r.Name
		}
	}
	return strings.Join(parts, ", ")
}

// finalize cleans up after a deleted ConfigSync: with prune on, it deletes
// what the inventory lists (objects that still carry its labels); with prune
// off, it removes its labels so the objects belong to nobody. The finalizer
// goes only when that is done.
func (r *ConfigSyncReconciler) finalize(ctx context.Context, cs *configsv1.ConfigSync) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(cs, configsv1.Finalizer) {
		return ctrl.Result{}, nil
	}
	owner := prune.Owner{Namespace: cs.Namespace, Name: cs.Name}
	applier, err := r.applierFor(ctx, cs)
	if err != nil {
		// Without a client for its cluster nothing can be cleaned up: keep
		// the finalizer and say why, rather than forget objects out there.
		before := cs.DeepCopy()
		setCondition(cs, configsv1.ConditionReady, metav1.ConditionFalse, configsv1.ReasonPruneFailed, "deleting: "+err.Error())
		return ctrl.Result{}, errors.Join(err, r.patchStatus(ctx, before, cs))
	}
	if cs.Spec.Prune && !cs.Spec.Suspend {
		res := prune.Delete(ctx, applier.Client, owner, cs.Status.Inventory)
		if len(res.Failed) > 0 {
			before := cs.DeepCopy()
			left := prune.Inventory{}
			for ref := range res.Failed {
				left.Add(ref)
			}
			cs.Status.Inventory = left.List()
			setCondition(cs, configsv1.ConditionReady, metav1.ConditionFalse, configsv1.ReasonPruneFailed,
				fmt.Sprintf("deleting: %d object(s) could not be deleted yet", len(res.Failed)))
			return ctrl.Result{}, errors.Join(fmt.Errorf("finalize: %d object(s) not deleted", len(res.Failed)), r.patchStatus(ctx, before, cs))
		}
		r.Recorder.Eventf(cs, nil, corev1.EventTypeNormal, "Pruned", "Finalize", "deleted %d object(s)", len(res.Deleted))
	} else if err := prune.Orphan(ctx, applier.Client, owner, cs.Status.Inventory); err != nil {
		return ctrl.Result{}, err
	}
	r.forget(client.ObjectKeyFromObject(cs))
	patch := client.MergeFromWithOptions(cs.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(cs, configsv1.Finalizer)
	return ctrl.Result{}, client.IgnoreNotFound(r.Client.Patch(ctx, cs, patch))
}

// forget drops what this replica keeps per ConfigSync: its metric series,
// last render, push and change times and last written version.
func (r *ConfigSyncReconciler) forget(key client.ObjectKey) {
	forgetMetrics(key.Namespace, key.Name)
	r.renders.forget(key)
	r.pushed.forget(key)
	r.changed.forget(key)
	r.written.forget(key)
	r.chartRefresh.Delete(key)
}

// recordSuccess writes the status of a sync that applied every object.
func (r *ConfigSyncReconciler) recordSuccess(ctx context.Context, run *syncRun) {
	cs := run.cs
	rev := run.artifact.Commit
	counts := map[apply.Action]int{}
	for _, c := range run.changes {
		counts[c.Action]++
	}
	revisionChanged := cs.Status.SourceRevision != rev

	cs.Status.ObservedGeneration = cs.Generation
	cs.Status.SourceRevision = rev
	cs.Status.SourceRef = run.artifact.Ref
	cs.Status.SourcePath = cs.Spec.Source.Git.Path
	cs.Status.Targets, cs.Status.AppliedTargets = keepApplied(cs.Status.Targets, run.changes)
	cs.Status.Targets = capTargets(cs.Status.Targets)
	cs.Status.Inventory = run.inventory.List()
	digest := digestOf(run.objs)
	result, reason := configsv1.HistorySucceeded, configsv1.ReasonSucceeded
	if cs.Status.RolledBackTo != "" {
		result, reason = configsv1.HistoryRolledBack, configsv1.ReasonRolledBack
	}
	cs.Status.Charts = run.charts
	recordHistory(cs, run.artifact.Commit, digest, run.charts, result, time.Since(run.started))

	// The condition says nothing that differs between two syncs of the same
	// revision (such as how many objects this one changed), so that a
	// resync that changes nothing writes no status; the Event has the counts.
	msg := fmt.Sprintf("applied revision %s: %d object(s)", run.artifact.Revision(), len(run.changes))
	if reason == configsv1.ReasonRolledBack {
		msg = "rolled back (spec.rollback.toRevision holds it): " + msg
	}
	if git := cs.Spec.Source.Git; git.AuthMethod == configsv1.AuthSSH && git.InsecureSkipHostKeyVerification {
		msg += "; WARNING: the Git server's SSH host key is not verified (insecureSkipHostKeyVerification)"
	}
	setCondition(cs, configsv1.ConditionReady, metav1.ConditionTrue, reason, msg)
	setCondition(cs, configsv1.ConditionAvailable, metav1.ConditionTrue, reason, msg)
	setCondition(cs, configsv1.ConditionDegraded, metav1.ConditionFalse, configsv1.ReasonSucceeded, "")
	removeConditions(cs, configsv1.ConditionReconciling, configsv1.ConditionStalled)
	cs.Status.FailedRevision = ""
	if run.rolledBackFrom != "" {
		r.recordAutoRollback(run, msg)
	}

	log := ctrl.LoggerFrom(ctx).WithValues("revision", rev)
	changed := counts[apply.Created]+counts[apply.Configured] > 0
	if changed || revisionChanged {
		now := metav1.Now()
		cs.Status.LastSyncedTime = &now
		log.Info("synced", "objects", len(run.changes), "created", counts[apply.Created], "configured", counts[apply.Configured], "unchanged", counts[apply.Unchanged])
		eventReason := "Synced"
		if reason == configsv1.ReasonRolledBack {
			eventReason = configsv1.ReasonRolledBack
		}
		if run.rolledBackFrom == "" { // recordAutoRollback told its own story
			r.Recorder.Eventf(cs, nil, corev1.EventTypeNormal, eventReason, "Sync", "%s (%d created, %d configured, %d unchanged)",
				msg, counts[apply.Created], counts[apply.Configured], counts[apply.Unchanged])
		}
		return
	}
	log.V(1).Info("in sync", "objects", len(run.changes))
}

// recordFailure writes the status of a failed sync and says how to requeue:
// a transient failure goes back to the workqueue's exponential backoff; one
// the user must fix waits for the next interval (a new commit may fix it)
// with Stalled set.
func (r *ConfigSyncReconciler) recordFailure(ctx context.Context, run *syncRun, err error) (ctrl.Result, error) {
	cs := run.cs
	reason, transient := reasonOf(err)
	msg := err.Error()
	setCondition(cs, configsv1.ConditionReady, metav1.ConditionFalse, reason, msg)
	setCondition(cs, configsv1.ConditionDegraded, metav1.ConditionTrue, reason, msg)
	if run.changes != nil {
		cs.Status.Targets, cs.Status.AppliedTargets = targetStatuses(run.changes)
		cs.Status.Targets = capTargets(cs.Status.Targets)
		keepWritten(run)
	}

	log := ctrl.LoggerFrom(ctx)
	if run.artifact != nil {
		log = log.WithValues("revision", run.artifact.Revision())
	}
	if transient {
		// Retried with backoff: worth a line, not an error with a trace.
		log.Info("sync failed; retrying", "reason", reason, "error", msg)
	} else {
		log.Error(err, "sync failed; waiting for a change", "reason", reason)
	}
	r.Recorder.Eventf(cs, nil, corev1.EventTypeWarning, eventReason(reason), "Sync", "%s: %s", reason, msg)

	if transient {
		setCondition(cs, configsv1.ConditionReconciling, metav1.ConditionTrue, reason, "retrying: "+msg)
		removeConditions(cs, configsv1.ConditionStalled)
		return ctrl.Result{}, err
	}
	setCondition(cs, configsv1.ConditionStalled, metav1.ConditionTrue, reason, msg)
	removeConditions(cs, configsv1.ConditionReconciling)
	return ctrl.Result{RequeueAfter: requeueAfter(cs)}, nil
}

// eventReason groups condition reasons into the few Event reasons users
// filter on; the Event's note starts with the precise condition reason.
func eventReason(conditionReason string) string {
	switch conditionReason {
	case configsv1.ReasonRenderFailed, configsv1.ReasonPruneFailed, configsv1.ReasonHealthCheckFailed:
		return conditionReason
	case configsv1.ReasonInvalidManifest, configsv1.ReasonDryRunFailed, configsv1.ReasonApplyFailed, configsv1.ReasonAccessDenied:
		return configsv1.ReasonApplyFailed
	default: // the source's reasons
		return configsv1.ReasonFetchFailed
	}
}

// keepApplied is targetStatuses for a successful sync: a target that was
// Applied and is now Unchanged stays Applied (it still is), so a resync that
// changes nothing leaves the status as it was.
func keepApplied(previous []configsv1.TargetStatus, changes apply.ChangeSet) ([]configsv1.TargetStatus, int32) {
	out, applied := targetStatuses(changes)
	was := map[string]configsv1.TargetResult{}
	for _, ts := range previous {
		was[ts.APIVersion+"/"+ts.Kind+"/"+ts.Namespace+"/"+ts.Name] = ts.Result
	}
	for i, ts := range out {
		if ts.Result == configsv1.TargetUnchanged && was[ts.APIVersion+"/"+ts.Kind+"/"+ts.Namespace+"/"+ts.Name] == configsv1.TargetApplied {
			out[i].Result = configsv1.TargetApplied
		}
	}
	return out, applied
}

// MaxInventoryBytes bounds the inventory a ConfigSync keeps in its status:
// etcd stores an object of at most 1.5 MiB, and a status it cannot write
// would leave the ConfigSync unable to report or prune anything.
const MaxInventoryBytes = 1 << 20

// maxTargetStatuses bounds status.targets for the same reason.
const maxTargetStatuses = 1000

// checkInventorySize refuses a set whose inventory would not fit the status.
func checkInventorySize(objs []*unstructured.Unstructured) error {
	size := 0
	for _, o := range objs {
		ref := toReference(apply.RefOf(o))
		size += len(ref.APIVersion) + len(ref.Kind) + len(ref.Namespace) + len(ref.Name) + len(`{"apiVersion":"","kind":"","namespace":"","name":""},`)
	}
	if size > MaxInventoryBytes {
		return fmt.Errorf("the source renders %d objects, whose inventory would take %d KiB of the ConfigSync's status; the limit is %d KiB: split the objects over several ConfigSyncs", len(objs), size>>10, MaxInventoryBytes>>10)
	}
	return nil
}

// capTargets keeps at most maxTargetStatuses entries, those that failed or
// were not applied first, in their order otherwise.
func capTargets(ts []configsv1.TargetStatus) []configsv1.TargetStatus {
	if len(ts) <= maxTargetStatuses {
		return ts
	}
	settled := func(r configsv1.TargetResult) bool {
		return r == configsv1.TargetApplied || r == configsv1.TargetUnchanged
	}
	sort.SliceStable(ts, func(i, j int) bool { return !settled(ts[i].Result) && settled(ts[j].Result) })
	return ts[:maxTargetStatuses]
}

func targetStatuses(changes apply.ChangeSet) ([]configsv1.TargetStatus, int32) {
	out := make([]configsv1.TargetStatus, 0, len(changes))
	var applied int32
	for _, c := range changes {
		ts := configsv1.TargetStatus{APIVersion: c.Ref.APIVersion, Kind: c.Ref.Kind, Namespace: c.Ref.Namespace, Name: c.Ref.Name}
		switch c.Action {
		case apply.Created, apply.Configured:
			ts.Result = configsv1.TargetApplied
			applied++
		case apply.Unchanged:
			ts.Result = configsv1.TargetUnchanged
			applied++
		case apply.Failed:
			ts.Result, ts.Message = configsv1.TargetFailed, c.Err.Error()
		default:
			ts.Result, ts.Message = configsv1.TargetPending, "not applied: another object of the set failed"
		}
		out = append(out, ts)
	}
	return out, applied
}

func toReference(r apply.ObjectRef) configsv1.ObjectReference {
	return configsv1.ObjectReference{APIVersion: r.APIVersion, Kind: r.Kind, Namespace: r.Namespace, Name: r.Name}
}

// digestOf hashes the objects as applied, so history can tell two renders of
// the same commit apart (say, after a values change).
func digestOf(objs []*unstructured.Unstructured) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, o := range objs {
		_ = enc.Encode(o.Object) // maps marshal with sorted keys: stable
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// recordHistory puts the applied revision at the head of the history unless it
// is already there, and trims the history to historyLimit.
func recordHistory(cs *configsv1.ConfigSync, commit, digest string, pins []configsv1.PinnedChart, result configsv1.HistoryResult, took time.Duration) {
	limit := 10
	if cs.Spec.HistoryLimit != nil {
		limit = int(*cs.Spec.HistoryLimit)
	}
	h := cs.Status.History
	if len(h) == 0 || h[0].Revision != commit || h[0].Digest != digest || !sameCharts(h[0].Charts, pins) {
		entry := configsv1.HistoryEntry{Revision: commit, Digest: digest, AppliedAt: metav1.Now(), Result: result,
			Duration: &metav1.Duration{Duration: took.Round(time.Millisecond)}, Charts: pins}
		h = append([]configsv1.HistoryEntry{entry}, h...)
	}
	if len(h) > limit {
		h = h[:limit]
	}
	cs.Status.History = h
}
