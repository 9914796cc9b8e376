// Package prune owns what a ConfigSync claims in the cluster: the ownership
// labels it puts on every object it applies, and the inventory of those
// objects kept in its status, from which stale objects are found.
package prune

import (
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
)

// Label marks objs as owned by the ConfigSync namespace/name. Both labels are
// needed: a label copied onto an object by someone else must not make the
// object ours, so deletion will require the inventory entry as well.
func Label(objs []*unstructured.Unstructured, namespace, name string) {
	for _, obj := range objs {
		labels := obj.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		for k, v := range (Owner{Namespace: namespace, Name: name}).Labels() {
			labels[k] = v
		}
		obj.SetLabels(labels)
	}
}

// Inventory is a set of object references.
type Inventory map[configsv1.ObjectReference]struct{}

// FromStatus reads an inventory from a ConfigSync's status.
func FromStatus(refs []configsv1.ObjectReference) Inventory {
	inv := make(Inventory, len(refs))
	for _, r := range refs {
		inv[r] = struct{}{}
	}
	return inv
}

// Add puts ref in the inventory.
func (inv Inventory) Add(ref configsv1.ObjectReference) { inv[ref] = struct{}{} }

// List returns the references sorted by namespace, kind and name, as status shows them.
func (inv Inventory) List() []configsv1.ObjectReference {
	out := make([]configsv1.ObjectReference, 0, len(inv))
	for r := range inv {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.APIVersion < b.APIVersion
	})
	return out
}
