package deploy_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/configsync/configsync/internal/testenv"
)

// build runs `kustomize build dir` in-process.
func build(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var objs []*unstructured.Unstructured
	for _, r := range res.Resources() {
		raw, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		o := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(raw, &o.Object); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o)
	}
	return objs
}

// dryRunAll server-side-applies objs with dryRun=All, as
// `kubectl apply -k --dry-run=server --server-side` does, and fails on any refusal.
func dryRunAll(t *testing.T, c client.Client, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		err := c.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(o.DeepCopy()),
			client.FieldOwner("kubectl"), client.DryRunAll, client.ForceOwnership)
		if err != nil {
			t.Errorf("%s %s/%s refused: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
	}
}

// `kubectl apply -k deploy/ --dry-run=server` against the test control plane
// accepts every object, and so does deploy/monitoring once the Prometheus
// Operator's CRDs are there. The namespace is created first, as a dry-run
// cannot create objects inside a namespace it only pretends to create.
func TestInstallManifestsAreAcceptedByTheAPIServer(t *testing.T) {
	c := testenv.Start(t).Client
	ctx := context.Background()

	objs := build(t, ".")
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.GetKind()]++
		if o.GetKind() == "Namespace" {
			if err := c.Create(ctx, o.DeepCopy()); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, want := range []string{"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ServiceAccount", "Deployment", "Service"} {
		if kinds[want] == 0 {
			t.Errorf("deploy/ has no %s", want)
		}
	}
	dryRunAll(t, c, objs)

	raw, err := os.ReadFile("../testdata/deploy/monitoring-crds.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		crd := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &crd.Object); err != nil {
			t.Fatal(err)
		}
		if err := c.Create(ctx, crd); err != nil {
			t.Fatal(err)
		}
	}
	waitServed(t, c)
	dryRunAll(t, c, build(t, "monitoring"))
}

func waitServed(t *testing.T, c client.Client) {
	t.Helper()
	for _, kind := range []string{"ServiceMonitorList", "PrometheusRuleList"} {
		list := &unstructured.UnstructuredList{}
		list.SetAPIVersion("monitoring.coreos.com/v1")
		list.SetKind(kind)
		served := false
		for range 100 {
			if err := c.List(context.Background(), list); err == nil {
				served = true
				break
			}
			time.Sleep(100 * time.Millisecond) // the client's mapper re-discovers on a miss
		}
		if !served {
			t.Fatalf("%s never served", kind)
		}
	}
}

// The manager runs as a non-root user with a read-only root filesystem,
// bounded resources and both probes.
func TestManagerDeploymentIsLockedDown(t *testing.T) {
	var d *appsv1.Deployment
	for _, o := range build(t, ".") {
		if o.GetKind() != "Deployment" {
			continue
		}
		d = &appsv1.Deployment{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, d); err != nil {
			t.Fatal(err)
		}
	}
	if d == nil {
		t.Fatal("no Deployment")
	}
	pod := d.Spec.Template.Spec
	if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
		t.Error("pod must run as non-root")
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("container needs a read-only root filesystem and no privilege escalation")
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
		t.Error("container needs resource requests and limits")
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Error("container needs /healthz and /readyz probes")
	}
	if pod.ServiceAccountName != "configsync-manager" {
		t.Errorf("serviceAccountName %q", pod.ServiceAccountName)
	}
}
