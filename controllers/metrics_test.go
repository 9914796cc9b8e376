package controllers_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/testgit"
)

// A synced ConfigSync shows in the manager's metrics: its Ready condition,
// its last sync time, reconcile and phase durations, objects created and the
// fetch; when it is deleted, its own series go.
func TestMetricsDescribeSyncs(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	repo := testgit.Start(t).NewRepo(t, "app.git")
	repo.Commit(t, map[string]string{"cm.yaml": configMap("metered", "blue")}, "first")
	g.Expect(k8s.Create(ctx, newConfigSync(ns, "metered", repo.URL, ""))).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(condition(getConfigSync(g, ns, "metered"), configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		ready := series(g, "configsync_condition", map[string]string{"namespace": ns, "name": "metered", "type": "Ready", "status": "True"})
		g.Expect(ready).To(HaveLen(1))
		g.Expect(ready[0].GetGauge().GetValue()).To(Equal(1.0))
		notReady := series(g, "configsync_condition", map[string]string{"namespace": ns, "name": "metered", "status": "False"})
		g.Expect(notReady).To(HaveLen(1))
		g.Expect(notReady[0].GetGauge().GetValue()).To(Equal(0.0))
		last := series(g, "configsync_last_sync_timestamp_seconds", map[string]string{"namespace": ns, "name": "metered"})
		g.Expect(last).To(HaveLen(1))
		g.Expect(last[0].GetGauge().GetValue()).To(BeNumerically(">", 0))
	}, timeout).Should(Succeed())

	g.Expect(series(g, "configsync_reconcile_duration_seconds", map[string]string{"result": "Succeeded"})).NotTo(BeEmpty())
	for _, phase := range []string{"fetch", "render", "decode", "apply", "prune"} {
		g.Expect(series(g, "configsync_phase_duration_seconds", map[string]string{"phase": phase})).NotTo(BeEmpty(), phase)
	}
	created := series(g, "configsync_objects_total", map[string]string{"action": "created"})
	g.Expect(created).To(HaveLen(1))
	g.Expect(created[0].GetCounter().GetValue()).To(BeNumerically(">=", 1))
	g.Expect(series(g, "configsync_source_fetch_duration_seconds", map[string]string{"result": "Success"})).NotTo(BeEmpty())

	g.Expect(k8s.Delete(ctx, &configsv1.ConfigSync{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "metered"}})).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(series(g, "configsync_condition", map[string]string{"namespace": ns, "name": "metered"})).To(BeEmpty())
	}, timeout).Should(Succeed())
}

// Someone removed the operator's finalizer by hand, then deleted the
// ConfigSync: it is gone at once, with no finalize step, and its series go
// all the same.
func TestAConfigSyncDeletedWithoutItsFinalizerLeavesTheMetrics(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	repo := testgit.Start(t).NewRepo(t, "app.git")
	repo.Commit(t, map[string]string{"cm.yaml": configMap("unguarded", "blue")}, "first")
	g.Expect(k8s.Create(ctx, newConfigSync(ns, "unguarded", repo.URL, ""))).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(condition(getConfigSync(g, ns, "unguarded"), configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(series(g, "configsync_condition", map[string]string{"namespace": ns, "name": "unguarded"})).NotTo(BeEmpty())
	}, timeout).Should(Succeed())

	cs := getConfigSync(g, ns, "unguarded")
	unguarded := cs.DeepCopy()
	unguarded.Finalizers = nil
	g.Expect(k8s.Patch(ctx, unguarded, client.MergeFrom(cs))).To(Succeed())
	g.Expect(k8s.Delete(ctx, unguarded)).To(Succeed())
	g.Eventually(func(g Gomega) {
		err := k8s.Get(ctx, client.ObjectKeyFromObject(cs), &configsv1.ConfigSync{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the ConfigSync is gone: %v", err)
		g.Expect(series(g, "configsync_condition", map[string]string{"namespace": ns, "name": "unguarded"})).To(BeEmpty())
		g.Expect(series(g, "configsync_last_sync_timestamp_seconds", map[string]string{"namespace": ns, "name": "unguarded"})).To(BeEmpty())
	}, timeout).Should(Succeed())
}
