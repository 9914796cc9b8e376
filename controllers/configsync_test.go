package controllers_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/desired"
	"github.com/configsync/configsync/internal/testgit"
)

// Given a repository with a ConfigMap manifest served over smart HTTP and a
// ConfigSync pointing at it, the ConfigMap appears and the ConfigSync is Ready
// at the commit; a second commit changes the ConfigMap after a reconcile.
func TestSyncsAConfigMapFromGitAndFollowsNewCommits(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	repo := testgit.Start(t).NewRepo(t, "org/app.git")
	first := repo.Commit(t, map[string]string{
		"config/app.yaml": configMap("app-config", "blue"),
		"README.md":       "# app config\n",
	}, "blue")

	g.Expect(k8s.Create(ctx, newConfigSync(ns, "app", repo.URL, "config"))).To(Succeed())

	cm := &corev1.ConfigMap{}
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-config"}, cm)).To(Succeed())
		g.Expect(cm.Data).To(Equal(map[string]string{"color": "blue"}))
		cs := getConfigSync(g, ns, "app")
		g.Expect(condition(cs, configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(cs.Status.SourceRevision).To(Equal(first))
	}, timeout).Should(Succeed())

	cs := getConfigSync(g, ns, "app")
	g.Expect(cs.Status.ObservedGeneration).To(Equal(cs.Generation))
	g.Expect(cs.Status.SourcePath).To(Equal("config"))
	g.Expect(cs.Status.AppliedTargets).To(BeEquivalentTo(1))
	g.Expect(cs.Status.LastSyncedTime).NotTo(BeNil())
	g.Expect(cs.Status.Inventory).To(Equal([]configsv1.ObjectReference{{APIVersion: "v1", Kind: "ConfigMap", Namespace: ns, Name: "app-config"}}))
	g.Expect(cs.Status.History).To(HaveLen(1))
	g.Expect(cs.Status.History[0].Revision).To(Equal(first))
	g.Expect(cs.Status.History[0].Duration).NotTo(BeNil())
	g.Expect(condition(cs, configsv1.ConditionAvailable).Status).To(Equal(metav1.ConditionTrue))
	g.Expect(condition(cs, configsv1.ConditionDegraded).Status).To(Equal(metav1.ConditionFalse))
	g.Expect(condition(cs, configsv1.ConditionReady).Reason).To(Equal(configsv1.ReasonSucceeded))
	g.Expect(cm.Labels).To(HaveKeyWithValue(configsv1.LabelName, "app"))
	g.Expect(cm.Labels).To(HaveKeyWithValue(configsv1.LabelNamespace, ns))
	g.Expect(fieldManagers(cm)).To(ContainElement(desired.FieldOwnerFor(ns, "app")))
	g.Eventually(func(g Gomega) {
		events := &eventsv1.EventList{}
		g.Expect(k8s.List(ctx, events, client.InNamespace(ns))).To(Succeed())
		g.Expect(events.Items).To(ContainElement(And(
			HaveField("Type", corev1.EventTypeNormal),
			HaveField("Reason", "Synced"),
			HaveField("Note", ContainSubstring(first)))))
	}, timeout).Should(Succeed())

	second := repo.Commit(t, map[string]string{"config/app.yaml": configMap("app-config", "green")}, "green")
	requestReconcile(t, ns, "app")

	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-config"}, cm)).To(Succeed())
		g.Expect(cm.Data).To(Equal(map[string]string{"color": "green"}))
		cs := getConfigSync(g, ns, "app")
		g.Expect(cs.Status.SourceRevision).To(Equal(second))
		g.Expect(condition(cs, configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(cs.Status.History).To(HaveLen(2))
		g.Expect(cs.Status.History[0].Revision).To(Equal(second))
	}, timeout).Should(Succeed())
}

// Given a synced ConfigMap, a commit that changes it and adds an object the
// apiserver rejects applies nothing: the ConfigMap keeps its data, and the
// ConfigSync says Degraded with the apiserver's own message.
func TestOneDryRunFailureInTenAppliesNone(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	repo := testgit.Start(t).NewRepo(t, "app.git")
	good := repo.Commit(t, map[string]string{"app.yaml": configMap("app-config", "blue")}, "good")
	g.Expect(k8s.Create(ctx, newConfigSync(ns, "app", repo.URL, ""))).To(Succeed())
	g.Eventually(func(g Gomega) {
		cs := getConfigSync(g, ns, "app")
		g.Expect(cs.Status.SourceRevision).To(Equal(good))
	}, timeout).Should(Succeed())

	const badService = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 70000\n"
	// Ten objects: a changed ConfigMap, eight new ones, and one invalid Service.
	files := map[string]string{"app.yaml": configMap("app-config", "red"), "svc.yaml": badService}
	for i := range 8 {
		files[sprintf("new-%d.yaml", i)] = configMap(sprintf("new-%d", i), "red")
	}
	bad := repo.Commit(t, files, "bad")
	requestReconcile(t, ns, "app")

	g.Eventually(func(g Gomega) {
		cs := getConfigSync(g, ns, "app")
		degraded := condition(cs, configsv1.ConditionDegraded)
		g.Expect(degraded.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(degraded.Reason).To(Equal(configsv1.ReasonDryRunFailed))
		g.Expect(degraded.Message).To(ContainSubstring("Service/" + ns + "/web"))
		g.Expect(degraded.Message).To(ContainSubstring("must be between 1 and 65535"))
		g.Expect(condition(cs, configsv1.ConditionReady).Status).To(Equal(metav1.ConditionFalse))
		g.Expect(cs.Status.LastAttemptedRevision).To(Equal(bad))
	}, timeout).Should(Succeed())

	cs := getConfigSync(g, ns, "app")
	g.Expect(cs.Status.SourceRevision).To(Equal(good), "sourceRevision stays at the last applied commit")
	g.Expect(cs.Status.Targets).To(ContainElement(And(
		HaveField("Kind", "Service"), HaveField("Result", configsv1.TargetFailed))))
	g.Expect(cs.Status.Targets).To(ContainElement(And(
		HaveField("Name", "app-config"), HaveField("Result", configsv1.TargetPending))))

	cm := &corev1.ConfigMap{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-config"}, cm)).To(Succeed())
	g.Expect(cm.Data).To(Equal(map[string]string{"color": "blue"}), "the ConfigMap keeps its applied data")
	err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, &corev1.Service{})
	g.Expect(client.IgnoreNotFound(err)).To(Succeed())
	g.Expect(err).To(HaveOccurred(), "the rejected Service was not created")
	for i := range 8 {
		err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: sprintf("new-%d", i)}, &corev1.ConfigMap{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "new-%d must not be created when another object fails its dry-run", i)
	}

	g.Eventually(func(g Gomega) {
		events := &eventsv1.EventList{}
		g.Expect(k8s.List(ctx, events, client.InNamespace(ns))).To(Succeed())
		g.Expect(events.Items).To(ContainElement(And(
			HaveField("Type", corev1.EventTypeWarning),
			HaveField("Reason", configsv1.ReasonApplyFailed),
			HaveField("Note", And(HavePrefix(configsv1.ReasonDryRunFailed+": "), ContainSubstring("must be between 1 and 65535"))))))
	}, timeout).Should(Succeed())
}

// A path that does not exist at the commit is a configuration error: the
// ConfigSync stalls with PathNotFound instead of retrying in a hot loop.
func TestMissingPathStallsWithPathNotFound(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	repo := testgit.Start(t).NewRepo(t, "app.git")
	repo.Commit(t, map[string]string{"app.yaml": configMap("app-config", "blue")}, "first")
	g.Expect(k8s.Create(context.Background(), newConfigSync(ns, "app", repo.URL, "no/such/dir"))).To(Succeed())

	g.Eventually(func(g Gomega) {
		cs := getConfigSync(g, ns, "app")
		stalled := condition(cs, configsv1.ConditionStalled)
		g.Expect(stalled.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(stalled.Reason).To(Equal(configsv1.ReasonPathNotFound))
		g.Expect(stalled.Message).To(ContainSubstring(`"no/such/dir"`))
		g.Expect(condition(cs, configsv1.ConditionReady).Status).To(Equal(metav1.ConditionFalse))
	}, timeout).Should(Succeed())
}

func fieldManagers(obj metav1.Object) []string {
	var out []string
	for _, mf := range obj.GetManagedFields() {
		out = append(out, mf.Manager)
	}
	return out
}
