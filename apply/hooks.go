package apply

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Hooks are the objects of a set that carry AnnotationSyncPhase. They are
// run, not kept in sync, as Helm and Argo CD run theirs:
//
//   - Pre hooks are applied after the Namespaces and CRDs and before the
//     rest; post hooks after the rest. Within a phase, hooks go by
//     helm.sh/hook-weight, lowest first: each weight is dry-run, applied
//     and waited for (a Job until it completes, other kinds until kstatus
//     says Current) before the next; within a weight by kind, then name.
//   - A hook runs when its configuration (the rendered object, digested
//     and stamped on it as AnnotationHookConfig) is new: it is missing from
//     the cluster and not remembered as run, or the live object carries
//     another digest. One whose live object carries the same digest is left
//     alone (no dry-run, no apply: hooks are not drift-corrected), and
//     waited for while it still runs.
//   - helm.sh/hook-delete-policy: before-hook-creation (also Helm's default
//     when the annotation is absent) deletes the previous object before the
//     changed one is created, since a Job's template cannot be changed; a
//     hook whose previous run failed is run again the same way at the next
//     sync. hook-succeeded deletes the hook once it is done, after the last
//     phase it belongs to. hook-failed deletes it when it failed. Without
//     before-hook-creation a changed hook is applied in place, like any
//     object. Only objects that carry the set's labels are ever deleted.
//   - A hook that ran and was deleted (by its policy, or a Job's
//     ttlSecondsAfterFinished) is remembered, per process, as run with its
//     digest: a resync does not run it again. After a restart of the
//     operator such a hook runs once more at the first sync (Helm hooks run
//     at every upgrade, so charts make them safe to repeat).
//   - A hook that fails (kstatus Failed, or still not done after
//     Options.HookTimeout) fails the set: nothing of the later phases is
//     applied. A failure is the source's to fix; a timeout is retried.

// AnnotationHookConfig is the digest of the configuration a hook was last
// applied with, stamped on the applied object.
const AnnotationHookConfig = "configs.example.io/hook-config"

// Helm's hook annotations that the apply stage reads.
const (
	annotationHookWeight       = "helm.sh/hook-weight"
	annotationHookDeletePolicy = "helm.sh/hook-delete-policy"

	policyBeforeHookCreation = "before-hook-creation"
	policyHookSucceeded      = "hook-succeeded"
	policyHookFailed         = "hook-failed"
)

// DefaultHookTimeout bounds the wait for one weight of hooks when
// Options.HookTimeout is zero: Helm's default --timeout.
var DefaultHookTimeout = 5 * time.Minute

// HookError says a hook ran and failed: the source must change (or the
// cause outside it be fixed) before the set can go on.
type HookError struct {
	Message string
}

func (e *HookError) Error() string { return "hook failed: " + e.Message }

// hook is one hook object of a set, as planned for this sync.
type hook struct {
	obj       *unstructured.Unstructured // the object to apply, stamped with its digest
	ref       ObjectRef
	digest    string
	weight    int
	pre, post bool
	policies  map[string]bool
	// done: the hook ran with this configuration and succeeded (in this
	// sync or before).
	done bool
	// present: the object exists in the cluster (it was not deleted by a
	// policy or a TTL).
	present bool
}

// phasesOf reads AnnotationSyncPhase.
func phasesOf(obj *unstructured.Unstructured) (pre, post, ok bool) {
	v, ok := obj.GetAnnotations()[AnnotationSyncPhase]
	if !ok {
		return false, false, false
	}
	for _, p := range strings.Split(v, ",") {
		switch strings.TrimSpace(p) {
		case PhasePre:
			pre = true
		case PhasePost:
			post = true
		}
	}
	return pre, post, true
}

// splitHooks takes the hooks out of objs: pre holds every hook of the pre
// phase (those also in the post phase included), post those of the post
// phase only. An AnnotationSyncPhase that names no phase this stage knows
// leaves the object among the rest.
func splitHooks(objs []*unstructured.Unstructured) (pre, post, rest []*unstructured.Unstructured) {
	for _, o := range objs {
		isPre, isPost, ok := phasesOf(o)
		switch {
		case ok && isPre:
			pre = append(pre, o)
		case ok && isPost:
			post = append(post, o)
		default:
			rest = append(rest, o)
		}
	}
	return pre, post, rest
}

// newHook prepares obj (its namespace defaulted) to be run as a hook.
func newHook(obj *unstructured.Unstructured) *hook {
	h := &hook{ref: RefOf(obj), digest: configDigest(obj), policies: map[string]bool{}}
	h.pre, h.post, _ = phasesOf(obj)
	annotations := obj.GetAnnotations()
	h.weight, _ = strconv.Atoi(strings.TrimSpace(annotations[annotationHookWeight])) // as Helm: 0 when unset or not a number
	for _, p := range strings.Split(annotations[annotationHookDeletePolicy], ",") {
		if p = strings.TrimSpace(p); p != "" {
			h.policies[p] = true
		}
	}
	if len(h.policies) == 0 {
		h.policies[policyBeforeHookCreation] = true // Helm's default
	}
	h.obj = obj.DeepCopy()
	stamped := h.obj.GetAnnotations()
	stamped[AnnotationHookConfig] = h.digest
	h.obj.SetAnnotations(stamped)
	return h
}

// sortHooks orders hooks by weight, then kind, then name.
func sortHooks(hs []*hook) {
	sort.SliceStable(hs, func(i, j int) bool {
		a, b := hs[i], hs[j]
		if a.weight != b.weight {
			return a.weight < b.weight
		}
		if a.ref.Kind != b.ref.Kind {
			return a.ref.Kind < b.ref.Kind
		}
		if a.ref.Namespace != b.ref.Namespace {
			return a.ref.Namespace < b.ref.Namespace
		}
		return a.ref.Name < b.ref.Name
	})
}

// hookMemory remembers, per process, the hooks that ran and succeeded and
// the configuration they ran with.
type hookMemory struct {
	mu  sync.Mutex
	ran map[ObjectRef]string
}

func (m *hookMemory) record(ref ObjectRef, digest string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ran == nil {
		m.ran = map[ObjectRef]string{}
	}
	m.ran[ref] = digest
}

func (m *hookMemory) forget(ref ObjectRef) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.ran, ref)
}

// ranWith says whether ref ran and succeeded with this configuration.
func (m *hookMemory) ranWith(ref ObjectRef, digest string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.ran[ref]
	return ok && d == digest
}

// ranAny says whether ref ran and succeeded with any configuration: its
// absence from the cluster is then its delete policy's doing.
func (m *hookMemory) ranAny(ref ObjectRef) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.ran[ref]
	return ok
}

// ours says whether live carries every label of the set.
func ours(live *unstructured.Unstructured, setLabels map[string]string) bool {
	if len(setLabels) == 0 {
		return false
	}
	labels := live.GetLabels()
	for k, v := range setLabels {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// runHooks runs the hooks of one phase, weight by weight. The ChangeSet has
// an entry per hook, in the order they ran; hooks after a failure are
// Skipped.
func (m *Manager) runHooks(ctx context.Context, hs []*hook, opts Options) (ChangeSet, error) {
	sortHooks(hs)
	var changes ChangeSet
	for start := 0; start < len(hs); {
		end := start
		for end < len(hs) && hs[end].weight == hs[start].weight {
			end++
		}
		staged, err := m.runHookWeight(ctx, hs[start:end], opts)
		changes = append(changes, staged...)
		if err != nil {
			for _, h := range hs[end:] {
				changes = append(changes, Entry{Ref: h.ref, Action: Skipped})
			}
			return changes, err
		}
		start = end
	}
	return changes, nil
}

// runHookWeight runs hooks of one weight: plans each from its live object,
// applies those to run (dry-run first, all or nothing), then waits for them
// and for those already running.
func (m *Manager) runHookWeight(ctx context.Context, hs []*hook, opts Options) (ChangeSet, error) {
	changes := make(ChangeSet, len(hs))
	var toApply []*unstructured.Unstructured
	var recreate []bool
	var applied []int // index in hs of each object of toApply
	var wait []int
	for i, h := range hs {
		changes[i] = Entry{Ref: h.ref, Action: Unchanged}
		live, err := m.live(ctx, h.obj)
		switch {
		case apierrors.IsNotFound(err):
			if m.hooks.ranWith(h.ref, h.digest) {
				h.done = true // ran, then deleted by its policy or a TTL
				continue
			}
			toApply, recreate, applied = append(toApply, h.obj), append(recreate, false), append(applied, i)
			continue
		case err != nil:
			changes[i] = Entry{Ref: h.ref, Action: Failed, Err: fmt.Errorf("read hook: %w", err)}
			continue
		}
		h.present = true
		canRecreate := h.policies[policyBeforeHookCreation] && ours(live, opts.SetLabels)
		if live.GetAnnotations()[AnnotationHookConfig] != h.digest {
			// A new configuration: run it again.
			toApply, recreate, applied = append(toApply, h.obj), append(recreate, canRecreate), append(applied, i)
			continue
		}
		res, err := status.Compute(live)
		switch {
		case err != nil:
			changes[i] = Entry{Ref: h.ref, Action: Failed, Err: fmt.Errorf("hook status: %w", err)}
		case res.Status == status.CurrentStatus:
			h.done = true
			m.hooks.record(h.ref, h.digest)
		case res.Status == status.FailedStatus && canRecreate:
			// It failed last time: run it again.
			toApply, recreate, applied = append(toApply, h.obj), append(recreate, true), append(applied, i)
		case res.Status == status.FailedStatus:
			changes[i] = Entry{Ref: h.ref, Action: Failed, Err: &HookError{Message: res.Message}}
		default:
			wait = append(wait, i) // still running from an earlier sync
		}
	}
	if failures := changes.Failures(); len(failures) > 0 {
		return changes, &SetError{Stage: "hook", Failures: failures}
	}

	if len(toApply) > 0 {
		staged, err := m.applyStageWith(ctx, toApply, recreate, opts)
		for j, e := range staged {
			changes[applied[j]] = e
		}
		if err != nil {
			return changes, err
		}
		for _, i := range applied {
			m.hooks.forget(hs[i].ref) // running: not done until seen done
			hs[i].present = true
			wait = append(wait, i)
		}
	}
	if len(wait) == 0 {
		return changes, nil
	}

	timeout := opts.HookTimeout
	if timeout <= 0 {
		timeout = DefaultHookTimeout
	}
	failed, err := m.waitHooks(ctx, hs, wait, timeout)
	if err == nil {
		for _, i := range wait {
			hs[i].done = true
			m.hooks.record(hs[i].ref, hs[i].digest)
		}
		return changes, nil
	}
	var fails []Entry
	for _, i := range wait {
		msg, bad := failed[i]
		if !bad {
			continue
		}
		var e error = &HookError{Message: msg}
		if strings.HasPrefix(msg, "timeout: ") {
			e = errors.New("hook not done: " + strings.TrimPrefix(msg, "timeout: "))
		} else if hs[i].policies[policyHookFailed] {
			if derr := m.deleteHook(ctx, hs[i], opts); derr != nil {
				e = fmt.Errorf("%w; and hook-failed: delete: %v", e, derr)
			}
		}
		changes[i].Action, changes[i].Err = Failed, e
		fails = append(fails, changes[i])
	}
	return changes, &SetError{Stage: "hook", Failures: fails}
}

// waitHooks waits until each hs[i] of wait is done: kstatus Current, or
// gone (a Job's ttlSecondsAfterFinished deletes it once it completed). It
// returns, by index, the hooks that failed or were not done in time, and an
// error when there is any. A Failed hook ends the wait at once.
func (m *Manager) waitHooks(ctx context.Context, hs []*hook, wait []int, timeout time.Duration) (map[int]string, error) {
	deadline := time.Now().Add(timeout)
	pending := append([]int(nil), wait...)
	for {
		refs := make([]ObjectRef, len(pending))
		for j, i := range pending {
			refs[j] = hs[i].ref
		}
		unhealthy, failed := m.unhealthy(ctx, refs)
		var still []int
		for _, i := range pending {
			msg, bad := unhealthy[hs[i].ref]
			if bad && msg == "NotFound" {
				hs[i].present = false // ran and went
				continue
			}
			if bad {
				still = append(still, i)
			}
		}
		if len(still) == 0 {
			return nil, nil
		}
		timedOut := !time.Now().Before(deadline) || ctx.Err() != nil
		if failed || timedOut {
			out := map[int]string{}
			for _, i := range still {
				msg := unhealthy[hs[i].ref]
				if !strings.HasPrefix(msg, string(status.FailedStatus)) {
					if failed {
						continue // not failed, only cut short by another's failure
					}
					msg = "timeout: " + fmt.Sprintf("%s after %s", msg, timeout)
				}
				out[i] = msg
			}
			return out, errors.New("hooks failed")
		}
		pending = still
		select {
		case <-ctx.Done():
		case <-time.After(HealthPollInterval):
		}
	}
}

// deleteDone deletes the hooks whose hook-succeeded policy applies now:
// done, still present, and in no later phase (lastPhase says whether this
// is the hook's last). Only objects that carry the set's labels are deleted.
func (m *Manager) deleteDone(ctx context.Context, hs []*hook, lastPhase func(*hook) bool, opts Options) error {
	var errs []Entry
	for _, h := range hs {
		if !h.done || !h.present || !h.policies[policyHookSucceeded] || !lastPhase(h) {
			continue
		}
		if err := m.deleteHook(ctx, h, opts); err != nil {
			errs = append(errs, Entry{Ref: h.ref, Action: Failed, Err: fmt.Errorf("hook-succeeded: delete: %w", err)})
			continue
		}
		h.present = false
	}
	if len(errs) > 0 {
		return &SetError{Stage: "hook", Failures: errs}
	}
	return nil
}

// deleteHook deletes a hook object that carries the set's labels.
func (m *Manager) deleteHook(ctx context.Context, h *hook, opts Options) error {
	live, err := m.live(ctx, h.obj)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !ours(live, opts.SetLabels) {
		return nil // not ours to delete
	}
	uid := live.GetUID()
	err = m.Client.Delete(ctx, live, client.PropagationPolicy(metav1.DeletePropagationBackground),
		client.Preconditions{UID: &uid})
	return client.IgnoreNotFound(err)
}

// prepareHooks defaults the hooks' namespaces and prepares them.
func (m *Manager) prepareHooks(objs []*unstructured.Unstructured, ns string) []*hook {
	m.defaultNamespaces(objs, ns)
	hs := make([]*hook, len(objs))
	for i, o := range objs {
		hs[i] = newHook(o)
	}
	return hs
}
