package controllers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/testgit"
	"github.com/configsync/configsync/source"
)

// tenConfigMaps is a repository of ten ConfigMaps, cm-0 to cm-9.
func tenConfigMaps() map[string]string {
	files := map[string]string{}
	for i := range 10 {
		files[fmt.Sprintf("cm-%d.yaml", i)] = configMap(fmt.Sprintf("cm-%d", i), "blue")
	}
	return files
}

// Given ten synced ConfigMaps, resyncs that find nothing to change send no
// write request for them (the apiserver's own counter says so); a field
// someone edits by hand is put back by the next sync.
func TestNoOpResyncWritesNothingAndDriftIsCorrected(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	repo := testgit.Start(t).NewRepo(t, "app.git")
	repo.Commit(t, tenConfigMaps(), "ten")
	g.Expect(k8s.Create(ctx, newConfigSync(ns, "app", repo.URL, ""))).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(getConfigSync(g, ns, "app").Status.AppliedTargets).To(BeEquivalentTo(10))
	}, timeout).Should(Succeed())

	// A push event makes it resync without any write of its own (no
	// annotation): neither the objects nor the ConfigSync's status may be
	// written. Other tests may write meanwhile: run rounds until one sees
	// no other writer, which proves ours wrote nothing.
	repos := map[string]bool{source.NormalizeURL(repo.URL): true}
	// The first resync after the sync that created everything is the one
	// that would notice "0 created, 10 unchanged": the ConfigSync's
	// resourceVersion proves its status was not written.
	rv := getConfigSync(g, ns, "app").ResourceVersion
	done := reconciles(g)
	_, err := reconciler.TriggerPush(ctx, "", repos, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func() float64 { return reconciles(g) }, timeout).Should(BeNumerically(">", done))
	g.Consistently(func(g Gomega) {
		g.Expect(getConfigSync(g, ns, "app").ResourceVersion).To(Equal(rv))
	}, time.Second, 100*time.Millisecond).Should(Succeed())
	// Nor do they dry-run the objects: their metadata (one LIST) shows
	// nobody wrote them since the last apply.
	g.Eventually(func(g Gomega) {
		before := writeRequests(g, "configmaps") + writeRequests(g, "configsyncs") + dryRunRequests(g, "configmaps")
		for range 3 {
			done := reconciles(g)
			n, err := reconciler.TriggerPush(ctx, "", repos, nil)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(n).To(Equal(1))
			g.Eventually(func() float64 { return reconciles(g) }, timeout).Should(BeNumerically(">", done))
		}
		g.Expect(writeRequests(g, "configmaps") + writeRequests(g, "configsyncs") + dryRunRequests(g, "configmaps") - before).To(BeZero())
	}, timeout).Should(Succeed())

	cm := &corev1.ConfigMap{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "cm-3"}, cm)).To(Succeed())
	cm.Data["color"] = "hand-edited"
	g.Expect(k8s.Update(ctx, cm)).To(Succeed())
	requestReconcile(t, ns, "app")
	g.Eventually(func(g Gomega) {
		g.Expect(configMapData(g, ns, "cm-3")).To(HaveKeyWithValue("color", "blue"))
	}, timeout).Should(Succeed())
}

// statusWritesUntilReady creates cs and follows its status through a watch
// until it is Ready: how many times the status changed, the Reconciling
// messages it showed on the way, and how long the sync took.
func statusWritesUntilReady(t *testing.T, cs *configsv1.ConfigSync) (writes int, progress []string, took time.Duration) {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	wc, err := client.NewWithWatch(restConfig, client.Options{Scheme: testScheme})
	g.Expect(err).NotTo(HaveOccurred())
	w, err := wc.Watch(ctx, &configsv1.ConfigSyncList{}, client.InNamespace(cs.Namespace))
	g.Expect(err).NotTo(HaveOccurred())
	defer w.Stop()
	g.Expect(k8s.Create(ctx, cs)).To(Succeed())

	last := configsv1.ConfigSyncStatus{}
	deadline := time.After(timeout)
	for {
		var got *configsv1.ConfigSync
		select {
		case ev := <-w.ResultChan():
			got, _ = ev.Object.(*configsv1.ConfigSync)
		case <-deadline:
			t.Fatalf("not Ready after %s; %d status writes", timeout, writes)
		}
		if got == nil || got.Name != cs.Name || equality.Semantic.DeepEqual(got.Status, last) {
			continue
		}
		writes++
		last = got.Status
		if r := condition(got, configsv1.ConditionReconciling); r.Status == metav1.ConditionTrue {
			progress = append(progress, r.Message)
		}
		if condition(got, configsv1.ConditionReady).Status == metav1.ConditionTrue {
			return writes, progress, got.Status.History[0].Duration.Duration
		}
	}
}

// A new ConfigSync whose sync is quick has its status written once, with
// the result: progress is patched at most once a second, as each status
// write of a custom resource costs the apiserver several times an apply.
func TestAQuickSyncWritesItsStatusOnce(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	repo := testgit.Start(t).NewRepo(t, "app.git")
	repo.Commit(t, tenConfigMaps(), "ten")
	// Another ConfigSync has the commit downloaded already, as in a fleet
	// on one repository (a download is announced: see the next test).
	warm := newNamespace(t)
	g.Expect(k8s.Create(ctx, newConfigSync(warm, "app", repo.URL, ""))).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(condition(getConfigSync(g, warm, "app"), configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
	}, timeout).Should(Succeed())

	writes, _, took := statusWritesUntilReady(t, newConfigSync(newNamespace(t), "app", repo.URL, ""))
	// Under load a sync may take longer than a second, and then it shows
	// its progress: one write per second it took.
	g.Expect(writes).To(BeNumerically("<=", 1+int(took/time.Second)), "the sync took %s", took)
}

// A new ConfigSync whose commit must be downloaded says so while it
// downloads, however quick the rest is.
func TestADownloadIsShownAsItStarts(t *testing.T) {
	g := NewWithT(t)
	repo := testgit.Start(t).NewRepo(t, "app.git")
	repo.Commit(t, tenConfigMaps(), "ten")
	_, progress, _ := statusWritesUntilReady(t, newConfigSync(newNamespace(t), "app", repo.URL, ""))
	g.Expect(progress).To(ContainElement(HavePrefix("downloading http://")))
}

// A field another applier took over is a conflict, reported as such; with
// force the ConfigSync takes the field back.
func TestConflictWithAnotherApplierIsReportedUnlessForced(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	repo := testgit.Start(t).NewRepo(t, "app.git")
	repo.Commit(t, map[string]string{"cm.yaml": configMap("shared", "blue")}, "first")
	g.Expect(k8s.Create(ctx, newConfigSync(ns, "app", repo.URL, ""))).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(configMapData(g, ns, "shared")).To(HaveKeyWithValue("color", "blue"))
	}, timeout).Should(Succeed())

	other := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "shared", "namespace": ns},
		"data":     map[string]any{"color": "red"},
	}}
	g.Expect(k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(other), client.FieldOwner("other-tool"), client.ForceOwnership)).To(Succeed())
	requestReconcile(t, ns, "app")
	g.Eventually(func(g Gomega) {
		degraded := condition(getConfigSync(g, ns, "app"), configsv1.ConditionDegraded)
		g.Expect(degraded.Reason).To(Equal(configsv1.ReasonDryRunFailed))
		g.Expect(degraded.Message).To(ContainSubstring(`conflict with "other-tool"`))
	}, timeout).Should(Succeed())
	g.Expect(configMapData(g, ns, "shared")).To(HaveKeyWithValue("color", "red"))

	patchObject(t, client.ObjectKey{Namespace: ns, Name: "app"}, &configsv1.ConfigSync{}, func(cs *configsv1.ConfigSync) {
		cs.Spec.Force = true
	})
	g.Eventually(func(g Gomega) {
		g.Expect(configMapData(g, ns, "shared")).To(HaveKeyWithValue("color", "blue"))
		g.Expect(condition(getConfigSync(g, ns, "app"), configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
	}, timeout).Should(Succeed())
}
