package controllers_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/testgit"
)

// Given a ConfigSync that synced blue, then green: rolling back to
// "previous" restores blue and holds it even when a new commit arrives and a
// sync runs; rolling back to green's SHA restores green; removing the
// rollback follows the branch again.
func TestRollbackHoldsUntilRemoved(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	repo := testgit.Start(t).NewRepo(t, "app.git")
	blue := repo.Commit(t, map[string]string{"cm.yaml": configMap("app-config", "blue")}, "blue")
	g.Expect(k8s.Create(ctx, newConfigSync(ns, "app", repo.URL, ""))).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(getConfigSync(g, ns, "app").Status.SourceRevision).To(HaveSuffix(blue))
	}, timeout).Should(Succeed())
	green := repo.Commit(t, map[string]string{"cm.yaml": configMap("app-config", "green")}, "green")
	requestReconcile(t, ns, "app")
	g.Eventually(func(g Gomega) {
		g.Expect(configMapData(g, ns, "app-config")).To(HaveKeyWithValue("color", "green"))
	}, timeout).Should(Succeed())

	setRollback(t, ns, "app", &configsv1.Rollback{ToRevision: "previous"})
	g.Eventually(func(g Gomega) {
		g.Expect(configMapData(g, ns, "app-config")).To(HaveKeyWithValue("color", "blue"))
		cs := getConfigSync(g, ns, "app")
		g.Expect(cs.Status.SourceRevision).To(HaveSuffix(blue))
		g.Expect(cs.Status.RolledBackTo).To(Equal(blue))
		ready := condition(cs, configsv1.ConditionReady)
		g.Expect(ready.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(ready.Reason).To(Equal(configsv1.ReasonRolledBack))
		g.Expect(cs.Status.History[0].Result).To(Equal(configsv1.HistoryRolledBack))
		g.Expect(events(g, ns)).To(haveEvent(corev1.EventTypeNormal, configsv1.ReasonRolledBack, ContainSubstring(blue)))
	}, timeout).Should(Succeed())

	red := repo.Commit(t, map[string]string{"cm.yaml": configMap("app-config", "red")}, "red")
	requestReconcile(t, ns, "app")
	waitForHandledRequest(g, ns, "app")
	g.Expect(configMapData(g, ns, "app-config")).To(HaveKeyWithValue("color", "blue"), "the rollback holds against new commits")
	g.Expect(getConfigSync(g, ns, "app").Status.SourceRevision).To(HaveSuffix(blue))

	setRollback(t, ns, "app", &configsv1.Rollback{ToRevision: green[:10]})
	g.Eventually(func(g Gomega) {
		g.Expect(configMapData(g, ns, "app-config")).To(HaveKeyWithValue("color", "green"))
		g.Expect(getConfigSync(g, ns, "app").Status.RolledBackTo).To(Equal(green))
	}, timeout).Should(Succeed())

	setRollback(t, ns, "app", nil)
	g.Eventually(func(g Gomega) {
		g.Expect(configMapData(g, ns, "app-config")).To(HaveKeyWithValue("color", "red"))
		cs := getConfigSync(g, ns, "app")
		g.Expect(cs.Status.SourceRevision).To(Equal(red))
		g.Expect(cs.Status.RolledBackTo).To(BeEmpty())
		g.Expect(condition(cs, configsv1.ConditionReady).Reason).To(Equal(configsv1.ReasonSucceeded))
	}, timeout).Should(Succeed())

	setRollback(t, ns, "app", &configsv1.Rollback{ToRevision: "0123456"})
	g.Eventually(func(g Gomega) {
		stalled := condition(getConfigSync(g, ns, "app"), configsv1.ConditionStalled)
		g.Expect(stalled.Reason).To(Equal(configsv1.ReasonRevisionNotFound))
		g.Expect(stalled.Message).To(ContainSubstring("not in status.history"))
	}, timeout).Should(Succeed())
	g.Expect(configMapData(g, ns, "app-config")).To(HaveKeyWithValue("color", "red"))
}
