package controllers_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/testgit"
	"github.com/configsync/configsync/prune"
)

func patchConfigMap(t *testing.T, ns, name string, mutate func(*corev1.ConfigMap)) {
	t.Helper()
	patchObject(t, client.ObjectKey{Namespace: ns, Name: name}, &corev1.ConfigMap{}, mutate)
}

// Given four synced ConfigMaps with prune on, a commit that removes all of
// them from Git deletes the one that is plainly ours, and leaves the one
// annotated prune-disabled and the one that lost our labels; an empty render
// without allowEmpty deletes nothing and says why.
func TestPruneDeletesOnlyWhatIsStillOurs(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	repo := testgit.Start(t).NewRepo(t, "app.git")
	repo.Commit(t, map[string]string{
		"keep.yaml":    configMap("keep", "blue"),
		"removed.yaml": configMap("removed", "blue"),
		"optout.yaml":  configMap("optout", "blue"),
		"adopted.yaml": configMap("adopted", "blue"),
		"other/x.yaml": configMap("unrelated", "blue"),
	}, "five")
	cs := newConfigSync(ns, "app", repo.URL, "")
	cs.Spec.Prune = true
	g.Expect(k8s.Create(ctx, cs)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(getConfigSync(g, ns, "app").Status.Inventory).To(HaveLen(5))
	}, timeout).Should(Succeed())

	patchConfigMap(t, ns, "optout", func(cm *corev1.ConfigMap) {
		cm.Annotations = map[string]string{prune.AnnotationPrune: "disabled"}
	})
	patchConfigMap(t, ns, "adopted", func(cm *corev1.ConfigMap) { delete(cm.Labels, configsv1.LabelName) })

	sha := repo.Commit(t, map[string]string{"removed.yaml": "", "optout.yaml": "", "adopted.yaml": "", "other/x.yaml": ""}, "remove four")
	requestReconcile(t, ns, "app")
	g.Eventually(func(g Gomega) {
		cs := getConfigSync(g, ns, "app")
		g.Expect(cs.Status.SourceRevision).To(Equal(sha))
		g.Expect(cs.Status.Inventory).To(HaveLen(1))
		configMapGone(g, ns, "removed")
		configMapGone(g, ns, "unrelated")
		g.Expect(events(g, ns)).To(haveEvent(corev1.EventTypeNormal, "Pruned",
			And(ContainSubstring("ConfigMap/"+ns+"/removed"), ContainSubstring("ConfigMap/"+ns+"/unrelated"), Not(ContainSubstring("optout")))))
	}, timeout).Should(Succeed())
	g.Expect(configMapData(g, ns, "optout")).To(HaveKeyWithValue("color", "blue"), "prune-disabled survives")
	g.Expect(configMapData(g, ns, "adopted")).To(HaveKeyWithValue("color", "blue"), "an object without our labels survives")
	g.Expect(configMapData(g, ns, "keep")).To(HaveKeyWithValue("color", "blue"))

	// A broken commit that renders nothing must not wipe what is left.
	repo.Commit(t, map[string]string{"keep.yaml": "", "README.md": "moved elsewhere\n"}, "empty")
	requestReconcile(t, ns, "app")
	g.Eventually(func(g Gomega) {
		stalled := condition(getConfigSync(g, ns, "app"), configsv1.ConditionStalled)
		g.Expect(stalled.Reason).To(Equal(configsv1.ReasonInvalidManifest))
		g.Expect(stalled.Message).To(ContainSubstring("set allowEmpty"))
	}, timeout).Should(Succeed())
	g.Expect(configMapData(g, ns, "keep")).To(HaveKeyWithValue("color", "blue"), "an empty render deletes nothing")
}

// Deleting a ConfigSync with prune on removes its objects, then the
// finalizer; with prune off its objects stay, without our labels.
func TestDeletingAConfigSyncPrunesOrOrphans(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	repo := testgit.Start(t).NewRepo(t, "app.git")
	repo.Commit(t, map[string]string{
		"pruned/cm.yaml":   configMap("pruned-on-delete", "blue"),
		"orphaned/cm.yaml": configMap("orphaned-on-delete", "blue"),
	}, "two")
	withPrune := newConfigSync(ns, "with-prune", repo.URL, "pruned")
	withPrune.Spec.Prune = true
	g.Expect(k8s.Create(ctx, withPrune)).To(Succeed())
	g.Expect(k8s.Create(ctx, newConfigSync(ns, "without-prune", repo.URL, "orphaned"))).To(Succeed())
	for _, name := range []string{"with-prune", "without-prune"} {
		g.Eventually(func(g Gomega) {
			cs := getConfigSync(g, ns, name)
			g.Expect(cs.Finalizers).To(ContainElement(configsv1.Finalizer))
			g.Expect(condition(cs, configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		}, timeout).Should(Succeed())
	}

	for _, name := range []string{"with-prune", "without-prune"} {
		g.Expect(k8s.Delete(ctx, &configsv1.ConfigSync{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})).To(Succeed())
	}
	g.Eventually(func(g Gomega) {
		for _, name := range []string{"with-prune", "without-prune"} {
			err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &configsv1.ConfigSync{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%s should be gone", name)
		}
		configMapGone(g, ns, "pruned-on-delete")
	}, timeout).Should(Succeed())
	cm := &corev1.ConfigMap{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "orphaned-on-delete"}, cm)).To(Succeed())
	g.Expect(cm.Labels).NotTo(HaveKey(configsv1.LabelName))
	g.Expect(cm.Labels).NotTo(HaveKey(configsv1.LabelNamespace))
}
