package apply

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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

func (m *appliedMemory) unchanged(ref ObjectRef, digest string, dryRun *unstructured.Unstructured, owner string) bool {
	m.mu.Lock()
	st, ok := m.states[ref]
	m.mu.Unlock()
	if !ok || st.digest != digest || st.resourceVersion != dryRun.GetResourceVersion() {
		return false
	}
	entry, ok := applyEntry(dryRun, owner)
	return ok && sameEntry(entry, st.entry)
}

func (m *appliedMemory) remember(ref ObjectRef, digest string, applied *unstructured.Unstructured, owner string) {
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
func applyEntry(obj *unstructured.Unstructured, owner string) (metav1.ManagedFieldsEntry, bool) {
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
