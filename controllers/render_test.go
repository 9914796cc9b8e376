package controllers_test

import (
	"context"
	"os"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/testgit"
)

// Given a repository whose prod values are SOPS-encrypted, a ConfigSync that
// decrypts them and renders templates for the prod environment lands the
// decrypted, rendered Secret and ConfigMap; values come from the repository,
// its prod overlay and a ConfigMap in the cluster.
func TestSopsThenTemplateLandsDecryptedObjects(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	repo := testgit.Start(t).NewRepo(t, "billing.git")
	repo.Commit(t, fixtureFiles(t, "sops-template/repo"), "billing config")
	key, err := os.ReadFile("../testdata/e2e/sops-template/age.agekey")
	g.Expect(err).NotTo(HaveOccurred())
	registerSecret("pr0d-s3cret", strings.TrimSpace(lastLine(string(key))))
	createSecret(t, ns, "sops-age", map[string]string{"billing.agekey": string(key)})
	g.Expect(k8s.Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "team-values"},
		Data:       map[string]string{"values.yaml": "team: payments\n"},
	})).To(Succeed())

	g.Expect(k8s.Create(ctx, sopsThenTemplate(ns, "billing", repo.URL, "sops-age"))).To(Succeed())

	g.Eventually(func(g Gomega) {
		secret := &corev1.Secret{}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "billing-db"}, secret)).To(Succeed())
		g.Expect(string(secret.Data["DB_PASSWORD"])).To(Equal("pr0d-s3cret"))
		g.Expect(string(secret.Data["DB_USER"])).To(Equal("billing"))
		g.Expect(configMapData(g, ns, "billing-config")).To(Equal(map[string]string{
			"LOG_LEVEL": "warn", "DB_HOST": "db.prod.internal", "OWNER": "payments",
		}))
		g.Expect(condition(getConfigSync(g, ns, "billing"), configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
	}, timeout).Should(Succeed())
	assertNoLeak(g, ns, "billing", "pr0d-s3cret")
}

// Bad render input applies nothing and says which step and file failed: a
// wrong SOPS key, and a template that uses a value nobody defined.
func TestRenderFailuresApplyNothing(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	repo := testgit.Start(t).NewRepo(t, "billing.git")
	files := fixtureFiles(t, "sops-template/repo")
	repo.Commit(t, files, "billing config")
	g := NewWithT(t)
	other, err := os.ReadFile("../testdata/renderers/sops-wrong-key/other.agekey")
	g.Expect(err).NotTo(HaveOccurred())
	createSecret(t, ns, "wrong-key", map[string]string{"other.agekey": string(other)})
	g.Expect(k8s.Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "team-values"},
		Data:       map[string]string{"values.yaml": "team: payments\n"},
	})).To(Succeed())
	g.Expect(k8s.Create(ctx, sopsThenTemplate(ns, "wrong-key", repo.URL, "wrong-key"))).To(Succeed())

	key, err := os.ReadFile("../testdata/e2e/sops-template/age.agekey")
	g.Expect(err).NotTo(HaveOccurred())
	createSecret(t, ns, "right-key", map[string]string{"billing.agekey": string(key)})
	missing := repo.URL
	repo.Commit(t, map[string]string{"extra.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\ndata: {x: {{ .undefined }}}\n"}, "uses an undefined value")
	g.Expect(k8s.Create(ctx, sopsThenTemplate(ns, "missing-key", missing, "right-key"))).To(Succeed())

	for name, want := range map[string]string{
		"wrong-key":   "render step 1 (sops): decrypt values-prod.yaml",
		"missing-key": `render step 2 (template): execute: template: extra.yaml:4:13: executing "extra.yaml" at <.undefined>`,
	} {
		g.Eventually(func(g Gomega) {
			cs := getConfigSync(g, ns, name)
			stalled := condition(cs, configsv1.ConditionStalled)
			g.Expect(stalled.Reason).To(Equal(configsv1.ReasonRenderFailed))
			g.Expect(stalled.Message).To(ContainSubstring(want))
		}, timeout).Should(Succeed(), name)
	}
	for _, obj := range []string{"billing-db", "billing-config", "extra"} {
		err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: obj}, &corev1.ConfigMap{})
		g.Expect(err).To(HaveOccurred(), obj+" must not be applied")
	}
}

// A Helm step sees the target cluster's Capabilities: its version and the
// APIs it serves, not Helm's built-in defaults.
func TestHelmSeesTheClusterCapabilities(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	repo := testgit.Start(t).NewRepo(t, "chart.git")
	repo.Commit(t, map[string]string{
		"chart/Chart.yaml": "apiVersion: v2\nname: caps\nversion: 0.1.0\n",
		"chart/templates/cm.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-caps
data:
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
  apps: {{ .Capabilities.APIVersions.Has "apps/v1" | quote }}
  configs: {{ .Capabilities.APIVersions.Has "configs.example.io/v1alpha1" | quote }}
  nothere: {{ .Capabilities.APIVersions.Has "nothere.example.com/v1" | quote }}
`,
	}, "chart")
	cs := newConfigSync(ns, "caps", repo.URL, "")
	cs.Spec.Render = []configsv1.RenderStep{{Helm: &configsv1.HelmStep{Chart: "chart", ReleaseName: "probe"}}}
	g.Expect(k8s.Create(ctx, cs)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(configMapData(g, ns, "probe-caps")).To(Equal(map[string]string{
			"kube": "v1.37.2", "apps": "true", "configs": "true", "nothere": "false",
		}))
	}, timeout).Should(Succeed())
}

// A template that draws a random value renders once per commit and inputs:
// resyncs reuse the render and leave the cluster alone, while a change of a
// valuesFrom ConfigMap renders again.
func TestResyncsReuseTheRenderUntilItsInputsChange(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	repo := testgit.Start(t).NewRepo(t, "app.git")
	repo.Commit(t, map[string]string{
		"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: drawn}\ndata:\n  token: {{ randAlphaNum 16 | quote }}\n  team: {{ .team | quote }}\n",
	}, "random")
	values := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "team-values"}, Data: map[string]string{"values.yaml": "team: payments\n"}}
	g.Expect(k8s.Create(ctx, values)).To(Succeed())
	cs := newConfigSync(ns, "app", repo.URL, "")
	cs.Spec.Render = []configsv1.RenderStep{{Template: &configsv1.TemplateStep{
		ValuesFrom: []configsv1.ValuesReference{{Kind: "ConfigMap", Name: "team-values"}},
	}}}
	g.Expect(k8s.Create(ctx, cs)).To(Succeed())
	var first string
	g.Eventually(func(g Gomega) {
		data := configMapData(g, ns, "drawn")
		g.Expect(data).To(HaveKeyWithValue("team", "payments"))
		first = data["token"]
	}, timeout).Should(Succeed())

	for range 2 {
		requestReconcile(t, ns, "app")
		waitForHandledRequest(g, ns, "app")
		g.Expect(configMapData(g, ns, "drawn")).To(HaveKeyWithValue("token", first), "a resync rendered again")
	}

	patchObject(t, client.ObjectKey{Namespace: ns, Name: "team-values"}, &corev1.ConfigMap{}, func(cm *corev1.ConfigMap) {
		cm.Data["values.yaml"] = "team: billing\n"
	})
	requestReconcile(t, ns, "app")
	g.Eventually(func(g Gomega) {
		data := configMapData(g, ns, "drawn")
		g.Expect(data).To(HaveKeyWithValue("team", "billing"))
		g.Expect(data["token"]).NotTo(Equal(first))
	}, timeout).Should(Succeed())
}
