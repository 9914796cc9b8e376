package controllers

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/prune"
)

// finalize cleans up after a deleted ConfigSync: with prune on, it deletes
// what the inventory lists (objects that still carry its labels); with prune
// off, it removes its labels so the objects belong to nobody. The finalizer
// goes only when that is done.
func (r *ConfigSyncReconciler) finalize(ctx context.Context, cs *configsv1.ConfigSync) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(cs, configsv1.Finalizer) {
		return ctrl.Result{}, nil
	}
	if err := r.cleanUp(ctx, cs); err != nil {
		return ctrl.Result{}, err
	}
	r.forget(client.ObjectKeyFromObject(cs))
	patch := client.MergeFromWithOptions(cs.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(cs, configsv1.Finalizer)
	return ctrl.Result{}, client.IgnoreNotFound(r.Client.Patch(ctx, cs, patch))
}

// cleanUp prunes or orphans the deleted ConfigSync's objects. What cannot
// be cleaned up yet stays in the inventory, and the status says why.
func (r *ConfigSyncReconciler) cleanUp(ctx context.Context, cs *configsv1.ConfigSync) error {
	owner := prune.Owner{Namespace: cs.Namespace, Name: cs.Name}
	before := cs.DeepCopy()
	applier, err := r.applierFor(ctx, cs)
	if err != nil {
		// Without a client for its cluster nothing can be cleaned up: keep
		// the finalizer and say why, rather than forget objects out there.
		summarize(cs, outcome{state: stateDeleteBlocked, reason: configsv1.ReasonPruneFailed, message: err.Error()})
		return errors.Join(err, r.patchStatus(ctx, before, cs))
	}
	if !cs.Spec.Prune || cs.Spec.Suspend {
		return prune.Orphan(ctx, applier.Client, owner, cs.Status.Inventory)
	}
	res := prune.Delete(ctx, applier.Client, owner, cs.Status.Inventory)
	if len(res.Failed) == 0 {
		r.Recorder.Eventf(cs, nil, corev1.EventTypeNormal, "Pruned", "Finalize", "deleted %d object(s)", len(res.Deleted))
		return nil
	}
	left := prune.Inventory{}
	for ref := range res.Failed {
		left.Add(ref)
	}
	cs.Status.Inventory = left.List()
	summarize(cs, outcome{state: stateDeleteBlocked, reason: configsv1.ReasonPruneFailed,
		message: fmt.Sprintf("%d object(s) could not be deleted yet", len(res.Failed))})
	return errors.Join(fmt.Errorf("finalize: %d object(s) not deleted", len(res.Failed)), r.patchStatus(ctx, before, cs))
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
