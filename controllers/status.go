package controllers

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/apply"
	"github.com/configsync/configsync/desired"
)

// state is where a run, or a ConfigSync's deletion, ended up.
type state int

const (
	// stateProgressing: under way (a progress report, not an end). The
	// zero state is none of these: summarize refuses it.
	stateProgressing state = iota + 1
	stateSuspended
	// stateSynced: the source's revision is applied, or the revision
	// spec.rollback.toRevision pins.
	stateSynced
	// stateRolledBack: rollback.onFailure applied the last good revision
	// in place of a failed one.
	stateRolledBack
	stateFailed
	// stateDeleteBlocked: the ConfigSync is being deleted and its objects
	// cannot be cleaned up yet.
	stateDeleteBlocked
)

// outcome is what summarize derives the conditions from.
type outcome struct {
	state   state
	reason  string
	message string
	// transient: a failure that a retry may fix with no change by the user.
	transient bool
}

// summarize derives every condition from the outcome: the one place that
// decides what Ready, Available, Degraded, Reconciling and Stalled say. A
// new condition is set here; a new failure reason also gets its Event
// reason in eventReason.
func summarize(cs *configsv1.ConfigSync, o outcome) {
	set := func(typ string, status metav1.ConditionStatus, reason, message string) {
		apimeta.SetStatusCondition(&cs.Status.Conditions, metav1.Condition{
			Type: typ, Status: status, Reason: reason, Message: message, ObservedGeneration: cs.Generation,
		})
	}
	const yes, no = metav1.ConditionTrue, metav1.ConditionFalse
	switch o.state {
	case stateProgressing:
		set(configsv1.ConditionReconciling, yes, configsv1.ReasonProgressing, o.message)
	case stateSuspended:
		set(configsv1.ConditionReconciling, no, configsv1.ReasonSuspended, "reconciliation is suspended")
	case stateSynced:
		set(configsv1.ConditionReady, yes, o.reason, o.message)
		set(configsv1.ConditionAvailable, yes, o.reason, o.message)
		set(configsv1.ConditionDegraded, no, configsv1.ReasonSucceeded, "")
		removeConditions(cs, configsv1.ConditionReconciling, configsv1.ConditionStalled)
	case stateRolledBack:
		// The cluster is fine (Available) but not at the source's revision
		// (not Ready, Degraded).
		set(configsv1.ConditionReady, no, configsv1.ReasonRolledBack, o.message)
		set(configsv1.ConditionAvailable, yes, configsv1.ReasonRolledBack, o.message)
		set(configsv1.ConditionDegraded, yes, configsv1.ReasonRolledBack, o.message)
		removeConditions(cs, configsv1.ConditionReconciling, configsv1.ConditionStalled)
	case stateFailed:
		set(configsv1.ConditionReady, no, o.reason, o.message)
		set(configsv1.ConditionDegraded, yes, o.reason, o.message)
		if o.transient {
			set(configsv1.ConditionReconciling, yes, o.reason, "retrying: "+o.message)
			removeConditions(cs, configsv1.ConditionStalled)
		} else {
			set(configsv1.ConditionStalled, yes, o.reason, o.message)
			removeConditions(cs, configsv1.ConditionReconciling)
		}
	case stateDeleteBlocked:
		set(configsv1.ConditionReady, no, o.reason, "deleting: "+o.message)
	default:
		panic(fmt.Sprintf("summarize: outcome of no known state (%d)", o.state))
	}
}

func removeConditions(cs *configsv1.ConfigSync, types ...string) {
	for _, t := range types {
		apimeta.RemoveStatusCondition(&cs.Status.Conditions, t)
	}
}

// conclude records in the status what the run did (revision, targets,
// inventory, history), tells it in an Event and the log, and returns its
// outcome.
func (r *ConfigSyncReconciler) conclude(ctx context.Context, run *syncRun) outcome {
	switch {
	case run.suspended:
		return outcome{state: stateSuspended}
	case run.err != nil:
		return r.concludeFailure(ctx, run)
	default:
		return r.concludeSuccess(ctx, run)
	}
}

// concludeSuccess records a sync that applied every object.
func (r *ConfigSyncReconciler) concludeSuccess(ctx context.Context, run *syncRun) outcome {
	cs := run.cs
	rev := run.artifact.Commit
	revisionChanged := cs.Status.SourceRevision != rev
	cs.Status.ObservedGeneration = cs.Generation
	cs.Status.SourceRevision = rev
	cs.Status.SourceRef = run.artifact.Ref
	cs.Status.SourcePath = cs.Spec.Source.Git.Path
	cs.Status.Targets, cs.Status.AppliedTargets = keepApplied(cs.Status.Targets, run.changes)
	cs.Status.Inventory = run.inventory.List()
	cs.Status.FailedRevision = ""
	cs.Status.Charts = run.charts
	result, reason := configsv1.HistorySucceeded, configsv1.ReasonSucceeded
	if cs.Status.RolledBackTo != "" {
		result, reason = configsv1.HistoryRolledBack, configsv1.ReasonRolledBack
	}
	recordHistory(cs, rev, desired.Digest(run.objs), run.charts, result, time.Since(run.started))

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
	o := outcome{state: stateSynced, reason: reason, message: msg}
	if run.rolledBackFrom != "" {
		o = r.concludeAutoRollback(run, msg)
	}
	r.reportSync(ctx, run, o, revisionChanged)
	return o
}

// reportSync logs and announces a sync that changed something: objects or
// the revision. A resync that changed nothing says so at debug level only.
func (r *ConfigSyncReconciler) reportSync(ctx context.Context, run *syncRun, o outcome, revisionChanged bool) {
	counts := map[apply.Action]int{}
	for _, c := range run.changes {
		counts[c.Action]++
	}
	log := ctrl.LoggerFrom(ctx).WithValues("revision", run.artifact.Commit)
	if counts[apply.Created]+counts[apply.Configured] == 0 && !revisionChanged {
		log.V(1).Info("in sync", "objects", len(run.changes))
		return
	}
	now := metav1.Now()
	run.cs.Status.LastSyncedTime = &now
	log.Info("synced", "objects", len(run.changes), "created", counts[apply.Created], "configured", counts[apply.Configured], "unchanged", counts[apply.Unchanged])
	if run.rolledBackFrom != "" {
		return // concludeAutoRollback told its own story
	}
	eventReason := "Synced"
	if o.reason == configsv1.ReasonRolledBack {
		eventReason = configsv1.ReasonRolledBack
	}
	r.Recorder.Eventf(run.cs, nil, corev1.EventTypeNormal, eventReason, "Sync", "%s (%d created, %d configured, %d unchanged)",
		o.message, counts[apply.Created], counts[apply.Configured], counts[apply.Unchanged])
}

// concludeAutoRollback reports a run that applied the last good revision
// in place of a failed one; the failed commit is held back until
// something changes.
func (r *ConfigSyncReconciler) concludeAutoRollback(run *syncRun, applied string) outcome {
	run.cs.Status.FailedRevision = run.rolledBackFrom
	why := "it failed earlier"
	if run.cause != nil {
		why = "it failed: " + run.cause.Error()
	}
	msg := fmt.Sprintf("rolled back from %s (rollback.onFailure) because %s; %s; the failed commit is tried again on a new commit, a spec change or a reconcile request",
		configsv1.ShortRevision(run.rolledBackFrom), why, applied)
	if run.cause != nil {
		r.Recorder.Eventf(run.cs, nil, corev1.EventTypeWarning, configsv1.ReasonRolledBack, "Rollback", "%s", msg)
	}
	return outcome{state: stateRolledBack, reason: configsv1.ReasonRolledBack, message: msg}
}

// concludeFailure records a failed sync: the targets it reached and the
// objects it wrote, an Event and a log line.
func (r *ConfigSyncReconciler) concludeFailure(ctx context.Context, run *syncRun) outcome {
	cs := run.cs
	reason, transient := reasonOf(run.err)
	msg := run.err.Error()
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
		log.Error(run.err, "sync failed; waiting for a change", "reason", reason)
	}
	r.warn(cs, reason, msg)
	return outcome{state: stateFailed, reason: reason, message: msg, transient: transient}
}

// warn records a failure as a Warning Event whose note starts with the
// precise condition reason, once.
func (r *ConfigSyncReconciler) warn(cs *configsv1.ConfigSync, reason, msg string) {
	note := msg
	if !strings.HasPrefix(msg, reason+":") {
		note = reason + ": " + msg
	}
	r.Recorder.Eventf(cs, nil, corev1.EventTypeWarning, eventReason(reason), "Sync", "%s", note)
}

// recordMetrics records a finished run: its duration by result, the Ready
// gauge, and after a sync its time and object counts.
func recordMetrics(run *syncRun, o outcome) {
	cs := run.cs
	ready := apimeta.FindStatusCondition(cs.Status.Conditions, configsv1.ConditionReady)
	if ready == nil {
		return
	}
	reconcileDuration.WithLabelValues(ready.Reason).Observe(time.Since(run.started).Seconds())
	recordConditionMetric(cs, string(ready.Status))
	if o.state == stateFailed {
		return
	}
	lastSyncTimestamp.WithLabelValues(cs.Namespace, cs.Name).Set(float64(time.Now().Unix()))
	countObjects(run.changes)
}

// patchStatus writes status when it changed since before, so a resync that
// changes nothing makes no write.
func (r *ConfigSyncReconciler) patchStatus(ctx context.Context, before, cs *configsv1.ConfigSync) error {
	if equality.Semantic.DeepEqual(before.Status, cs.Status) {
		return nil
	}
	if err := r.Client.Status().Patch(ctx, cs, client.MergeFrom(before)); err != nil {
		return transientErr(configsv1.ReasonStatusWriteFailed, fmt.Errorf("patch status of %s/%s: %w", cs.Namespace, cs.Name, err))
	}
	r.written.record(cs)
	return nil
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
	if !run.showProgress || time.Since(run.lastProgress) < progressEvery {
		return nil
	}
	return r.writeProgress(ctx, run, next)
}

func (r *ConfigSyncReconciler) writeProgress(ctx context.Context, run *syncRun, next string) error {
	summarize(run.cs, outcome{state: stateProgressing, message: next})
	if err := r.patchStatus(ctx, run.before, run.cs); err != nil {
		return err
	}
	run.before = run.cs.DeepCopy()
	run.lastProgress = time.Now()
	return nil
}

// requeueAfter spreads resyncs by up to 5% so that many ConfigSyncs created
// together do not all poll their Git servers in the same second.
func requeueAfter(cs *configsv1.ConfigSync) time.Duration {
	return wait.Jitter(cs.GetRefreshInterval(), 0.05)
}

// recordHistory puts the applied revision at the head of the history unless it
// is already there, and trims the history to historyLimit.
func recordHistory(cs *configsv1.ConfigSync, commit, digest string, pins []configsv1.PinnedChart, result configsv1.HistoryResult, took time.Duration) {
	h := cs.Status.History
	if len(h) == 0 || h[0].Revision != commit || h[0].Digest != digest || !slices.Equal(h[0].Charts, pins) {
		entry := configsv1.HistoryEntry{Revision: commit, Digest: digest, AppliedAt: metav1.Now(), Result: result,
			Duration: &metav1.Duration{Duration: took.Round(time.Millisecond)}, Charts: pins}
		h = append([]configsv1.HistoryEntry{entry}, h...)
	}
	if limit := cs.GetHistoryLimit(); len(h) > limit {
		h = h[:limit]
	}
	cs.Status.History = h
}

// maxTargetStatuses bounds status.targets: etcd stores an object of at most
// 1.5 MiB (see desired.MaxInventoryBytes).
const maxTargetStatuses = 1000

// keepApplied is targetStatuses for a successful sync: a target that was
// Applied and is now Unchanged stays Applied (it still is), so a resync that
// changes nothing leaves the status as it was.
func keepApplied(previous []configsv1.TargetStatus, changes apply.ChangeSet) ([]configsv1.TargetStatus, int32) {
	out, applied := targetStatuses(changes)
	was := map[configsv1.ObjectReference]configsv1.TargetResult{}
	for _, ts := range previous {
		was[ts.ObjectReference()] = ts.Result
	}
	for i, ts := range out {
		if ts.Result == configsv1.TargetUnchanged && was[ts.ObjectReference()] == configsv1.TargetApplied {
			out[i].Result = configsv1.TargetApplied
		}
	}
	return capTargets(out), applied
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
