package prune

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
)

// AnnotationPrune set to "disabled" on an object keeps it from ever being
// deleted by a ConfigSync.
const AnnotationPrune = "configs.example.io/prune"

// Owner names the ConfigSync whose objects are pruned.
type Owner struct{ Namespace, Name string }

// Labels are the ownership labels o puts on every object it applies.
func (o Owner) Labels() map[string]string {
	return configsv1.OwnerLabels(o.Namespace, o.Name)
}

// owns says whether obj still carries o's ownership labels.
func (o Owner) owns(obj *unstructured.Unstructured) bool {
	l := obj.GetLabels()
	return l[configsv1.LabelName] == o.Name && l[configsv1.LabelNamespace] == o.Namespace
}

// Result says what became of each stale object.
type Result struct {
	// Deleted were deleted, or were already gone.
	Deleted []configsv1.ObjectReference
	// Released are not ours any more (labels gone or changed, or prune
	// disabled): left in the cluster and dropped from the inventory.
	Released []configsv1.ObjectReference
	// Failed could not be deleted; they stay in the inventory so the next
	// sync retries them.
	Failed map[configsv1.ObjectReference]error
}

// Stale lists what is in old but not in current.
func Stale(old, current Inventory) []configsv1.ObjectReference {
	var out []configsv1.ObjectReference
	for _, ref := range old.List() {
		if _, ok := current[ref]; !ok {
			out = append(out, ref)
		}
	}
	return out
}

// Delete deletes refs that still carry owner's labels and do not opt out.
// Each delete is conditional on the UID that was checked, so an object
// recreated meanwhile by someone else is never deleted.
func Delete(ctx context.Context, c client.Client, owner Owner, refs []configsv1.ObjectReference) Result {
	res := Result{Failed: map[configsv1.ObjectReference]error{}}
	for _, ref := range refs {
		obj, err := get(ctx, c, ref)
		switch {
		case apierrors.IsNotFound(err) || apimeta.IsNoMatchError(err):
			res.Deleted = append(res.Deleted, ref) // gone, or its CRD is gone
			continue
		case err != nil:
			res.Failed[ref] = err
			continue
		}
		if !owner.owns(obj) || obj.GetAnnotations()[AnnotationPrune] == "disabled" {
			res.Released = append(res.Released, ref)
			continue
		}
		uid := obj.GetUID()
		err = c.Delete(ctx, obj, client.Preconditions{UID: &uid}, client.PropagationPolicy(metav1.DeletePropagationBackground))
		if err != nil && !apierrors.IsNotFound(err) {
			res.Failed[ref] = err
			continue
		}
		res.Deleted = append(res.Deleted, ref)
	}
	return res
}

// Orphan removes owner's labels from refs, so that objects left behind by a
// deleted ConfigSync are nobody's and no later prune can touch them.
func Orphan(ctx context.Context, c client.Client, owner Owner, refs []configsv1.ObjectReference) error {
	patch := []byte(fmt.Sprintf(`{"metadata":{"labels":{%q:null,%q:null}}}`, configsv1.LabelName, configsv1.LabelNamespace))
	for _, ref := range refs {
		obj, err := get(ctx, c, ref)
		if apierrors.IsNotFound(err) || apimeta.IsNoMatchError(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("orphan %s/%s: %w", ref.Kind, ref.Name, err)
		}
		if !owner.owns(obj) {
			continue
		}
		if err := c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch)); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("orphan %s/%s: %w", ref.Kind, ref.Name, err)
		}
	}
	return nil
}

func get(ctx context.Context, c client.Client, ref configsv1.ObjectReference) (*unstructured.Unstructured, error) {
	obj := &unstructured.Unstructured{}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return nil, err
	}
	obj.SetGroupVersionKind(gv.WithKind(ref.Kind))
	err = c.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, obj)
	return obj, err
}
