// Package objdiff shows how an object changes as a unified diff of its YAML,
// with what must never be shown masked: Secret values and kubectl's
// last-applied-configuration (a copy of a Secret's data in clear). The
// CLI's diff and the web UI's history diff share it, so both mask alike.
package objdiff

import (
	"fmt"
	"maps"
	"slices"

	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Comparable drops what the server sets, so only what a sync changes shows.
// It returns nil for a nil object (one that does not exist).
func Comparable(obj *unstructured.Unstructured) map[string]any {
	if obj == nil {
		return nil
	}
	m := obj.DeepCopy().Object
	delete(m, "status")
	if meta, ok := m["metadata"].(map[string]any); ok {
		for _, k := range []string{"managedFields", "resourceVersion", "uid", "generation", "creationTimestamp"} {
			delete(meta, k)
		}
	}
	return m
}

// IsSecret tells whether obj is a core Secret, whose values Mask hides.
func IsSecret(obj *unstructured.Unstructured) bool {
	return obj.GetKind() == "Secret" && obj.GroupVersionKind().Group == ""
}

// Mask masks, in place, what the diff of before and after (from Comparable;
// either may be nil) must not show: the masked annotations on every kind,
// and every value of a Secret when secret is true.
func Mask(before, after map[string]any, secret bool) {
	MaskAnnotations(before, after)
	if secret {
		MaskSecrets(before, after)
	}
}

// maskedAnnotations are annotations that copy an object whole: kubectl
// apply's last-applied-configuration holds a Secret's data in clear, so
// the diff masks it on every kind, saying only whether it changed.
var maskedAnnotations = []string{"kubectl.kubernetes.io/last-applied-configuration"}

// MaskAnnotations masks the annotations that copy an object whole.
func MaskAnnotations(before, after map[string]any) {
	annotations := func(m map[string]any) map[string]any {
		meta, _ := m["metadata"].(map[string]any)
		a, _ := meta["annotations"].(map[string]any)
		return a
	}
	b, a := annotations(before), annotations(after)
	for _, k := range maskedAnnotations {
		maskValue(b, a, k)
	}
}

// maskValue replaces key's value in before and after (either may lack it)
// with a mask that tells whether it changed, and nothing else about it.
func maskValue(before, after map[string]any, key string) {
	bv, inB := before[key]
	av, inA := after[key]
	switch {
	case inB && inA && fmt.Sprint(bv) == fmt.Sprint(av):
		before[key], after[key] = "***", "***"
	case inB && inA:
		before[key], after[key] = "*** (before)", "*** (after)"
	case inB:
		before[key] = "***"
	case inA:
		after[key] = "***"
	}
}

// MaskSecrets replaces every Secret value with a mask that tells whether it
// changed, and nothing else about it.
func MaskSecrets(before, after map[string]any) {
	for _, field := range []string{"data", "stringData"} {
		b, _ := before[field].(map[string]any)
		a, _ := after[field].(map[string]any)
		for _, k := range UnionKeys(b, a) {
			maskValue(b, a, k)
		}
	}
}

// UnionKeys returns the keys of before and after, each once, in order: what
// a diff of two maps walks.
func UnionKeys[V any](before, after map[string]V) []string {
	keys := slices.AppendSeq(slices.Collect(maps.Keys(before)), maps.Keys(after))
	slices.Sort(keys)
	return slices.Compact(keys)
}

// ToYAML renders m as YAML; nil is the empty text (an absent object).
func ToYAML(m map[string]any) (string, error) {
	if m == nil {
		return "", nil
	}
	y, err := yaml.Marshal(m)
	return string(y), err
}

// Unified is the unified diff (3 lines of context) from before to after,
// already masked; from and to name the two sides. It is empty when they
// are the same.
func Unified(before, after map[string]any, from, to string) (string, error) {
	a, err := ToYAML(before)
	if err != nil {
		return "", err
	}
	b, err := ToYAML(after)
	if err != nil {
		return "", err
	}
	if a == b {
		return "", nil
	}
	return difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(a), B: difflib.SplitLines(b), FromFile: from, ToFile: to, Context: 3,
	})
}
