package controllers_test

import (
	"context"
	"os"
	"testing"

	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/testgit"
)

func tektonFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../testdata/e2e/tekton/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func pipelineImage(g Gomega, ns string) string {
	p := &unstructured.Unstructured{}
	p.SetAPIVersion("tekton.dev/v1")
	p.SetKind("Pipeline")
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "release"}, p)).To(Succeed())
	tasks, _, _ := unstructured.NestedSlice(p.Object, "spec", "tasks")
	g.Expect(tasks).To(HaveLen(1))
	params, _, _ := unstructured.NestedSlice(tasks[0].(map[string]any), "params")
	return params[0].(map[string]any)["value"].(string)
}

// Given a repository holding Tekton's Task and Pipeline CRDs, a Task and a
// Pipeline (without a namespace), and a Namespace with a ConfigMap in it, one
// sync applies it all, definitions first; a later commit changing the
// Pipeline updates it.
func TestCRDsAndTheirInstancesSyncInOneSet(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	repo := testgit.Start(t).NewRepo(t, "ci.git")
	repo.Commit(t, map[string]string{
		"crds.yaml":      tektonFile(t, "crds.yaml"),
		"namespace.yaml": sprintf(tektonFile(t, "namespace.yaml"), ns),
		"settings.yaml":  sprintf(tektonFile(t, "settings.yaml"), ns),
		"task.yaml":      tektonFile(t, "task.yaml"),
		"pipeline.yaml":  sprintf(tektonFile(t, "pipeline.yaml"), "registry.example/app:1"),
	}, "tekton")
	cs := newConfigSync(ns, "ci", repo.URL, "")
	cs.Spec.Prune = true // so that deleting it at the end removes the CRDs
	g.Expect(k8s.Create(ctx, cs)).To(Succeed())
	pruneAtCleanup(t, ns, "ci", &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: "tasks.tekton.dev"}},
		&apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: "pipelines.tekton.dev"}})

	g.Eventually(func(g Gomega) {
		cs := getConfigSync(g, ns, "ci")
		g.Expect(condition(cs, configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue), condition(cs, configsv1.ConditionReady).Message)
		g.Expect(cs.Status.AppliedTargets).To(BeEquivalentTo(6))
		g.Expect(pipelineImage(g, ns)).To(Equal("registry.example/app:1"))
		g.Expect(configMapData(g, "ci-"+ns, "ci-settings")).To(HaveKeyWithValue("retries", "3"))
	}, timeout).Should(Succeed())
	task := &unstructured.Unstructured{}
	task.SetAPIVersion("tekton.dev/v1")
	task.SetKind("Task")
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "build"}, task)).To(Succeed(), "the Task got the ConfigSync's namespace")

	repo.Commit(t, map[string]string{"pipeline.yaml": sprintf(tektonFile(t, "pipeline.yaml"), "registry.example/app:2")}, "bump")
	requestReconcile(t, ns, "ci")
	g.Eventually(func(g Gomega) {
		g.Expect(pipelineImage(g, ns)).To(Equal("registry.example/app:2"))
	}, timeout).Should(Succeed())
}
