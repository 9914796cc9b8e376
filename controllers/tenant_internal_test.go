package controllers

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
)

func object(apiVersion, kind, ns, name string) *unstructured.Unstructured {
	o := &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind}}
	o.SetNamespace(ns)
	o.SetName(name)
	return o
}

func crd(group, kind, scope string) *unstructured.Unstructured {
	o := object("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", strings.ToLower(kind)+"s."+group)
	o.Object["spec"] = map[string]any{"group": group, "scope": scope, "names": map[string]any{"kind": kind}}
	return o
}

// holdToNamespace decides scope with the cluster's REST mapping, or the
// scope of a CRD of the same set, and refuses what it cannot decide.
func TestHoldToNamespace(t *testing.T) {
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRoleBinding"}, meta.RESTScopeRoot)
	mapper.Add(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}, meta.RESTScopeRoot)

	cm := func(ns, name string) *unstructured.Unstructured { return object("v1", "ConfigMap", ns, name) }
	many := []*unstructured.Unstructured{}
	for i := range 12 {
		many = append(many, cm("other", fmt.Sprintf("cm-%d", i)))
	}
	cases := []struct {
		name         string
		allowCluster bool
		objs         []*unstructured.Unstructured
		want         string // "" for no error; else a part of the message
		transient    bool
	}{
		{name: "own namespace and none", objs: []*unstructured.Unstructured{cm("team", "a"), cm("", "b")}},
		{name: "another namespace", objs: []*unstructured.Unstructured{cm("team", "a"), cm("other", "b")}, want: "ConfigMap b is in namespace other"},
		{name: "cluster-scoped", objs: []*unstructured.Unstructured{object("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "", "admin")},
			want: "ClusterRoleBinding admin is cluster-scoped; the cluster admin allows cluster-scoped kinds with --allow-cluster-scoped"},
		{name: "cluster-scoped allowed", allowCluster: true, objs: []*unstructured.Unstructured{object("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "", "admin")}},
		{name: "a CRD of the set is cluster-scoped", objs: []*unstructured.Unstructured{crd("example.io", "Widget", "Namespaced")},
			want: "CustomResourceDefinition widgets.example.io is cluster-scoped"},
		{name: "a namespaced kind of a CRD of the set, elsewhere", allowCluster: true,
			objs: []*unstructured.Unstructured{crd("example.io", "Widget", "Namespaced"), object("example.io/v1", "Widget", "other", "w")},
			want: "Widget w is in namespace other"},
		{name: "a namespaced kind of a CRD of the set, here", allowCluster: true,
			objs: []*unstructured.Unstructured{crd("example.io", "Widget", "Namespaced"), object("example.io/v1", "Widget", "", "w")}},
		{name: "a cluster-scoped kind of a CRD of the set", allowCluster: true,
			objs: []*unstructured.Unstructured{crd("example.io", "Gadget", "Cluster"), object("example.io/v1", "Gadget", "team", "g")}},
		{name: "a cluster-scoped kind of a CRD of the set, not allowed",
			objs: []*unstructured.Unstructured{crd("example.io", "Gadget", "Cluster"), object("example.io/v1", "Gadget", "team", "g")},
			want: "Gadget g is cluster-scoped"},
		{name: "a kind nobody serves", objs: []*unstructured.Unstructured{object("example.io/v1", "Unknown", "team", "u")},
			want: "Unknown u (apiVersion example.io/v1)", transient: true},
		{name: "many", objs: many, want: "ConfigMap cm-9 is in namespace other; and 2 more"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := holdToNamespace("team", c.allowCluster, mapper, c.objs)
			if c.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
			reason, transient := reasonOf(err)
			if reason != configsv1.ReasonAccessDenied || transient != c.transient {
				t.Fatalf("reason %s, transient %v; want AccessDenied, transient %v", reason, transient, c.transient)
			}
		})
	}
}
