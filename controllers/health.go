package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/apply"
	"github.com/configsync/configsync/prune"
)

// DefaultHealthTimeout bounds the wait for health when spec.healthTimeout is unset.
const DefaultHealthTimeout = 5 * time.Minute

func onFailure(cs *configsv1.ConfigSync) bool {
	return cs.Spec.Rollback != nil && cs.Spec.Rollback.OnFailure
}

// health waits until the objects this sync created or changed are healthy,
// when spec.wait or rollback.onFailure asks for it. Unchanged objects are
// not waited for: a resync that changed nothing costs no health reads.
func (r *ConfigSyncReconciler) health(ctx context.Context, run *syncRun) error {
	cs := run.cs
	if !cs.Spec.Wait && !onFailure(cs) {
		return nil
	}
	var refs []apply.ObjectRef
	for _, c := range run.changes {
		if c.Action == apply.Created || c.Action == apply.Configured {
			refs = append(refs, c.Ref)
		}
	}
	timeout := DefaultHealthTimeout
	if cs.Spec.HealthTimeout != nil && cs.Spec.HealthTimeout.Duration > 0 {
		timeout = cs.Spec.HealthTimeout.Duration
	}
	if err := run.applier.WaitHealthy(ctx, refs, timeout); err != nil {
		return configErr(configsv1.ReasonHealthCheckFailed, err)
	}
	return nil
}

// canRollBack says whether rollback.onFailure should undo a failed run: the
// revision reached the cluster (its apply failed after the dry-run passed,
// or it applied and did not become healthy) and the history holds a good
// revision to return to. A dry-run failure changed nothing, so there is
// nothing to undo; a manual rollback pin is left alone.
func canRollBack(run *syncRun, err error) bool {
	cs := run.cs
	if !onFailure(cs) || cs.Status.RolledBackTo != "" || run.artifact == nil || run.pin != "" {
		return false
	}
	reason, _ := reasonOf(err)
	if reason != configsv1.ReasonApplyFailed && reason != configsv1.ReasonHealthCheckFailed {
		return false
	}
	return lastGood(cs, run.artifact.Commit) != ""
}

// lastGood is the newest commit in history other than failed.
func lastGood(cs *configsv1.ConfigSync, failed string) string {
	for _, h := range cs.Status.History {
		if h.Revision != failed {
			return h.Revision
		}
	}
	return ""
}

// heldBack returns the good commit to apply instead of commit, when commit is
// the one rollback.onFailure rolled back from and nothing asked to try it
// again.
func heldBack(run *syncRun, commit string) string {
	cs := run.cs
	if run.pin != "" || run.newWork || !onFailure(cs) || cs.Status.FailedRevision != commit || cs.Status.RolledBackTo != "" {
		return ""
	}
	return lastGood(cs, commit)
}

// rollBack records the failed run (its Event, and the objects it wrote into
// the inventory so that the rollback's prune removes them), then syncs the
// last good revision. It returns the run whose outcome the status reports.
func (r *ConfigSyncReconciler) rollBack(ctx context.Context, failed *syncRun, cause error) (*syncRun, error) {
	cs := failed.cs
	reason, _ := reasonOf(cause)
	failedRev := failed.artifact.Revision()
	good := lastGood(cs, failed.artifact.Commit)
	r.Recorder.Eventf(cs, nil, corev1.EventTypeWarning, eventReason(reason), "Sync", "%s: %s", reason, cause.Error())
	ctrl.LoggerFrom(ctx).Error(cause, "revision failed; rolling back (rollback.onFailure)", "revision", failedRev, "to", good)
	keepWritten(failed)

	run := &syncRun{cs: cs, before: failed.before, started: failed.started, progress: failed.progress, newWork: failed.newWork,
		pin: good, rolledBackFrom: failed.artifact.Commit, cause: cause}
	failed.release()
	if err := r.progress(ctx, run, fmt.Sprintf("revision %s failed (%s); rolling back to %s", failedRev, reason, short(good))); err != nil {
		return run, err
	}
	if err := r.sync(ctx, run); err != nil {
		rbReason, _ := reasonOf(err)
		return run, &stageError{reason: rbReason, err: fmt.Errorf("revision %s failed (%s: %v), and the rollback to %s failed too: %w",
			failedRev, reason, cause, short(good), err)}
	}
	return run, nil
}

// keepWritten adds the objects a failed apply did write to the inventory:
// they are ours now, and a later prune must be able to find them.
func keepWritten(run *syncRun) {
	if run.inventory != nil {
		run.cs.Status.Inventory = run.inventory.List()
		return
	}
	inv := prune.FromStatus(run.cs.Status.Inventory)
	for _, c := range run.changes {
		if c.Action == apply.Created || c.Action == apply.Configured || c.Action == apply.Unchanged {
			inv.Add(toReference(c.Ref))
		}
	}
	run.cs.Status.Inventory = inv.List()
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// recordAutoRollback reports a run that applied the last good revision in
// place of a failed one: the cluster is fine (Available) but not at the
// source's revision (not Ready, Degraded), and the failed commit is held
// back until something changes.
func (r *ConfigSyncReconciler) recordAutoRollback(run *syncRun, applied string) {
	cs := run.cs
	cs.Status.FailedRevision = run.rolledBackFrom
	why := "it failed earlier"
	if run.cause != nil {
		why = "it failed: " + run.cause.Error()
	}
	msg := fmt.Sprintf("rolled back from %s (rollback.onFailure) because %s; %s; the failed commit is tried again on a new commit, a spec change or a reconcile request",
		short(run.rolledBackFrom), why, applied)
	setCondition(cs, configsv1.ConditionReady, metav1.ConditionFalse, configsv1.ReasonRolledBack, msg)
	setCondition(cs, configsv1.ConditionAvailable, metav1.ConditionTrue, configsv1.ReasonRolledBack, msg)
	setCondition(cs, configsv1.ConditionDegraded, metav1.ConditionTrue, configsv1.ReasonRolledBack, msg)
	if run.cause != nil {
		r.Recorder.Eventf(cs, nil, corev1.EventTypeWarning, configsv1.ReasonRolledBack, "Rollback", "%s", msg)
	}
}
