package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/configsync/configsync/desired"
)

func exitStatus(err error) int {
	var code exitCode
	switch {
	case err == nil:
		return 0
	case errors.As(err, &code):
		return int(code)
	default:
		return 2
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// diff shows a new object against nothing, says nothing once the cluster
// holds what the checkout renders, masks Secret values while saying which
// changed, and exits 2 when the cluster refuses an object.
func TestDiffAgainstACluster(t *testing.T) {
	kubeconfig, c := startCluster(t)
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	cs := filepath.Join(dir, "cs.yaml")
	writeFiles(t, dir, map[string]string{"cs.yaml": `apiVersion: configs.example.io/v1alpha1
kind: ConfigSync
metadata: {name: shop, namespace: shop}
spec:
  source: {git: {repoURL: https://git.example.com/shop.git}}
`})
	writeFiles(t, src, map[string]string{
		"cm.yaml":     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shop-config}\ndata: {color: blue}\n",
		"secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: shop-db}\nstringData: {password: hunter2-first}\n",
	})
	diff := func() (string, int) {
		out, err := runCLI(t, "diff", "--kubeconfig", kubeconfig, "-f", cs, "--source", src)
		return out, exitStatus(err)
	}

	out, code := diff()
	if code != 1 || !strings.Contains(out, "--- /dev/null") || !strings.Contains(out, "+  color: blue") {
		t.Fatalf("new objects: exit %d, output:\n%s", code, out)
	}
	if strings.Contains(out, "hunter2") {
		t.Fatalf("the Secret value shows:\n%s", out)
	}

	applyRendered(t, c, cs, src) // what the operator would do

	if out, code := diff(); code != 0 || out != "" {
		t.Fatalf("in sync: exit %d, output:\n%s", code, out)
	}

	writeFiles(t, src, map[string]string{"secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: shop-db}\nstringData: {password: hunter2-second}\n"})
	out, code = diff()
	if code != 1 || !strings.Contains(out, "*** (before)") || !strings.Contains(out, "*** (after)") || strings.Contains(out, "hunter2") {
		t.Fatalf("changed Secret: exit %d, output:\n%s", code, out)
	}

	writeFiles(t, src, map[string]string{"svc.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 70000}]}\n"})
	if _, code := diff(); code != 2 {
		t.Fatalf("refused object: exit %d, want 2", code)
	}
}

// applyRendered server-side applies the rendered objects with the operator's field manager.
func applyRendered(t *testing.T, c client.Client, cs, src string) {
	t.Helper()
	o := &renderOptions{file: cs, sourceDir: src, kube: &kubeOptions{}}
	spec, tree, err := o.render()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := desired.Objects(spec, tree)
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range objs {
		if obj.GetNamespace() == "" {
			obj.SetNamespace(spec.Namespace)
		}
		if err := c.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner(desired.FieldOwnerFor(spec.Namespace, spec.Name))); err != nil {
			t.Fatal(err)
		}
	}
}
