package desired_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/desired"
	"github.com/configsync/configsync/internal/filetree"
)

const (
	deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {template: {spec: {containers: [{name: web, image: nginx}]}}}\n"
	configMap  = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: elsewhere}\ndata: {level: debug}\n"
)

func configSync(targets ...configsv1.Target) *configsv1.ConfigSync {
	cs := &configsv1.ConfigSync{Spec: configsv1.ConfigSyncSpec{Targets: targets}}
	cs.Namespace, cs.Name = "team", "app"
	return cs
}

// What a ConfigSync applies from a rendered tree: every object without
// targets; with targets, the matching objects in the target's namespace,
// ConfigMaps built from plain files, and the config digest on workloads;
// always the ownership labels.
func TestObjects(t *testing.T) {
	tree := filetree.Tree{"web.yaml": []byte(deployment), "cm.yaml": []byte(configMap), "conf/app.properties": []byte("a=1\n")}
	cases := []struct {
		name string
		cs   *configsv1.ConfigSync
		want []string // kind/namespace/name
		err  string
	}{
		{name: "no targets keep every object", cs: configSync(),
			want: []string{"ConfigMap/elsewhere/settings", "Deployment//web"}},
		{name: "a target narrows and sets its namespace",
			cs:   configSync(configsv1.Target{Type: configsv1.TargetConfigMap, Name: "settings"}),
			want: []string{"ConfigMap/team/settings"}},
		{name: "a ConfigMap target no object matches is built from plain files",
			cs:   configSync(configsv1.Target{Type: configsv1.TargetConfigMap, Name: "props"}, configsv1.Target{Type: configsv1.TargetDeployment, Name: "web"}),
			want: []string{"ConfigMap/team/props", "Deployment/team/web"}},
		{name: "a workload target no object matches is an error",
			cs:  configSync(configsv1.Target{Type: configsv1.TargetDeployment, Name: "api"}),
			err: "no rendered object matches target(s) Deployment api"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			objs, err := desired.Objects(c.cs, tree)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range objs {
				got = append(got, o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName())
				if l := o.GetLabels(); l[configsv1.LabelName] != "app" || l[configsv1.LabelNamespace] != "team" {
					t.Errorf("%s: labels %v, want the owner's", o.GetName(), l)
				}
			}
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Errorf("objects %v, want %v", got, c.want)
			}
		})
	}
}

// The config digest follows the ConfigMap targets' data, and only it.
func TestConfigDigestFollowsConfigData(t *testing.T) {
	cs := configSync(configsv1.Target{Type: configsv1.TargetConfigMap, Name: "settings"}, configsv1.Target{Type: configsv1.TargetDeployment, Name: "web"})
	digest := func(data string) string {
		t.Helper()
		cm := strings.Replace(configMap, "level: debug", data, 1)
		objs, err := desired.Objects(cs, filetree.Tree{"web.yaml": []byte(deployment), "cm.yaml": []byte(cm)})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if o.GetKind() == "Deployment" {
				d, _, _ := unstructured.NestedString(o.Object, "spec", "template", "metadata", "annotations", desired.AnnotationConfigDigest)
				return d
			}
		}
		t.Fatal("no Deployment")
		return ""
	}
	debug, info := digest("level: debug"), digest("level: info")
	if debug == "" || debug == info || debug != digest("level: debug") {
		t.Errorf("digests %q (debug, twice) and %q (info): want stable, and different when the data is", debug, info)
	}
}

func TestFieldOwnerForFitsAFieldManager(t *testing.T) {
	if got := desired.FieldOwnerFor("team", "app"); got != "configsync/team/app" {
		t.Errorf("FieldOwnerFor = %q", got)
	}
	long := desired.FieldOwnerFor(strings.Repeat("n", 63), strings.Repeat("a", 253))
	if len(long) > 128 || long == desired.FieldOwnerFor(strings.Repeat("n", 63), strings.Repeat("a", 252)+"b") {
		t.Errorf("a long owner %q (%d bytes): want at most 128 and distinct", long, len(long))
	}
}

func TestCheckInventorySizeRefusesWhatTheStatusCannotHold(t *testing.T) {
	objs := make([]*unstructured.Unstructured, 0, 9000)
	for i := range cap(objs) {
		o := &unstructured.Unstructured{}
		o.SetAPIVersion("v1")
		o.SetKind("ConfigMap")
		o.SetNamespace("team")
		o.SetName(strings.Repeat("x", 80) + string(rune('a'+i%26)) + strings.Repeat("y", i%10))
		objs = append(objs, o)
	}
	if err := desired.CheckInventorySize(objs[:100]); err != nil {
		t.Errorf("100 objects: %v", err)
	}
	if err := desired.CheckInventorySize(objs); err == nil || !strings.Contains(err.Error(), "split the objects over several ConfigSyncs") {
		t.Errorf("9000 objects: %v, want a refusal", err)
	}
}
