package controllers

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
)

// selectTargets keeps the rendered objects that spec.targets names; without
// targets every object is kept. A target matches an object of its kind and
// name; the target's namespace wins over the object's.
func selectTargets(cs *configsv1.ConfigSync, objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	if len(cs.Spec.Targets) == 0 {
		return objs, nil
	}
	var selected []*unstructured.Unstructured
	var missing []string
	for _, t := range cs.Spec.Targets {
		obj := matchTarget(t, objs)
		if obj == nil {
			missing = append(missing, fmt.Sprintf("%s %s", t.Type, t.Name))
			continue
		}
		obj = obj.DeepCopy()
		ns := t.Namespace
		if ns == "" {
			ns = cs.Namespace
		}
		obj.SetNamespace(ns)
		selected = append(selected, obj)
	}
	if len(missing) > 0 {
		// Building ConfigMaps and Secrets from plain files is the
		// sync-semantics work; until then a target needs a manifest.
		return nil, fmt.Errorf("no rendered object matches target(s) %s", strings.Join(missing, ", "))
	}
	return selected, nil
}

func matchTarget(t configsv1.Target, objs []*unstructured.Unstructured) *unstructured.Unstructured {
	var found *unstructured.Unstructured
	for _, obj := range objs {
		if obj.GetName() != t.Name || !kindMatches(t, obj.GroupVersionKind()) {
			continue
		}
		if t.Namespace != "" && obj.GetNamespace() == t.Namespace {
			return obj // an exact namespace match beats any other
		}
		if found == nil {
			found = obj
		}
	}
	return found
}

func kindMatches(t configsv1.Target, gvk schema.GroupVersionKind) bool {
	switch t.Type {
	case configsv1.TargetConfigMap, configsv1.TargetSecret:
		return gvk.Group == "" && gvk.Kind == string(t.Type)
	case configsv1.TargetDeployment, configsv1.TargetStatefulSet, configsv1.TargetDaemonSet:
		return gvk.Group == "apps" && gvk.Kind == string(t.Type)
	case configsv1.TargetObject:
		gv, err := schema.ParseGroupVersion(t.APIVersion)
		return err == nil && gv.Group == gvk.Group && t.Kind == gvk.Kind
	}
	return false
}
