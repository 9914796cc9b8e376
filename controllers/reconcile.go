package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/apply"
	"github.com/configsync/configsync/internal/filetree"
	"github.com/configsync/configsync/prune"
	"github.com/configsync/configsync/source"
)

// trigger is what started a run, as far as a run needs to know.
type trigger int

const (
	// triggerResync: the refresh interval, a retry or a push. Nothing the
	// user did: the run shows no progress unless a new revision appears.
	triggerResync trigger = iota
	// triggerSpecChange: a new generation of the spec.
	triggerSpecChange
	// triggerRequest: the reconcile-request annotation changed (the CLI,
	// the UI, a push received by a replica that does not lead). Someone
	// may have just pushed, so the refs are listed afresh.
	triggerRequest
)

// triggerOf tells why cs is reconciled, and marks a reconcile request as
// handled.
func triggerOf(cs *configsv1.ConfigSync) trigger {
	requested := cs.Annotations[configsv1.AnnotationReconcileRequestedAt]
	t := triggerResync
	switch {
	case requested != cs.Status.LastHandledReconcileAt:
		t = triggerRequest
	case cs.Status.ObservedGeneration != cs.Generation:
		t = triggerSpecChange
	}
	cs.Status.LastHandledReconcileAt = requested
	return t
}

// syncRun is the state one reconcile carries from stage to stage.
type syncRun struct {
	cs      *configsv1.ConfigSync
	trigger trigger
	started time.Time
	// before is the status last written, to patch against.
	before *configsv1.ConfigSync
	// suspended: spec.suspend holds the run before its first stage.
	suspended bool
	// err is why the run failed; nil when it synced.
	err error

	artifact *source.Artifact
	tree     filetree.Tree
	objs     []*unstructured.Unstructured
	// renderKey digests what objs were rendered from (see renderCache).
	renderKey string
	// charts are the remote charts this run rendered, pinned.
	charts  []configsv1.PinnedChart
	changes apply.ChangeSet
	// applier applies to the ConfigSync's cluster as its identity.
	applier *apply.Manager
	// inventory is what the ConfigSync owns after this sync; nil until the
	// prune stage has run.
	inventory prune.Inventory

	// showProgress patches the Reconciling condition at phase boundaries,
	// at most once per progressEvery (see progress): for new work, or
	// once a resync finds a new revision.
	showProgress bool
	// lastProgress is when the run started or last patched its progress.
	lastProgress time.Time

	// pin fetches this commit instead of the branch (automatic rollback).
	pin string
	// rolledBackFrom is the failed commit an automatic rollback replaced;
	// cause is why it failed (nil when it was held back from an earlier run).
	rolledBackFrom string
	cause          error
}

// newWork says whether the user asked for this run (a spec change or a
// reconcile request), so that a revision held back by rollback.onFailure
// is tried again.
func (run *syncRun) newWork() bool { return run.trigger != triggerResync }

// Reconcile fetches, renders, dry-runs, applies and prunes one ConfigSync;
// its deferred finish records the outcome in the status.
func (r *ConfigSyncReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, err error) {
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
	if err := r.addFinalizer(ctx, cs); err != nil {
		return ctrl.Result{}, err
	}
	run := r.startRun(cs)
	if err := r.announce(ctx, run); err != nil {
		// Nothing is recorded: the retry takes the same trigger again.
		return ctrl.Result{}, err
	}
	defer func() { result, err = r.finish(ctx, run) }()
	if run.suspended {
		return
	}
	run.err = r.sync(ctx, run)
	if run.err != nil && canRollBack(run) {
		run = r.rollBack(ctx, run)
	}
	return
}

// startRun begins a run of cs: suspended, or with its trigger taken.
func (r *ConfigSyncReconciler) startRun(cs *configsv1.ConfigSync) *syncRun {
	run := &syncRun{cs: cs, before: cs.DeepCopy(), started: time.Now(), suspended: cs.Spec.Suspend}
	if run.suspended {
		return run
	}
	run.trigger = triggerOf(cs)
	run.showProgress = run.newWork()
	run.lastProgress = run.started
	return run
}

// addFinalizer comes first, so that no object is ever applied that the
// ConfigSync's deletion could not clean up.
func (r *ConfigSyncReconciler) addFinalizer(ctx context.Context, cs *configsv1.ConfigSync) error {
	if controllerutil.ContainsFinalizer(cs, configsv1.Finalizer) {
		return nil
	}
	patch := client.MergeFromWithOptions(cs.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.AddFinalizer(cs, configsv1.Finalizer)
	if err := r.Client.Patch(ctx, cs, patch); err != nil {
		return fmt.Errorf("add finalizer: %w", err)
	}
	r.written.record(cs)
	return nil
}

// announce says at once that a sync started when someone who asked for it,
// or changed a ConfigSync that had synced, is likely watching. A new
// ConfigSync has no status yet, which says as much without a write; a
// periodic resync says nothing, as that would cost a status write per
// ConfigSync per interval.
func (r *ConfigSyncReconciler) announce(ctx context.Context, run *syncRun) error {
	if run.suspended {
		return nil
	}
	if run.trigger == triggerRequest || (run.trigger == triggerSpecChange && run.cs.Status.ObservedGeneration > 0) {
		return r.writeProgress(ctx, run, "fetching")
	}
	return nil
}

// sync runs the stages in order and stops at the first failure. Each
// stage's doing is what the Reconciling condition says while it runs (see
// progress; announce said the first).
func (r *ConfigSyncReconciler) sync(ctx context.Context, run *syncRun) error {
	stages := []struct {
		name, doing string
		run         func(context.Context, *syncRun) error
	}{
		{"fetch", "fetching", r.fetch},
		{"render", "rendering", r.render},
		{"decode", "decoding the rendered objects", r.decode},
		{"apply", "dry-running and applying", r.apply},
		{"prune", "pruning", r.prune},
		{"health", "checking health", r.health},
	}
	for i, stage := range stages {
		if i > 0 {
			if err := r.progress(ctx, run, stage.doing); err != nil {
				return err
			}
		}
		start := time.Now()
		err := stage.run(ctx, run)
		phaseDuration.WithLabelValues(stage.name).Observe(time.Since(start).Seconds())
		if err != nil {
			return err
		}
	}
	return nil
}

// finish ends every reconcile: it records what the run did in the status,
// derives the conditions from its outcome (summarize), writes the status
// once when it changed, and records the metrics. A failure the user must
// fix waits for the next interval (a new commit may fix it); a transient
// one goes back to the workqueue's exponential backoff.
func (r *ConfigSyncReconciler) finish(ctx context.Context, run *syncRun) (ctrl.Result, error) {
	defer run.release()
	o := r.conclude(ctx, run)
	summarize(run.cs, o)
	if !run.suspended {
		recordMetrics(run, o)
	}
	var result ctrl.Result
	var err error
	switch {
	case run.suspended:
	case o.state == stateFailed && o.transient:
		err = run.err
	default:
		result.RequeueAfter = requeueAfter(run.cs)
	}
	if patchErr := r.patchStatus(ctx, run.before, run.cs); patchErr != nil {
		return ctrl.Result{}, errors.Join(err, patchErr)
	}
	return result, err
}

// release gives the artifact back to the source cache.
func (run *syncRun) release() {
	if run.artifact != nil {
		run.artifact.Release()
	}
}
