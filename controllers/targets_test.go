package controllers_test

import (
	"context"

	"github.com/google/go-cmp/cmp"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/desired"
	"github.com/configsync/configsync/internal/testgit"
	"github.com/configsync/configsync/source"
)

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  labels: {tier: %s}
spec:
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      containers:
      - name: app
        image: registry.example/app:1.0
`

func deploymentDigest(g Gomega, ns string) string {
	d := &appsv1.Deployment{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "app"}, d)).To(Succeed())
	return d.Spec.Template.Annotations[desired.AnnotationConfigDigest]
}

// Given a repository holding a plain app.yaml (no manifest) and a Deployment,
// a ConfigSync with a ConfigMap target, a Secret target and the Deployment
// target syncs the file into both as data, and the Deployment's pods roll
// (the pod template's config digest changes) when the file changes, and only then.
func TestPlainFilesBecomeConfigMapsAndRollTheDeployment(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	repo := testgit.Start(t).NewRepo(t, "app.git")
	repo.Commit(t, map[string]string{
		"config/app.yaml":        "color: blue\nsize: 3\n",
		"config/deployment.yaml": sprintf(deployment, "web"),
	}, "first")
	cs := newConfigSync(ns, "app", repo.URL, "config")
	cs.Spec.Targets = []configsv1.Target{
		{Type: configsv1.TargetConfigMap, Name: "app-config"},
		{Type: configsv1.TargetSecret, Name: "app-secret"},
		{Type: configsv1.TargetDeployment, Name: "app"},
	}
	g.Expect(k8s.Create(ctx, cs)).To(Succeed())

	var first string
	g.Eventually(func(g Gomega) {
		g.Expect(configMapData(g, ns, "app-config")).To(Equal(map[string]string{"app.yaml": "color: blue\nsize: 3\n"}))
		secret := &corev1.Secret{}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-secret"}, secret)).To(Succeed())
		g.Expect(string(secret.Data["app.yaml"])).To(Equal("color: blue\nsize: 3\n"))
		first = deploymentDigest(g, ns)
		g.Expect(first).To(HavePrefix("sha256:"))
		g.Expect(getConfigSync(g, ns, "app").Status.AppliedTargets).To(BeEquivalentTo(3))
	}, timeout).Should(Succeed())

	// A change to the Deployment alone does not roll it for config.
	sha := repo.Commit(t, map[string]string{"config/deployment.yaml": sprintf(deployment, "frontend")}, "relabel")
	requestReconcile(t, ns, "app")
	g.Eventually(func(g Gomega) {
		g.Expect(getConfigSync(g, ns, "app").Status.SourceRevision).To(HaveSuffix(sha))
	}, timeout).Should(Succeed())
	g.Expect(deploymentDigest(g, ns)).To(Equal(first))

	// A change to the config file rolls it.
	repo.Commit(t, map[string]string{"config/app.yaml": "color: green\nsize: 3\n"}, "green")
	requestReconcile(t, ns, "app")
	g.Eventually(func(g Gomega) {
		g.Expect(configMapData(g, ns, "app-config")).To(HaveKeyWithValue("app.yaml", "color: green\nsize: 3\n"))
		g.Expect(deploymentDigest(g, ns)).NotTo(Equal(first))
	}, timeout).Should(Succeed())
}

// A ConfigSync of 1,200 objects lists 1,000 of them in status.targets (so
// its status stays storable), counts all in appliedTargets and keeps all in
// its inventory; a resync still writes nothing.
func TestALargeSetListsAThousandTargets(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	repo := testgit.Start(t).NewRepo(t, "many.git")
	repo.Commit(t, map[string]string{
		"many.yaml": "{{ range $i := until 1200 }}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ printf \"cm-%04d\" $i }}}\n{{ end }}",
	}, "1,200 ConfigMaps")
	cs := newConfigSync(ns, "many", repo.URL, "")
	cs.Spec.Render = []configsv1.RenderStep{{Template: &configsv1.TemplateStep{}}}
	g.Expect(k8s.Create(ctx, cs)).To(Succeed())
	g.Eventually(func(g Gomega) {
		cs := getConfigSync(g, ns, "many")
		g.Expect(condition(cs, configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(cs.Status.AppliedTargets).To(BeEquivalentTo(1200))
		g.Expect(cs.Status.Inventory).To(HaveLen(1200))
		g.Expect(cs.Status.Targets).To(HaveLen(1000))
	}, 2*timeout).Should(Succeed())

	before := getConfigSync(g, ns, "many")
	rv := before.ResourceVersion
	done := reconciles(g)
	_, err := reconciler.TriggerPush(ctx, "", map[string]bool{source.NormalizeURL(repo.URL): true}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func() float64 { return reconciles(g) }, timeout).Should(BeNumerically(">", done))
	g.Consistently(func(g Gomega) {
		after := getConfigSync(g, ns, "many")
		if after.ResourceVersion != rv { // say what the write changed
			t.Logf("status (-before +after): %s\nmetadata (-before +after): %s", cmp.Diff(before.Status, after.Status), cmp.Diff(before.ObjectMeta, after.ObjectMeta))
		}
		g.Expect(after.ResourceVersion).To(Equal(rv))
	}, time.Second, 100*time.Millisecond).Should(Succeed(), "a resync of the same set wrote the status")
}
