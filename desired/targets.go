package desired

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/apply"
	"github.com/configsync/configsync/internal/filetree"
)

// AnnotationConfigDigest on a workload target's pod template holds the
// digest of the ConfigSync's ConfigMap and Secret targets, so that a config
// change rolls the pods (and nothing else does).
const AnnotationConfigDigest = "configs.example.io/config-digest"

// selectTargets keeps the rendered objects that spec.targets names; without
// targets every object is kept. A target matches an object of its kind and
// name; the target's namespace wins over the object's. A ConfigMap or Secret
// target that matches no object is built from the tree's plain files. Workload
// targets get the config digest annotation.
func selectTargets(cs *configsv1.ConfigSync, objs []*unstructured.Unstructured, tree filetree.Tree) ([]*unstructured.Unstructured, error) {
	if len(cs.Spec.Targets) == 0 {
		return objs, nil
	}
	var selected []*unstructured.Unstructured
	var missing []string
	for _, t := range cs.Spec.Targets {
		ns := t.Namespace
		if ns == "" {
			ns = cs.Namespace
		}
		obj := matchTarget(t, objs)
		switch {
		case obj != nil:
			obj = obj.DeepCopy()
		case t.Type == configsv1.TargetConfigMap || t.Type == configsv1.TargetSecret:
			built, err := fromFiles(t, apply.DataFiles(tree))
			if err != nil {
				return nil, err
			}
			obj = built
		default:
			missing = append(missing, fmt.Sprintf("%s %s", t.Type, t.Name))
			continue
		}
		obj.SetNamespace(ns)
		selected = append(selected, obj)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("no rendered object matches target(s) %s", strings.Join(missing, ", "))
	}
	return selected, stampConfigDigest(selected)
}

// fromFiles builds a ConfigMap or Secret target from plain files, one key per
// file (its base name), as kustomize's configMapGenerator does.
func fromFiles(t configsv1.Target, files filetree.Tree) (*unstructured.Unstructured, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("%s target %s: no rendered object matches it and the tree has no plain files to build it from", t.Type, t.Name)
	}
	data, binary := map[string]any{}, map[string]any{}
	for _, name := range files.Paths() {
		key := path.Base(name)
		if _, dup := data[key]; dup {
			return nil, fmt.Errorf("%s target %s: two files named %s", t.Type, t.Name, key)
		}
		if _, dup := binary[key]; dup {
			return nil, fmt.Errorf("%s target %s: two files named %s", t.Type, t.Name, key)
		}
		content := files[name]
		switch {
		case t.Type == configsv1.TargetSecret:
			data[key] = base64.StdEncoding.EncodeToString(content)
		case utf8.Valid(content):
			data[key] = string(content)
		default:
			binary[key] = base64.StdEncoding.EncodeToString(content)
		}
	}
	obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": string(t.Type)}}
	obj.SetName(t.Name)
	obj.Object["data"] = data
	if len(binary) > 0 {
		obj.Object["binaryData"] = binary
	}
	if t.Type == configsv1.TargetSecret {
		obj.Object["type"] = "Opaque"
	}
	return obj, nil
}

// stampConfigDigest annotates the pod template of every workload in objs
// with a digest of the ConfigMaps and Secrets in objs.
func stampConfigDigest(objs []*unstructured.Unstructured) error {
	h := sha256.New()
	configs := 0
	for _, o := range objs {
		if o.GroupVersionKind().Group != "" || (o.GetKind() != "ConfigMap" && o.GetKind() != "Secret") {
			continue
		}
		configs++
		fmt.Fprintf(h, "%s/%s/%s\n", o.GetKind(), o.GetNamespace(), o.GetName())
		for _, field := range []string{"data", "binaryData", "stringData"} {
			b, err := json.Marshal(o.Object[field]) // maps marshal with sorted keys
			if err != nil {
				return err
			}
			h.Write(b)
		}
	}
	if configs == 0 {
		return nil
	}
	digest := "sha256:" + hex.EncodeToString(h.Sum(nil))
	for _, o := range objs {
		if _, found, _ := unstructured.NestedMap(o.Object, "spec", "template"); !found {
			continue
		}
		if err := unstructured.SetNestedField(o.Object, digest, "spec", "template", "metadata", "annotations", AnnotationConfigDigest); err != nil {
			return fmt.Errorf("annotate %s %s: %w", o.GetKind(), o.GetName(), err)
		}
	}
	return nil
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
