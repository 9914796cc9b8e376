package controllers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/apply"
	"github.com/configsync/configsync/desired"
	"github.com/configsync/configsync/internal/filetree"
	"github.com/configsync/configsync/prune"
	"github.com/configsync/configsync/renderers"
	"github.com/configsync/configsync/renderers/inputs"
	"github.com/configsync/configsync/source"
)

// RenderFunc renders tree through steps, as renderers.Run does.
type RenderFunc func(ctx context.Context, steps []configsv1.RenderStep, in renderers.Inputs, tree filetree.Tree) (filetree.Tree, error)

// fetch resolves the source to a commit and holds its artifact: the
// branch's head, or the commit a rollback pins.
func (r *ConfigSyncReconciler) fetch(ctx context.Context, run *syncRun) error {
	if err := r.checkNamespaces(run.cs); err != nil {
		return err
	}
	req, err := r.fetchRequest(ctx, run)
	if err != nil {
		return err
	}
	// Read once: a push announced after this point must not be taken as
	// answered by this fetch.
	key := client.ObjectKeyFromObject(run.cs)
	pushed, changed := r.pushed.get(key), r.changed.get(key)
	req.NotBefore = notBefore(run, pushed, changed)
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
	if run.cs.Status.SourceRevision != art.Commit {
		run.showProgress = true // a new revision is news
	}
	return nil
}

// fetchRequest is what run fetches: the spec's branch or revision, unless
// a rollback pins a commit, with the run's credentials and freshness.
func (r *ConfigSyncReconciler) fetchRequest(ctx context.Context, run *syncRun) (source.Request, error) {
	git := run.cs.Spec.Source.Git
	auth, err := r.gitAuth(ctx, run.cs)
	if err != nil {
		return source.Request{}, err
	}
	req := source.Request{URL: git.URL(), Branch: git.Branch, Revision: git.Revision, Auth: auth, Timeout: git.GetTimeout()}
	rollbackTo, err := rollbackTarget(run.cs)
	if err != nil {
		return req, err
	}
	if rollbackTo != "" {
		req.Revision = rollbackTo // a pinned commit wins over branch and revision
	}
	if run.pin != "" {
		req.Revision = run.pin
	}
	req.BeforeDownload = func() {
		// A clone can take long: say so now, not at the next boundary.
		if run.showProgress {
			if err := r.writeProgress(ctx, run, "downloading "+source.RedactURL(git.URL())); err != nil {
				ctrl.LoggerFrom(ctx).V(1).Info("progress not recorded", "error", err.Error())
			}
		}
	}
	return req, nil
}

// notBefore is the oldest listing of the refs this fetch may share. Other
// fetches of the repository may share a listing already under way, unless
// a push or a reconcile request came after it started. A fetch for a new or
// changed ConfigSync may also take a finished listing that started after
// the change was seen, which is as recent as its own would have been.
func notBefore(run *syncRun, pushed, changed time.Time) time.Time {
	at := pushed
	if run.cs.Status.ObservedGeneration != run.cs.Generation {
		at = latest(at, changed)
	}
	if run.trigger == triggerRequest {
		at = latest(at, run.started)
	}
	return at
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// render reads the inputs the steps need, fetches remote charts, and
// renders the tree, unless the same commit, spec and inputs rendered
// before (the render cache).
func (r *ConfigSyncReconciler) render(ctx context.Context, run *syncRun) error {
	rd := r.specReader(run.cs)
	in, err := inputs.Resolve(ctx, run.cs.Namespace, run.cs.Spec.Render, rd, inputs.Options{
		AllowCloudKMS: r.opts.SopsAllowCloudKMS, Capabilities: r.capabilities.get})
	if hasStageReason(err) {
		return err // AccessDenied: the ConfigSync's identity may not read an input
	}
	if err != nil {
		// A missing Secret or ConfigMap may be created soon: retry with backoff.
		return transientErr(configsv1.ReasonRenderFailed, err)
	}
	if err := r.fetchCharts(ctx, run, rd, &in); err != nil {
		return err
	}
	git := run.cs.Spec.Source.Git
	in.Context = renderers.ContextOf(run.cs, source.RedactURL(git.URL()), run.artifact.Ref, run.artifact.Commit)
	run.renderKey = renderKey(run.cs, run.artifact.Commit, in)
	if objs := r.renders.get(client.ObjectKeyFromObject(run.cs), run.renderKey); objs != nil {
		run.objs = objs // rendered from the same commit, spec and inputs before
		return nil
	}
	tree, err := run.artifact.Load(git.Path, filetree.DefaultLimits)
	if err != nil {
		return sourceErr(err)
	}
	renderPipeline := r.opts.Render
	if renderPipeline == nil {
		renderPipeline = renderers.Run
	}
	out, err := renderPipeline(ctx, run.cs.Spec.Render, in, tree)
	if err != nil {
		return configErr(configsv1.ReasonRenderFailed, err)
	}
	run.tree = out
	return nil
}

// fetchCharts fetches the run's remote charts into in. A reconcile request
// reads chart indexes afresh; so do the retries of one whose refresh
// failed, rather than sync from the index it meant to replace.
func (r *ConfigSyncReconciler) fetchCharts(ctx context.Context, run *syncRun, rd inputs.Reader, in *renderers.Inputs) error {
	key := client.ObjectKeyFromObject(run.cs)
	_, retrying := r.chartRefresh.Load(key)
	refresh := run.trigger == triggerRequest || retrying
	pins, err := inputs.FetchCharts(ctx, run.cs.Spec.Render, in, inputs.ChartFetch{
		Fetcher: r.opts.Charts, Source: run.artifact, Path: run.cs.Spec.Source.Git.Path, Reader: rd,
		Pins: chartPins(run), Refresh: refresh, Verified: &r.chartsVerified,
	})
	if err != nil {
		if refresh {
			r.chartRefresh.Store(key, struct{}{})
		}
		return chartErr(err)
	}
	r.chartRefresh.Delete(key)
	run.charts = pins
	return nil
}

// decode turns the rendered tree into the objects to apply (package
// desired), and keeps them for resyncs of the same render.
func (r *ConfigSyncReconciler) decode(_ context.Context, run *syncRun) error {
	if run.objs != nil {
		return nil // from the render cache
	}
	objs, err := desired.Objects(run.cs, run.tree)
	if err != nil {
		return configErr(configsv1.ReasonInvalidManifest, err)
	}
	if len(objs) == 0 && !run.cs.Spec.AllowEmpty {
		return configErr(configsv1.ReasonInvalidManifest, fmt.Errorf("the source rendered no objects at %s; set allowEmpty to sync an empty set", run.artifact.Revision()))
	}
	if err := desired.CheckInventorySize(objs); err != nil {
		return configErr(configsv1.ReasonSourceTooLarge, err)
	}
	r.renders.put(client.ObjectKeyFromObject(run.cs), run.renderKey, objs)
	run.objs = objs
	return nil
}

// apply dry-runs and applies the objects with server-side apply, as the
// ConfigSync's identity on its cluster.
func (r *ConfigSyncReconciler) apply(ctx context.Context, run *syncRun) error {
	cs := run.cs
	applier, err := r.applierFor(ctx, cs)
	if err != nil {
		return err
	}
	run.applier = applier
	if err := r.checkRenderedNamespaces(cs, applier, run.objs); err != nil {
		return err
	}
	owner := prune.Owner{Namespace: cs.Namespace, Name: cs.Name}
	run.changes, err = applier.Apply(ctx, run.objs, apply.Options{
		Force: cs.Spec.Force, DefaultNamespace: cs.Namespace, FieldOwner: desired.FieldOwnerFor(cs.Namespace, cs.Name),
		SetLabels: owner.Labels(),
	})
	// Only this cluster's RBAC is ours to explain: another cluster's
	// refusal (kubeConfigSecretRef) stays the apiserver's own words.
	if sa := r.serviceAccountOf(cs); sa != "" && cs.Spec.KubeConfigSecretRef == nil {
		if refused := impersonationRefused(serviceAccountUser(cs.Namespace, sa), cs.Namespace, err); refused != nil {
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
	run.inventory = inventoryOf(run.changes, nil)
	if !cs.Spec.Prune {
		return nil
	}
	stale := prune.Stale(prune.FromStatus(cs.Status.Inventory), run.inventory)
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

// health waits until the objects this sync created or changed are healthy,
// when spec.wait or rollback.onFailure asks for it. Unchanged objects are
// not waited for: a resync that changed nothing costs no health reads.
func (r *ConfigSyncReconciler) health(ctx context.Context, run *syncRun) error {
	cs := run.cs
	if !cs.Spec.Wait && !cs.RollsBackOnFailure() {
		return nil
	}
	var refs []apply.ObjectRef
	for _, c := range run.changes {
		if c.Action == apply.Created || c.Action == apply.Configured {
			refs = append(refs, c.Ref)
		}
	}
	if err := run.applier.WaitHealthy(ctx, refs, cs.GetHealthTimeout()); err != nil {
		return configErr(configsv1.ReasonHealthCheckFailed, err)
	}
	return nil
}

// inventoryOf is the inventory of the objects of changes: all of them when
// include is nil, else those whose action include accepts.
func inventoryOf(changes apply.ChangeSet, include func(apply.Action) bool) prune.Inventory {
	inv := prune.Inventory{}
	for _, c := range changes {
		if include == nil || include(c.Action) {
			inv.Add(desired.Reference(c.Ref))
		}
	}
	return inv
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
