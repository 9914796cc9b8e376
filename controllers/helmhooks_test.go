package controllers_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/apply"
	"github.com/configsync/configsync/internal/testgit"
	"github.com/configsync/configsync/source"
)

// completeJob does what the Job controller (absent from the test control
// plane) does when a Job's pod succeeded.
func completeJob(t *testing.T, ns, name string) {
	t.Helper()
	setJobStatus(t, ns, name, func(status *batchv1.JobStatus, now metav1.Time) {
		status.StartTime = &now
		status.CompletionTime = &now
		status.Succeeded = 1
		status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now},
		}
	})
}

// setJobStatus reads Job ns/name, lets set fill its status in as of now,
// and writes the status.
func setJobStatus(t *testing.T, ns, name string, set func(status *batchv1.JobStatus, now metav1.Time)) {
	t.Helper()
	job := &batchv1.Job{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, job); err != nil {
		t.Fatal(err)
	}
	set(&job.Status, metav1.Now())
	if err := k8s.Status().Update(context.Background(), job); err != nil {
		t.Fatal(err)
	}
}

func exists(g Gomega, obj client.Object, ns, name string) bool {
	err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj)
	if apierrors.IsNotFound(err) {
		return false
	}
	g.Expect(err).NotTo(HaveOccurred())
	return true
}

// Given a repository holding an ingress-nginx-shaped chart and a ConfigSync
// that renders it with hooks applied (the default): the pre-install hooks
// (ServiceAccount, Role, RoleBinding, the certificate Job) are applied
// first, and nothing else is while the Job runs; once it completes, the
// Deployment and the rest are applied, then the post-install Job; each hook
// is deleted as its hook-succeeded policy says. The test Pod and the
// pre-delete Job are never created. A resync that finds nothing changed
// writes nothing, and runs no hook again.
func TestHelmHooksRunInPhases(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	repo := testgit.Start(t).NewRepo(t, "ingress.git")
	repo.Commit(t, readTree(t, filepath.Join("..", "testdata", "renderers", "helm-hooks", "input")), "ingress-nginx")

	cs := newConfigSync(ns, "ingress", repo.URL, "")
	cs.Spec.Prune = true
	// The webhook must not refuse other tests' Ingresses: it selects none.
	cs.Spec.Render = []configsv1.RenderStep{{Helm: &configsv1.HelmStep{Chart: "chart", ReleaseName: "ingress",
		Values: &apiextensionsv1.JSON{Raw: []byte(`{"admissionWebhooks":{"failurePolicy":"Ignore","objectSelector":{"matchLabels":{"hooks-test":"` + ns + `"}}}}`)}}}}
	g.Expect(k8s.Create(ctx, cs)).To(Succeed())
	pruneAtCleanup(t, ns, "ingress", &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "ingress-ingress-nginx-admission"}})

	const (
		name       = "ingress-ingress-nginx-admission"
		createJob  = "ingress-ingress-nginx-admission-create"
		patchJob   = "ingress-ingress-nginx-admission-patch"
		deployment = "ingress-ingress-nginx-controller"
	)
	// The pre phase: its objects, stamped with their configuration.
	g.Eventually(func(g Gomega) {
		g.Expect(exists(g, &corev1.ServiceAccount{}, ns, name)).To(BeTrue())
		g.Expect(exists(g, &rbacv1.Role{}, ns, name)).To(BeTrue())
		g.Expect(exists(g, &rbacv1.RoleBinding{}, ns, name)).To(BeTrue())
		job := &batchv1.Job{}
		g.Expect(exists(g, job, ns, createJob)).To(BeTrue())
		g.Expect(job.Annotations).To(HaveKeyWithValue(apply.AnnotationSyncPhase, "pre"))
		g.Expect(job.Annotations).To(HaveKey(apply.AnnotationHookConfig))
	}, timeout).Should(Succeed())
	// While the certificate Job runs, nothing of the main set is applied.
	g.Consistently(func(g Gomega) {
		g.Expect(exists(g, &appsv1.Deployment{}, ns, deployment)).To(BeFalse())
		g.Expect(exists(g, &corev1.Service{}, ns, "ingress-ingress-nginx-controller-admission")).To(BeFalse())
		g.Expect(exists(g, &batchv1.Job{}, ns, patchJob)).To(BeFalse())
	}, 3*time.Second, 200*time.Millisecond).Should(Succeed())

	completedAt := time.Now().Truncate(time.Second)
	completeJob(t, ns, createJob)
	// The main set, then the post phase; the certificate Job goes once done.
	g.Eventually(func(g Gomega) {
		dep := &appsv1.Deployment{}
		g.Expect(exists(g, dep, ns, deployment)).To(BeTrue())
		g.Expect(dep.CreationTimestamp.Time).NotTo(BeTemporally("<", completedAt))
		g.Expect(exists(g, &batchv1.Job{}, ns, patchJob)).To(BeTrue())
		g.Expect(exists(g, &batchv1.Job{}, ns, createJob)).To(BeFalse())
		// Kept through the post phase: the patch Job runs as that account.
		g.Expect(exists(g, &corev1.ServiceAccount{}, ns, name)).To(BeTrue())
	}, timeout).Should(Succeed())
	completeJob(t, ns, patchJob)

	g.Eventually(func(g Gomega) {
		got := getConfigSync(g, ns, "ingress")
		g.Expect(condition(got, configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(exists(g, &batchv1.Job{}, ns, patchJob)).To(BeFalse())
		g.Expect(exists(g, &corev1.ServiceAccount{}, ns, name)).To(BeFalse())
		g.Expect(exists(g, &rbacv1.Role{}, ns, name)).To(BeFalse())
		g.Expect(exists(g, &rbacv1.RoleBinding{}, ns, name)).To(BeFalse())
	}, timeout).Should(Succeed())
	pods := &corev1.PodList{}
	g.Expect(k8s.List(ctx, pods, client.InNamespace(ns))).To(Succeed())
	g.Expect(pods.Items).To(BeEmpty(), "the test hook Pod is never applied")
	g.Expect(exists(g, &batchv1.Job{}, ns, "ingress-ingress-nginx-cleanup")).To(BeFalse(), "nor the pre-delete Job")

	// A resync of the same commit writes nothing: no hook runs again, no
	// object and no status is written.
	resyncWritesNothing(g, ns, "ingress", repo.URL)
	g.Expect(exists(g, &batchv1.Job{}, ns, createJob)).To(BeFalse())
}

// resyncWritesNothing triggers, twice per round, a push resync of repoURL
// and waits until a round sees no write to the objects the ingress chart
// renders nor to any ConfigSync; the ConfigSync ns/name keeps its
// resourceVersion.
func resyncWritesNothing(g Gomega, ns, name, repoURL string) {
	ctx := context.Background()
	rv := getConfigSync(g, ns, name).ResourceVersion
	repos := map[string]bool{source.NormalizeURL(repoURL): true}
	writes := func(g Gomega) float64 {
		total := 0.0
		for _, r := range []string{"jobs", "deployments", "services", "serviceaccounts", "roles", "rolebindings", "validatingwebhookconfigurations", "pods", "configsyncs"} {
			total += writeRequests(g, r)
		}
		return total
	}
	g.Eventually(func(g Gomega) {
		before := writes(g)
		for range 2 {
			done := reconciles(g)
			_, err := reconciler.TriggerPush(ctx, "", repos, nil)
			g.Expect(err).NotTo(HaveOccurred())
			g.Eventually(func() float64 { return reconciles(g) }, timeout).Should(BeNumerically(">", done))
		}
		// Other tests may write meanwhile: rounds repeat until one sees no
		// other writer, which proves ours wrote nothing.
		g.Expect(writes(g) - before).To(BeZero())
	}, timeout).Should(Succeed())
	g.Expect(getConfigSync(g, ns, name).ResourceVersion).To(Equal(rv))
}

// failJob does what the Job controller does when a Job ran out of retries.
func failJob(t *testing.T, ns, name string) {
	t.Helper()
	setJobStatus(t, ns, name, func(status *batchv1.JobStatus, now metav1.Time) {
		status.StartTime = &now
		status.Failed = 1
		status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", LastTransitionTime: now, LastProbeTime: now},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "migration failed", LastTransitionTime: now, LastProbeTime: now},
		}
	})
}

// migrationChart is a chart whose pre-upgrade migration Job (no delete
// policy: Helm's before-hook-creation) runs the given version.
func migrationChart(version, color string) map[string]string {
	return map[string]string{
		"chart/Chart.yaml":        "apiVersion: v2\nname: app\nversion: 0.1.0\n",
		"chart/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {color: " + color + "}\n",
		"chart/templates/migrate.yaml": "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  annotations: {helm.sh/hook: \"pre-install,pre-upgrade\"}\n" +
			"spec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: migrate, image: app, args: [migrate, " + version + "]}]\n",
	}
}

// A changed hook Job (whose template cannot change) is deleted and created
// again, and the rest waits for it; a hook that fails fails the sync with
// nothing of the rest applied, and runs again at the next sync.
func TestChangedOrFailedHookJobRunsAgain(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	repo := testgit.Start(t).NewRepo(t, "migrate.git")
	repo.Commit(t, migrationChart("v1", "blue"), "v1")
	cs := newConfigSync(ns, "app", repo.URL, "")
	cs.Spec.Render = []configsv1.RenderStep{{Helm: &configsv1.HelmStep{Chart: "chart"}}}
	g.Expect(k8s.Create(ctx, cs)).To(Succeed())

	job := &batchv1.Job{}
	g.Eventually(func(g Gomega) { g.Expect(exists(g, job, ns, "migrate")).To(BeTrue()) }, timeout).Should(Succeed())
	completeJob(t, ns, "migrate")
	g.Eventually(func(g Gomega) {
		g.Expect(configMapData(g, ns, "app")["color"]).To(Equal("blue"))
		g.Expect(condition(getConfigSync(g, ns, "app"), configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
	}, timeout).Should(Succeed())
	first := job.UID

	// v2: the Job is recreated and the ConfigMap waits for it.
	repo.Commit(t, migrationChart("v2", "green"), "v2")
	requestReconcile(t, ns, "app")
	g.Eventually(func(g Gomega) {
		g.Expect(exists(g, job, ns, "migrate")).To(BeTrue())
		g.Expect(job.UID).NotTo(Equal(first))
		g.Expect(job.Spec.Template.Spec.Containers[0].Args).To(Equal([]string{"migrate", "v2"}))
	}, timeout).Should(Succeed())
	second := job.UID
	failJob(t, ns, "migrate")
	g.Eventually(func(g Gomega) {
		ready := condition(getConfigSync(g, ns, "app"), configsv1.ConditionReady)
		g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(ready.Reason).To(Equal(configsv1.ReasonApplyFailed))
		g.Expect(ready.Message).To(ContainSubstring("hook failed"))
	}, timeout).Should(Succeed())
	g.Expect(configMapData(g, ns, "app")["color"]).To(Equal("blue"), "nothing after a failed hook is applied")

	// The next sync runs it again.
	requestReconcile(t, ns, "app")
	g.Eventually(func(g Gomega) {
		g.Expect(exists(g, job, ns, "migrate")).To(BeTrue())
		g.Expect(job.UID).NotTo(Equal(second))
	}, timeout).Should(Succeed())
	completeJob(t, ns, "migrate")
	g.Eventually(func(g Gomega) {
		g.Expect(configMapData(g, ns, "app")["color"]).To(Equal("green"))
		g.Expect(condition(getConfigSync(g, ns, "app"), configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
	}, timeout).Should(Succeed())
}
