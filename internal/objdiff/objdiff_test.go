package objdiff

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The diff never prints kubectl's last-applied-configuration (a copy of a
// Secret's data for Secrets applied by kubectl) nor managedFields, on any
// kind; it says whether the annotation changed.
func TestDiffMasksLastAppliedConfiguration(t *testing.T) {
	const secretValue = "c3VwZXItc2VjcmV0LXZhbHVl"
	obj := func(lastApplied string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Secret",
			"metadata": map[string]any{
				"name": "db", "namespace": "app",
				"annotations": map[string]any{
					"kubectl.kubernetes.io/last-applied-configuration": lastApplied,
					"team": "a",
				},
				"managedFields": []any{map[string]any{"manager": "kubectl", "fieldsV1": map[string]any{"f:data": map[string]any{"f:" + secretValue: map[string]any{}}}}},
			},
			"data": map[string]any{"password": secretValue},
		}}
		return u
	}
	for name, pair := range map[string][2]string{
		"unchanged": {`{"data":{"password":"` + secretValue + `"}}`, `{"data":{"password":"` + secretValue + `"}}`},
		"changed":   {`{"data":{"password":"` + secretValue + `"}}`, `{"data":{"password":"bmV3"}}`},
	} {
		t.Run(name, func(t *testing.T) {
			before, after := Comparable(obj(pair[0])), Comparable(obj(pair[1]))
			MaskAnnotations(before, after)
			MaskSecrets(before, after)
			a, _ := ToYAML(before)
			b, _ := ToYAML(after)
			for _, text := range []string{a, b} {
				if strings.Contains(text, secretValue) || strings.Contains(text, "bmV3") {
					t.Fatalf("the diff shows a secret:\n%s", text)
				}
				if strings.Contains(text, "managedFields") {
					t.Fatalf("the diff shows managedFields:\n%s", text)
				}
				if !strings.Contains(text, "team: a") {
					t.Fatalf("other annotations are gone:\n%s", text)
				}
			}
			if changed := a != b; changed != (name == "changed") {
				t.Fatalf("changed = %v\n%s\n%s", changed, a, b)
			}
		})
	}
	// Not a Secret: the annotation is masked all the same.
	cm := obj(`{"data":{"password":"` + secretValue + `"}}`)
	cm.SetKind("ConfigMap")
	before := Comparable(cm)
	MaskAnnotations(before, Comparable(cm))
	if text, _ := ToYAML(before); strings.Contains(text, `\"password\"`) || strings.Contains(text, `"data"`) {
		t.Fatalf("a ConfigMap's last-applied-configuration shows:\n%s", text)
	}
}
