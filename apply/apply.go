package apply

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Action is what applying did to one object.
type Action string

const (
	Created    Action = "Created"    // the object did not exist
	Configured Action = "Configured" // the apply changed it
	Unchanged  Action = "Unchanged"  // already as applied: no write changed it
	Failed     Action = "Failed"     // its dry-run or apply failed
	Skipped    Action = "Skipped"    // not applied: another object of the set failed
)

// ObjectRef identifies an object.
type ObjectRef struct {
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
}

// RefOf returns the ObjectRef of obj.
func RefOf(obj *unstructured.Unstructured) ObjectRef {
	return ObjectRef{APIVersion: obj.GetAPIVersion(), Kind: obj.GetKind(), Namespace: obj.GetNamespace(), Name: obj.GetName()}
}

func (r ObjectRef) String() string {
	if r.Namespace == "" {
		return r.Kind + "/" + r.Name
	}
	return r.Kind + "/" + r.Namespace + "/" + r.Name
}

// Entry is the result for one object.
type Entry struct {
	Ref    ObjectRef
	Action Action
	Err    error
}

// ChangeSet is the result for a whole set, in apply order.
type ChangeSet []Entry

// Failures returns the entries that failed.
func (cs ChangeSet) Failures() []Entry {
	var out []Entry
	for _, e := range cs {
		if e.Err != nil {
			out = append(out, e)
		}
	}
	return out
}

// SetError says some objects of a set failed at one stage. The cluster holds
// none of the set's changes when Stage is "dry-run".
type SetError struct {
	Stage    string
	Failures []Entry
}

func (e *SetError) Error() string {
	msgs := make([]string, 0, len(e.Failures))
	for _, f := range e.Failures {
		msgs = append(msgs, fmt.Sprintf("%s: %v", f.Ref, f.Err))
	}
	return fmt.Sprintf("%s failed for %d object(s): %s", e.Stage, len(e.Failures), strings.Join(msgs, "; "))
}

// Transient says whether every failure may go away by itself (a timeout, a
// conflict, an unavailable apiserver), as opposed to an object the apiserver
// rejects until the source changes.
func (e *SetError) Transient() bool {
	for _, f := range e.Failures {
		if !isTransient(f.Err) {
			return false
		}
	}
	return true
}

func isTransient(err error) bool {
	var hookErr *HookError
	if errors.As(err, &hookErr) {
		return false // a hook ran and failed: running it again as is fails again
	}
	if meta.IsNoMatchError(err) {
		return false // a kind the cluster does not serve: the source must change
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		// No answer from the apiserver at all: a refused or cut connection,
		// a timeout. Taking it for a configuration error would wait for the
		// next interval after an outage as short as a restart.
		return true
	}
	return apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err) || apierrors.IsConflict(err) ||
		apierrors.IsUnexpectedServerError(err)
}

// A Manager applying as the operator itself (no tenant ServiceAccount) needs
// rights on whatever kinds Git holds, cluster-wide: ConfigSync cannot know
// them in advance. This is the operator's only cluster-wide write right; a
// platform that makes every ConfigSync impersonate a ServiceAccount
// (--default-service-account) can unbind it.
// +kubebuilder:rbac:groups=*,resources=*,verbs=get;list;watch;create;update;patch;delete

// Manager applies sets of objects with server-side apply under one field owner.
type Manager struct {
	Client client.Client
	// Reader reads metadata straight from the apiserver; nil means Client.
	// A caching client would start an informer for every kind it lists.
	Reader client.Reader
	// FieldOwner is the field manager name every apply uses.
	FieldOwner string
	// Concurrency bounds the dry-runs and applies in flight; zero means DefaultConcurrency.
	Concurrency int

	applied appliedMemory
	hooks   hookMemory
}

// Options tune one Apply.
type Options struct {
	// Force takes ownership of fields another manager owns.
	Force bool
	// DefaultNamespace is given to namespaced objects that name none.
	DefaultNamespace string
	// FieldOwner overrides the Manager's field manager for this set. One
	// owner per ConfigSync makes two ConfigSyncs that claim one object
	// conflict (on the ownership labels at least) instead of silently
	// taking it from each other.
	FieldOwner string
	// SetLabels are labels every object of the set carries (the owner's).
	// With them a resync lists the set's metadata to find the objects
	// nobody touched since their last apply, and skips their dry-run.
	SetLabels map[string]string
	// HookTimeout bounds the wait for each weight of hooks (see runHooks);
	// zero means DefaultHookTimeout.
	HookTimeout time.Duration
}

// Apply applies a set of objects in stages. First the cluster definitions
// the rest may need (Namespaces, CRDs): dry-run, applied, CRDs waited for
// until established. Then the pre hooks, weight by weight (see runHooks).
// Then the rest: every object is dry-run and, only when all pass, applied.
// Then the post hooks. A failed dry-run in a stage applies nothing of
// that stage. Objects without a namespace get opts.DefaultNamespace when
// their kind is namespaced, decided once the CRDs of the set are served. An
// object whose apply would change nothing is not written (see appliedState).
// The returned ChangeSet has an entry per object; the error is a *SetError
// when objects failed.
func (m *Manager) Apply(ctx context.Context, objs []*unstructured.Unstructured, opts Options) (ChangeSet, error) {
	definitions, rest := split(objs)
	preObjs, postObjs, rest := splitHooks(rest)
	var changes ChangeSet
	skip := func(objs ...[]*unstructured.Unstructured) {
		for _, list := range objs {
			for _, obj := range list {
				changes = append(changes, Entry{Ref: RefOf(obj), Action: Skipped})
			}
		}
	}
	if len(definitions) > 0 {
		staged, err := m.applyStage(ctx, definitions, opts)
		changes = append(changes, staged...)
		if err == nil {
			err = m.waitEstablished(ctx, definitions)
		}
		if err != nil {
			skip(preObjs, rest, postObjs)
			return changes, err
		}
	}
	pre := m.prepareHooks(preObjs, opts.DefaultNamespace)
	post := m.prepareHooks(postObjs, opts.DefaultNamespace)
	if len(pre) > 0 {
		staged, err := m.runHooks(ctx, pre, opts)
		changes = append(changes, staged...)
		if err == nil {
			err = m.deleteDone(ctx, pre, func(h *hook) bool { return !h.post }, opts)
		}
		if err != nil {
			skip(rest, postObjs)
			return changes, err
		}
	}
	m.defaultNamespaces(rest, opts.DefaultNamespace)
	staged, err := m.applyStage(ctx, rest, opts)
	changes = append(changes, staged...)
	if err != nil {
		skip(postObjs)
		return changes, err
	}
	if len(post) > 0 {
		staged, err := m.runHooks(ctx, post, opts)
		changes = append(changes, staged...)
		if err != nil {
			return changes, err
		}
	}
	if len(pre)+len(post) > 0 {
		last := func(h *hook) bool { return h.post }
		if err := m.deleteDone(ctx, append(pre, post...), last, opts); err != nil {
			return changes, err
		}
	}
	return changes, nil
}

// applyStage dry-runs every object and, only when all pass, applies them.
func (m *Manager) applyStage(ctx context.Context, objs []*unstructured.Unstructured, opts Options) (ChangeSet, error) {
	return m.applyStageWith(ctx, objs, nil, opts)
}

// applyStageWith is applyStage where the objects recreateFirst marks are
// deleted and created again (hooks whose configuration changed) instead of
// dry-run and applied in place.
func (m *Manager) applyStageWith(ctx context.Context, objs []*unstructured.Unstructured, recreateFirst []bool, opts Options) (ChangeSet, error) {
	owner := m.FieldOwner
	if opts.FieldOwner != "" {
		owner = opts.FieldOwner
	}
	applyOpts := []client.PatchOption{client.FieldOwner(owner)}
	if opts.Force {
		applyOpts = append(applyOpts, client.ForceOwnership)
	}

	changes := make(ChangeSet, len(objs))
	dryRun := make([]metav1.Object, len(objs))
	forced := make([]bool, len(objs))
	recreate := make([]bool, len(objs))
	untouched := m.unchangedSinceApplied(ctx, objs, owner, opts.SetLabels)
	m.each(ctx, len(objs), func(i int) {
		obj := objs[i]
		changes[i] = Entry{Ref: RefOf(obj), Action: Skipped}
		if recreateFirst != nil && recreateFirst[i] {
			// Its create cannot be dry-run while the old object exists.
			untouched[i], recreate[i] = false, true
			dryRun[i] = &metav1.PartialObjectMetadata{} // a create, as far as the result goes
			return
		}
		if untouched[i] {
			changes[i].Action = Unchanged // nothing to dry-run: it will not be written
			return
		}
		var err error
		dryRun[i], err = m.serverSideApply(ctx, obj, append(applyOpts[:len(applyOpts):len(applyOpts)], client.DryRunAll)...)
		if apierrors.IsConflict(err) && !opts.Force && m.onlyDrift(ctx, obj, owner) {
			// The conflicting fields were edited by hand (an Update, not
			// another applier): that is drift, and Git wins.
			forced[i] = true
			dryRun[i], err = m.serverSideApply(ctx, obj, append(applyOpts[:len(applyOpts):len(applyOpts)], client.DryRunAll, client.ForceOwnership)...)
		}
		if isImmutable(err) && opts.Force {
			// The change needs a new object: force deletes and recreates
			// it (as Flux's force does). Its create cannot be dry-run while
			// the old object exists.
			recreate[i], err = true, nil
			dryRun[i] = &metav1.PartialObjectMetadata{} // a create, as far as the result goes
		}
		if isImmutable(err) {
			err = fmt.Errorf("%w (an immutable field changed: set spec.force to delete and recreate the object)", err)
		}
		if err != nil {
			changes[i].Action, changes[i].Err = Failed, err
		}
	})
	if len(changes.Failures()) > 0 {
		return changes, &SetError{Stage: "dry-run", Failures: changes.Failures()}
	}

	m.each(ctx, len(objs), func(i int) {
		obj := objs[i]
		if untouched[i] {
			return
		}
		ref, digest := RefOf(obj), configDigest(obj)
		if recreate[i] {
			if err := m.deleteAndWait(ctx, obj); err != nil {
				m.applied.forget(ref)
				changes[i].Action, changes[i].Err = Failed, fmt.Errorf("recreate: %w", err)
				return
			}
		}
		if !recreate[i] && m.applied.unchanged(ref, digest, dryRun[i], owner) {
			changes[i].Action = Unchanged // a no-op: no write request
			return
		}
		opts := applyOpts[:len(applyOpts):len(applyOpts)]
		if forced[i] {
			opts = append(opts, client.ForceOwnership)
		}
		applied, err := m.serverSideApply(ctx, obj, opts...)
		if err != nil {
			m.applied.forget(ref)
			changes[i].Action, changes[i].Err = Failed, err
			return
		}
		m.applied.remember(ref, digest, applied, owner)
		changes[i].Action = actionOf(dryRun[i], applied)
	})
	if len(changes.Failures()) > 0 {
		return changes, &SetError{Stage: "apply", Failures: changes.Failures()}
	}
	return changes, nil
}

// RecreateTimeout bounds the wait for a deleted object to go before it is
// created again.
var RecreateTimeout = 30 * time.Second

func isImmutable(err error) bool {
	return err != nil && apierrors.IsInvalid(err) && strings.Contains(err.Error(), "immutable")
}

// deleteAndWait deletes obj and waits until the apiserver no longer has it
// (its finalizers ran), so that it can be created again under its name.
func (m *Manager) deleteAndWait(ctx context.Context, obj *unstructured.Unstructured) error {
	ctx, cancel := context.WithTimeout(ctx, RecreateTimeout)
	defer cancel()
	if err := m.Client.Delete(ctx, obj.DeepCopy(), client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
		return err
	}
	for {
		_, err := m.live(ctx, obj)
		if apierrors.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("still there after %s", RecreateTimeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// DefaultConcurrency bounds the requests one Apply has in flight when the
// Manager sets no Concurrency.
const DefaultConcurrency = 8

// each runs f(0..n-1) with at most the Manager's Concurrency at once. Each f
// writes only its own index of the result slices, so they need no lock.
func (m *Manager) each(ctx context.Context, n int, f func(i int)) {
	limit := m.Concurrency
	if limit <= 0 {
		limit = DefaultConcurrency
	}
	g, _ := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for i := range n {
		g.Go(func() error {
			f(i)
			return nil
		})
	}
	_ = g.Wait()
}

func (m *Manager) reader() client.Reader {
	if m.Reader != nil {
		return m.Reader
	}
	return m.Client
}

// defaultNamespaces gives objects without a namespace the default one when
// their kind is namespaced. A kind the apiserver does not know stays as it
// is: its dry-run names the problem better than a mapping error.
func (m *Manager) defaultNamespaces(objs []*unstructured.Unstructured, ns string) {
	if ns == "" {
		return
	}
	for _, obj := range objs {
		if obj.GetNamespace() != "" {
			continue
		}
		if namespaced, err := m.Client.IsObjectNamespaced(obj); err == nil && namespaced {
			obj.SetNamespace(ns)
		}
	}
}

// CRDEstablishTimeout bounds the wait for a CRD of the set to be served.
var CRDEstablishTimeout = 30 * time.Second

// waitEstablished waits until every CRD in objs is established, so the
// objects of the next stage can be dry-run against it.
func (m *Manager) waitEstablished(ctx context.Context, objs []*unstructured.Unstructured) error {
	ctx, cancel := context.WithTimeout(ctx, CRDEstablishTimeout)
	defer cancel()
	for _, obj := range objs {
		if obj.GroupVersionKind().GroupKind().String() != crdGroupKind {
			continue
		}
		for !m.established(ctx, obj) {
			select {
			case <-ctx.Done():
				return &SetError{Stage: "apply", Failures: []Entry{{Ref: RefOf(obj), Action: Failed,
					Err: fmt.Errorf("not established after %s", CRDEstablishTimeout)}}}
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

// live reads the cluster's copy of obj.
func (m *Manager) live(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(obj.GroupVersionKind())
	return live, m.Client.Get(ctx, client.ObjectKeyFromObject(obj), live)
}

func (m *Manager) established(ctx context.Context, crd *unstructured.Unstructured) bool {
	live, err := m.live(ctx, crd)
	if err != nil {
		return false
	}
	conditions, _, _ := unstructured.NestedSlice(live.Object, "status", "conditions")
	for _, c := range conditions {
		cond, ok := c.(map[string]any)
		if ok && cond["type"] == "Established" && cond["status"] == "True" {
			return true
		}
	}
	return false
}

// onlyDrift says whether no other applier (server-side apply manager) owns
// fields of the live object, so a conflict can only be with fields someone
// changed by an update: drift to correct, not another owner to respect.
func (m *Manager) onlyDrift(ctx context.Context, obj *unstructured.Unstructured, owner string) bool {
	live, err := m.live(ctx, obj)
	if err != nil {
		return false
	}
	for _, e := range live.GetManagedFields() {
		if e.Operation == metav1.ManagedFieldsOperationApply && e.Manager != owner && e.Subresource == "" {
			return false
		}
	}
	return true
}

// serverSideApply applies obj and returns the metadata of the apiserver's
// answer, asked for as metadata only: everything after reads the
// resourceVersion and managed fields alone, and decoding whole objects cost
// the manager about a seventh of its CPU in a sync. obj is left as it was.
func (m *Manager) serverSideApply(ctx context.Context, obj *unstructured.Unstructured, opts ...client.PatchOption) (metav1.Object, error) {
	body, err := obj.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", RefOf(obj), err)
	}
	answer := &metav1.PartialObjectMetadata{}
	answer.SetGroupVersionKind(obj.GroupVersionKind())
	answer.SetNamespace(obj.GetNamespace())
	answer.SetName(obj.GetName())
	if err := m.Client.Patch(ctx, answer, client.RawPatch(types.ApplyPatchType, body), opts...); err != nil {
		return nil, err
	}
	return answer, nil
}

// actionOf tells from the dry-run and real responses what the apply did,
// without an extra GET: a dry-run create has no resourceVersion yet, and an
// apply that changed nothing leaves the resourceVersion as it was.
func actionOf(dryRun, applied metav1.Object) Action {
	switch {
	case dryRun.GetResourceVersion() == "":
		return Created
	case dryRun.GetResourceVersion() == applied.GetResourceVersion():
		return Unchanged
	default:
		return Configured
	}
}

const crdGroupKind = "CustomResourceDefinition.apiextensions.k8s.io"

// split separates the cluster definitions (Namespaces first, then CRDs) from
// the rest, each in its original order.
func split(objs []*unstructured.Unstructured) (definitions, rest []*unstructured.Unstructured) {
	var crds []*unstructured.Unstructured
	for _, o := range objs {
		switch o.GroupVersionKind().GroupKind().String() {
		case "Namespace":
			definitions = append(definitions, o)
		case crdGroupKind:
			crds = append(crds, o)
		default:
			rest = append(rest, o)
		}
	}
	return append(definitions, crds...), rest
}
