package controllers_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/testadmission"
	"github.com/configsync/configsync/internal/testgit"
)

// refusePoison is an admission policy that lets every dry-run through but
// refuses to store a ConfigMap whose color is "poison": a revision whose
// dry-run passes and whose apply fails.
func refusePoison(req *admissionv1.AdmissionRequest) (bool, string) {
	if testadmission.DryRun(req) {
		return true, ""
	}
	cm := &corev1.ConfigMap{}
	if err := json.Unmarshal(req.Object.Raw, cm); err == nil && cm.Data["color"] == "poison" {
		return false, "policy: poison is not a color"
	}
	return true, ""
}

// Given a ConfigSync with rollback.onFailure that synced blue: a commit whose
// apply fails after its dry-run passed (an admission policy refuses it) is
// rolled back to blue, the object it created meanwhile is pruned, the
// condition says so, and the bad commit is not retried at every interval.
// A fixing commit syncs normally again.
func TestRollbackOnFailedApply(t *testing.T) {
	recordFault(t, "admission webhook refuses an apply that passed its dry-run", "rolled back to the last good revision; what the failed apply created is pruned")
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	policy := testadmission.Start(t, refusePoison)
	policy.Install(t, k8s, ns, testadmission.Rule("", "v1", "configmaps", admissionregistrationv1.Create, admissionregistrationv1.Update))

	repo := testgit.Start(t).NewRepo(t, "app.git")
	blue := repo.Commit(t, map[string]string{"cm.yaml": configMap("app-config", "blue")}, "blue")
	cs := newConfigSync(ns, "app", repo.URL, "")
	cs.Spec.Prune = true
	cs.Spec.RefreshInterval = &metav1.Duration{Duration: time.Second}
	cs.Spec.Rollback = &configsv1.Rollback{OnFailure: true}
	g.Expect(k8s.Create(ctx, cs)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(getConfigSync(g, ns, "app").Status.SourceRevision).To(HaveSuffix(blue))
	}, timeout).Should(Succeed())

	bad := repo.Commit(t, map[string]string{
		"cm.yaml":    configMap("app-config", "poison"),
		"extra.yaml": configMap("extra", "green"), // applied before app-config fails
	}, "poison")
	g.Eventually(func(g Gomega) {
		cs := getConfigSync(g, ns, "app")
		g.Expect(cs.Status.FailedRevision).To(Equal(bad))
		g.Expect(cs.Status.LastAttemptedRevision).To(HaveSuffix(bad))
		g.Expect(cs.Status.SourceRevision).To(HaveSuffix(blue))
		ready := condition(cs, configsv1.ConditionReady)
		g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(ready.Reason).To(Equal(configsv1.ReasonRolledBack))
		g.Expect(ready.Message).To(And(ContainSubstring(bad[:12]), ContainSubstring("poison is not a color")))
		g.Expect(condition(cs, configsv1.ConditionAvailable).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(cs.Status.Inventory).NotTo(ContainElement(HaveField("Name", "extra")))
		g.Expect(events(g, ns)).To(And(
			haveEvent(corev1.EventTypeWarning, configsv1.ReasonApplyFailed, ContainSubstring("poison is not a color")),
			haveEvent(corev1.EventTypeWarning, configsv1.ReasonRolledBack, ContainSubstring(bad[:12]))))
	}, timeout).Should(Succeed())
	g.Expect(configMapData(g, ns, "app-config")).To(HaveKeyWithValue("color", "blue"))
	configMapGone(g, ns, "extra")

	// Held back: several 1s intervals pass without another try of the bad commit.
	refused := policy.Refused.Load()
	g.Consistently(func(g Gomega) {
		g.Expect(policy.Refused.Load()).To(Equal(refused))
		g.Expect(configMapData(g, ns, "app-config")).To(HaveKeyWithValue("color", "blue"))
	}, 3*time.Second, 200*time.Millisecond).Should(Succeed())

	fixed := repo.Commit(t, map[string]string{"cm.yaml": configMap("app-config", "red")}, "red")
	g.Eventually(func(g Gomega) {
		cs := getConfigSync(g, ns, "app")
		g.Expect(cs.Status.SourceRevision).To(HaveSuffix(fixed))
		g.Expect(cs.Status.FailedRevision).To(BeEmpty())
		g.Expect(condition(cs, configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(configMapData(g, ns, "app-config")).To(HaveKeyWithValue("color", "red"))
	}, timeout).Should(Succeed())
}

func deploymentWithImage(name, image string) string {
	return sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %s
spec:
  selector: {matchLabels: {app: %s}}
  template:
    metadata: {labels: {app: %s}}
    spec:
      containers: [{name: app, image: %q}]
`, name, name, name, image)
}

// rollOut plays the Deployment controller for this test, which has none:
// Deployments of namespace ns running image become available; others never do.
func rollOut(t *testing.T, ns, image string) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		for ctx.Err() == nil {
			list := &appsv1.DeploymentList{}
			if err := k8s.List(ctx, list, client.InNamespace(ns)); err == nil {
				for i := range list.Items {
					d := &list.Items[i]
					if d.Spec.Template.Spec.Containers[0].Image != image || d.Status.ObservedGeneration == d.Generation {
						continue
					}
					d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
						Conditions: []appsv1.DeploymentCondition{
							{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable"},
							{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"},
						}}
					_ = k8s.Status().Update(ctx, d)
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
}

// Given a ConfigSync with rollback.onFailure whose Deployment rolled out at
// v1: a commit moving it to an image that never becomes available fails its
// health check within healthTimeout and is rolled back to v1.
func TestRollbackOnUnhealthyDeployment(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	rollOut(t, ns, "app:v1")
	repo := testgit.Start(t).NewRepo(t, "app.git")
	v1 := repo.Commit(t, map[string]string{"deploy.yaml": deploymentWithImage("app", "app:v1")}, "v1")
	cs := newConfigSync(ns, "app", repo.URL, "")
	cs.Spec.Rollback = &configsv1.Rollback{OnFailure: true}
	cs.Spec.HealthTimeout = &metav1.Duration{Duration: 3 * time.Second}
	g.Expect(k8s.Create(ctx, cs)).To(Succeed())
	g.Eventually(func(g Gomega) {
		cs := getConfigSync(g, ns, "app")
		g.Expect(cs.Status.SourceRevision).To(HaveSuffix(v1))
		g.Expect(condition(cs, configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
	}, timeout).Should(Succeed())

	v2 := repo.Commit(t, map[string]string{"deploy.yaml": deploymentWithImage("app", "app:v2")}, "v2")
	requestReconcile(t, ns, "app")
	g.Eventually(func(g Gomega) {
		cs := getConfigSync(g, ns, "app")
		g.Expect(cs.Status.FailedRevision).To(Equal(v2))
		ready := condition(cs, configsv1.ConditionReady)
		g.Expect(ready.Reason).To(Equal(configsv1.ReasonRolledBack))
		g.Expect(ready.Message).To(And(ContainSubstring("not healthy after 3s"), ContainSubstring("Deployment/"+ns+"/app")))
		g.Expect(events(g, ns)).To(haveEvent(corev1.EventTypeWarning, configsv1.ReasonHealthCheckFailed, HavePrefix(configsv1.ReasonHealthCheckFailed)))
	}, timeout).Should(Succeed())
	d := &appsv1.Deployment{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, d)).To(Succeed())
	g.Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal("app:v1"))
}

// Given spec.wait and no rollback, a Deployment that never becomes available
// fails the sync with HealthCheckFailed, naming it.
func TestWaitReportsUnhealthy(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	repo := testgit.Start(t).NewRepo(t, "app.git")
	repo.Commit(t, map[string]string{"deploy.yaml": deploymentWithImage("app", "app:never")}, "v1")
	cs := newConfigSync(ns, "app", repo.URL, "")
	cs.Spec.Wait = true
	cs.Spec.HealthTimeout = &metav1.Duration{Duration: 2 * time.Second}
	g.Expect(k8s.Create(ctx, cs)).To(Succeed())
	g.Eventually(func(g Gomega) {
		ready := condition(getConfigSync(g, ns, "app"), configsv1.ConditionReady)
		g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(ready.Reason).To(Equal(configsv1.ReasonHealthCheckFailed))
		g.Expect(ready.Message).To(ContainSubstring("Deployment/" + ns + "/app: InProgress"))
	}, timeout).Should(Succeed())
}

// Given an immutable ConfigMap, a commit changing its data is refused at the
// dry-run with a message that says the field is immutable and what to do;
// with spec.force the object is deleted and created again.
func TestImmutableFieldChange(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	immutable := func(color string) string { return configMap("frozen", color) + "immutable: true\n" }
	repo := testgit.Start(t).NewRepo(t, "app.git")
	repo.Commit(t, map[string]string{"cm.yaml": immutable("blue")}, "blue")
	g.Expect(k8s.Create(ctx, newConfigSync(ns, "app", repo.URL, ""))).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(configMapData(g, ns, "frozen")).To(HaveKeyWithValue("color", "blue"))
	}, timeout).Should(Succeed())

	repo.Commit(t, map[string]string{"cm.yaml": immutable("green")}, "green")
	requestReconcile(t, ns, "app")
	g.Eventually(func(g Gomega) {
		ready := condition(getConfigSync(g, ns, "app"), configsv1.ConditionReady)
		g.Expect(ready.Reason).To(Equal(configsv1.ReasonDryRunFailed))
		g.Expect(ready.Message).To(And(ContainSubstring("ConfigMap/"+ns+"/frozen"), ContainSubstring("immutable"), ContainSubstring("spec.force")))
	}, timeout).Should(Succeed())
	g.Expect(configMapData(g, ns, "frozen")).To(HaveKeyWithValue("color", "blue"))

	patchObject(t, client.ObjectKey{Namespace: ns, Name: "app"}, &configsv1.ConfigSync{}, func(cs *configsv1.ConfigSync) { cs.Spec.Force = true })
	g.Eventually(func(g Gomega) {
		g.Expect(configMapData(g, ns, "frozen")).To(HaveKeyWithValue("color", "green"))
		g.Expect(condition(getConfigSync(g, ns, "app"), configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
	}, timeout).Should(Succeed())
}
