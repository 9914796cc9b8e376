package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/apply"
	"github.com/configsync/configsync/prune"
)

// rollbackTarget resolves spec.rollback.toRevision against the history to a
// full commit SHA, and pins it in status so that "previous" keeps meaning the
// same commit until the field is removed; no interval sync undoes it.
func rollbackTarget(cs *configsv1.ConfigSync) (string, error) {
	want := cs.GetRollbackTarget()
	if want == "" {
		cs.Status.RolledBackTo, cs.Status.RolledBackCharts = "", nil
		return "", nil
	}
	if pinned := cs.Status.RolledBackTo; pinned != "" && (want == "previous" || strings.HasPrefix(pinned, want)) {
		return pinned, nil
	}
	entry, err := historyEntryFor(cs.Status.History, want)
	if err != nil {
		return "", configErr(configsv1.ReasonRevisionNotFound, err)
	}
	cs.Status.RolledBackTo, cs.Status.RolledBackCharts = entry.Revision, entry.Charts
	return entry.Revision, nil
}

// historyEntryFor finds what toRevision names in the history: "previous"
// is an earlier commit, or the same commit rendered with other charts (a
// new chart version matched the step's range); otherwise a SHA prefix.
func historyEntryFor(history []configsv1.HistoryEntry, want string) (configsv1.HistoryEntry, error) {
	for _, h := range history {
		switch {
		case want == "previous" && (h.Revision != history[0].Revision || !slices.Equal(h.Charts, history[0].Charts)):
			return h, nil
		case want != "previous" && strings.HasPrefix(h.Revision, want):
			return h, nil
		}
	}
	if want == "previous" {
		return configsv1.HistoryEntry{}, errors.New("rollback to previous: the history holds no earlier revision")
	}
	return configsv1.HistoryEntry{}, fmt.Errorf("rollback to %s: not in status.history (the last %d applied revisions)", want, len(history))
}

// chartPins are the charts a run must render exactly: those of the history
// entry an automatic rollback returns to, or of the one
// spec.rollback.toRevision holds. Nil resolves every chart afresh.
func chartPins(run *syncRun) []configsv1.PinnedChart {
	if run.pin != "" {
		for _, h := range run.cs.Status.History {
			if h.Revision == run.pin {
				return h.Charts
			}
		}
		return nil
	}
	if run.cs.Status.RolledBackTo != "" {
		return run.cs.Status.RolledBackCharts
	}
	return nil
}

// canRollBack says whether rollback.onFailure should undo a failed run: the
// revision reached the cluster (its apply failed after the dry-run passed,
// or it applied and did not become healthy) and the history holds a good
// revision to return to. A dry-run failure changed nothing, so there is
// nothing to undo; a manual rollback pin is left alone.
func canRollBack(run *syncRun) bool {
	cs := run.cs
	if !cs.RollsBackOnFailure() || cs.Status.RolledBackTo != "" || run.artifact == nil || run.pin != "" {
		return false
	}
	reason, _ := reasonOf(run.err)
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
	if run.pin != "" || run.newWork() || !cs.RollsBackOnFailure() || cs.Status.FailedRevision != commit || cs.Status.RolledBackTo != "" {
		return ""
	}
	return lastGood(cs, commit)
}

// rollBack records the failed run (its Event, and the objects it wrote into
// the inventory so that the rollback's prune removes them), then syncs the
// last good revision. It returns the run whose outcome the status reports.
func (r *ConfigSyncReconciler) rollBack(ctx context.Context, failed *syncRun) *syncRun {
	cs := failed.cs
	reason, _ := reasonOf(failed.err)
	failedRev := failed.artifact.Revision()
	good := lastGood(cs, failed.artifact.Commit)
	r.warn(cs, reason, failed.err.Error())
	ctrl.LoggerFrom(ctx).Error(failed.err, "revision failed; rolling back (rollback.onFailure)", "revision", failedRev, "to", good)
	keepWritten(failed)

	// The rollback fetches a pinned commit with the charts its history
	// entry pinned: no listing or index needs to be newer than usual,
	// whatever triggered the failed run.
	run := &syncRun{cs: cs, trigger: triggerResync, before: failed.before, started: failed.started,
		showProgress: failed.showProgress, pin: good, rolledBackFrom: failed.artifact.Commit, cause: failed.err}
	failed.release()
	if err := r.progress(ctx, run, fmt.Sprintf("revision %s failed (%s); rolling back to %s", failedRev, reason, configsv1.ShortRevision(good))); err != nil {
		run.err = err
		return run
	}
	if err := r.sync(ctx, run); err != nil {
		rbReason, _ := reasonOf(err)
		run.err = &stageError{reason: rbReason, err: fmt.Errorf("revision %s failed (%s: %v), and the rollback to %s failed too: %w",
			failedRev, reason, failed.err, configsv1.ShortRevision(good), err)}
	}
	return run
}

// keepWritten adds the objects a failed apply did write to the inventory:
// they are ours now, and a later prune must be able to find them.
func keepWritten(run *syncRun) {
	if run.inventory != nil {
		run.cs.Status.Inventory = run.inventory.List()
		return
	}
	inv := prune.FromStatus(run.cs.Status.Inventory)
	for ref := range inventoryOf(run.changes, func(a apply.Action) bool {
		return a == apply.Created || a == apply.Configured || a == apply.Unchanged
	}) {
		inv.Add(ref)
	}
	run.cs.Status.Inventory = inv.List()
}
