package controllers_test

import (
	"context"
	"os"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/testgit"
	"github.com/configsync/configsync/source"
)

// exampleURL is the repository URL written in examples/requirements-example.
const exampleURL = "http://127.0.0.1:8080/myorg/configs.git"

// Given the requirements' example ConfigSync applied as written (`repo`,
// `revision: main`, a plain file into a ConfigMap), only its URL pointing
// at our Git server: ConfigMap default/app-config holds the file, the
// ConfigSync is Ready with the commit's SHA as sourceRevision, and a new
// commit on main is followed.
func TestTheRequirementsExampleWorksAsWritten(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	manifest, err := os.ReadFile("../examples/requirements-example/configsync.yaml")
	g.Expect(err).NotTo(HaveOccurred())
	file, err := os.ReadFile("../examples/requirements-example/repo/config/app.yaml")
	g.Expect(err).NotTo(HaveOccurred())

	repo := testgit.Start(t).NewRepo(t, "myorg/configs.git")
	first := repo.Commit(t, map[string]string{"config/app.yaml": string(file)}, "first")
	g.Expect(strings.Count(string(manifest), exampleURL)).To(Equal(1))
	obj := &unstructured.Unstructured{}
	g.Expect(yaml.Unmarshal([]byte(strings.Replace(string(manifest), exampleURL, repo.URL, 1)), &obj.Object)).To(Succeed())
	obj.SetNamespace("default") // kubectl apply's namespace for a manifest that names none
	g.Expect(k8s.Create(ctx, obj)).To(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), obj) })

	syncedAt := func(sha, content string) func(g Gomega) {
		return func(g Gomega) {
			cm := &corev1.ConfigMap{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: "default", Name: "app-config"}, cm)).To(Succeed())
			g.Expect(cm.Data).To(Equal(map[string]string{"app.yaml": content}))
			cs := getConfigSync(g, "default", "example-sync")
			g.Expect(condition(cs, configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
			g.Expect(cs.Status.SourceRevision).To(Equal(sha))
			g.Expect(cs.Status.SourceRef).To(Equal("refs/heads/main"))
		}
	}
	g.Eventually(syncedAt(first, string(file)), timeout).Should(Succeed())

	changed := strings.Replace(string(file), "log_level: info", "log_level: debug", 1)
	second := repo.Commit(t, map[string]string{"config/app.yaml": changed}, "second")
	n, err := reconciler.TriggerPush(ctx, "", map[string]bool{source.NormalizeURL(repo.URL): true}, []string{"main"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(n).To(Equal(1), "a push to main reaches the ConfigSync whose revision is main")
	g.Eventually(syncedAt(second, changed), timeout).Should(Succeed())
}
