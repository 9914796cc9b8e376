// Package desired turns a rendered tree and a ConfigSync's spec into the
// objects the operator applies: decoded, narrowed to spec.targets (with
// ConfigMap and Secret targets built from plain files, and the config digest
// on workloads) and labelled as the ConfigSync's; CheckInventorySize says
// whether their inventory fits its status. The reconciler, the CLI's render
// and diff, and the UI's history diff all use it, so they agree on what a
// sync applies.
package desired

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/apply"
	"github.com/configsync/configsync/internal/filetree"
	"github.com/configsync/configsync/prune"
)

// Objects turns a rendered tree into the objects cs applies: decoded,
// narrowed to spec.targets and labelled as cs's.
func Objects(cs *configsv1.ConfigSync, tree filetree.Tree) ([]*unstructured.Unstructured, error) {
	objs, err := apply.Decode(tree)
	if err != nil {
		return nil, err
	}
	objs, err = selectTargets(cs, objs, tree)
	if err != nil {
		return nil, err
	}
	prune.Label(objs, cs.Namespace, cs.Name)
	return objs, nil
}

// FieldOwner is the server-side apply field manager of what the operator
// applies outside a ConfigSync (its CRD); each ConfigSync applies as
// FieldOwnerFor(it).
const FieldOwner = "configsync"

// FieldOwnerFor is the field manager a ConfigSync applies with:
// "configsync/<namespace>/<name>". Two ConfigSyncs rendering the same object
// then conflict on its ownership labels, which the apply reports, instead
// of taking the object from each other at every sync. Names too long for a
// field manager (128 bytes) are shortened with a digest.
func FieldOwnerFor(namespace, name string) string {
	owner := FieldOwner + "/" + namespace + "/" + name
	if len(owner) <= 128 {
		return owner
	}
	sum := sha256.Sum256([]byte(owner))
	return owner[:100] + "-" + hex.EncodeToString(sum[:8])
}

// Reference is how the ConfigSync's status and inventory name an object.
func Reference(r apply.ObjectRef) configsv1.ObjectReference {
	return configsv1.ObjectReference{APIVersion: r.APIVersion, Kind: r.Kind, Namespace: r.Namespace, Name: r.Name}
}

// MaxInventoryBytes bounds the inventory a ConfigSync keeps in its status:
// etcd stores an object of at most 1.5 MiB, and a status it cannot write
// would leave the ConfigSync unable to report or prune anything.
const MaxInventoryBytes = 1 << 20

// CheckInventorySize refuses a set whose inventory would not fit the status.
func CheckInventorySize(objs []*unstructured.Unstructured) error {
	size := 0
	for _, o := range objs {
		ref := Reference(apply.RefOf(o))
		size += len(ref.APIVersion) + len(ref.Kind) + len(ref.Namespace) + len(ref.Name) + len(`{"apiVersion":"","kind":"","namespace":"","name":""},`)
	}
	if size > MaxInventoryBytes {
		return fmt.Errorf("the source renders %d objects, whose inventory would take %d KiB of the ConfigSync's status; the limit is %d KiB: split the objects over several ConfigSyncs", len(objs), size>>10, MaxInventoryBytes>>10)
	}
	return nil
}

// Digest hashes the objects as applied, so history can tell two renders of
// the same commit apart (say, after a values change).
func Digest(objs []*unstructured.Unstructured) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, o := range objs {
		_ = enc.Encode(o.Object) // maps marshal with sorted keys: stable
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
