package deploy

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// FieldOwner is the field manager InstallCRD applies with.
const FieldOwner = "configsync-install"

// InstallCRD server-side applies the embedded CRD and waits until the
// apiserver serves it: for local runs and the demo, which have no
// `kubectl apply -k deploy/` step.
func InstallCRD(ctx context.Context, c client.Client) error {
	crd := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(CRD, &crd.Object); err != nil {
		return fmt.Errorf("decode embedded CRD: %w", err)
	}
	if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(crd.DeepCopy()), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("apply CRD: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(crd.GroupVersionKind())
		if err := c.Get(ctx, client.ObjectKey{Name: crd.GetName()}, live); err == nil && established(live) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for CRD %s: %w", crd.GetName(), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func established(crd *unstructured.Unstructured) bool {
	conditions, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conditions {
		if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}
