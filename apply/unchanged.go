package apply

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// appliedState is what the last real apply of an object left behind: a
// digest of the configuration we applied, the object's resourceVersion and
// our managed-fields entry in the apiserver's answer.
//
// It lets a resync skip the real apply without a GET. The dry-run answer
// carries the live resourceVersion: when it is still the one our last apply
// produced, nobody has written the object since, and when our configuration
// is also the one we applied last, applying again would change nothing. Our
// managed-fields entry must also be as we left it (belt and braces: the
// apiserver leaves it untouched when an apply changes nothing). Objects that
// others write to (a Deployment's status, say) get a new resourceVersion and
// are applied again: a no-op for etcd, but a request.
type appliedState struct {
	digest          string
	resourceVersion string
	entry           metav1.ManagedFieldsEntry
}

// appliedMemory remembers appliedStates in memory. After a restart it is
// empty and the first sync applies everything once, which is harmless.
type appliedMemory struct {
	mu     sync.Mutex
	states map[ObjectRef]appliedState
}

func (m *appliedMemory) unchanged(ref ObjectRef, digest string, dryRun metav1.Object, owner string) bool {
	return m.remembers(ref, digest) && m.untouched(ref, dryRun, owner)
}

func (m *appliedMemory) remember(ref ObjectRef, digest string, applied metav1.Object, owner string) {
	entry, ok := applyEntry(applied, owner)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.states == nil {
		m.states = map[ObjectRef]appliedState{}
	}
	if !ok {
		delete(m.states, ref)
		return
	}
	m.states[ref] = appliedState{digest: digest, resourceVersion: applied.GetResourceVersion(), entry: entry}
}

func (m *appliedMemory) forget(ref ObjectRef) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.states, ref)
}

// applyEntry finds owner's Apply entry in obj's managed fields.
func applyEntry(obj metav1.Object, owner string) (metav1.ManagedFieldsEntry, bool) {
	for _, e := range obj.GetManagedFields() {
		if e.Manager == owner && e.Operation == metav1.ManagedFieldsOperationApply && e.Subresource == "" {
			return e, true
		}
	}
	return metav1.ManagedFieldsEntry{}, false
}

func sameEntry(a, b metav1.ManagedFieldsEntry) bool {
	if a.APIVersion != b.APIVersion || a.Time == nil || b.Time == nil || !a.Time.Equal(b.Time) {
		return false
	}
	if a.FieldsV1 == nil || b.FieldsV1 == nil {
		return a.FieldsV1 == b.FieldsV1
	}
	return bytes.Equal(a.FieldsV1.Raw, b.FieldsV1.Raw)
}

// configDigest hashes the configuration we apply for an object.
func configDigest(obj *unstructured.Unstructured) string {
	b, _ := json.Marshal(obj.Object) // maps marshal with sorted keys
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// unchangedSinceApplied tells, without a dry-run, which objects of a set are
// as the last apply left them: the configuration is the one applied last and
// the object's metadata, listed by the set's labels, still carries the
// resourceVersion and managed-fields entry that apply produced. Those need
// neither a dry-run nor an apply: nobody has written them since, and we
// would write the same. One metadata-only LIST per kind and namespace
// replaces a dry-run per object, which is what makes a resync that finds
// nothing to do cheap for the apiserver. Any doubt (nothing remembered, a
// LIST refused, say to a tenant without list rights) leaves the object to
// the dry-run.
func (m *Manager) unchangedSinceApplied(ctx context.Context, objs []*unstructured.Unstructured, owner string, selector map[string]string) []bool {
	unchanged := make([]bool, len(objs))
	if len(selector) == 0 {
		return unchanged
	}
	type group struct {
		gvk       schema.GroupVersionKind
		namespace string
	}
	candidates := map[group][]int{}
	for i, obj := range objs {
		if m.applied.remembers(RefOf(obj), configDigest(obj)) {
			g := group{obj.GroupVersionKind(), obj.GetNamespace()}
			candidates[g] = append(candidates[g], i)
		}
	}
	for g, idx := range candidates {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(g.gvk.GroupVersion().WithKind(g.gvk.Kind + "List"))
		if err := m.reader().List(ctx, list, client.InNamespace(g.namespace), client.MatchingLabels(selector)); err != nil {
			continue
		}
		live := make(map[string]*metav1.PartialObjectMetadata, len(list.Items))
		for i := range list.Items {
			live[list.Items[i].Name] = &list.Items[i]
		}
		for _, i := range idx {
			if meta, ok := live[objs[i].GetName()]; ok {
				unchanged[i] = m.applied.untouched(RefOf(objs[i]), meta, owner)
			}
		}
	}
	return unchanged
}

// remembers says whether the last apply of ref was of this configuration.
func (m *appliedMemory) remembers(ref ObjectRef, digest string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.states[ref]
	return ok && st.digest == digest
}

// untouched says whether live is still what the last apply of ref left.
func (m *appliedMemory) untouched(ref ObjectRef, live metav1.Object, owner string) bool {
	m.mu.Lock()
	st, ok := m.states[ref]
	m.mu.Unlock()
	if !ok || st.resourceVersion != live.GetResourceVersion() {
		return false
	}
	entry, ok := applyEntry(live, owner)
	return ok && sameEntry(entry, st.entry)
}
