package controllers_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/testgit"
)

// Given two ConfigSyncs whose sources both hold ConfigMap "shared": the
// first applies it; the second reports the conflict, naming the first, and
// applies nothing of its set; when the second's source drops the object,
// neither deletes it, and it still belongs to the first.
func TestTwoConfigSyncsClaimingOneObject(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	server := testgit.Start(t)
	first, second := server.NewRepo(t, "first.git"), server.NewRepo(t, "second.git")
	first.Commit(t, map[string]string{"shared.yaml": configMap("shared", "blue")}, "first")
	second.Commit(t, map[string]string{"shared.yaml": configMap("shared", "red"), "own.yaml": configMap("second-own", "red")}, "second")

	owner := newConfigSync(ns, "first", first.URL, "")
	owner.Spec.Prune = true
	g.Expect(k8s.Create(ctx, owner)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(condition(getConfigSync(g, ns, "first"), configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
	}, timeout).Should(Succeed())

	claimant := newConfigSync(ns, "second", second.URL, "")
	claimant.Spec.Prune = true
	g.Expect(k8s.Create(ctx, claimant)).To(Succeed())
	g.Eventually(func(g Gomega) {
		ready := condition(getConfigSync(g, ns, "second"), configsv1.ConditionReady)
		g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(ready.Reason).To(Equal(configsv1.ReasonDryRunFailed))
		g.Expect(ready.Message).To(And(ContainSubstring("ConfigMap/"+ns+"/shared"), ContainSubstring("conflict"), ContainSubstring("configsync/"+ns+"/first")))
	}, timeout).Should(Succeed())
	g.Expect(configMapData(g, ns, "shared")).To(HaveKeyWithValue("color", "blue"))
	configMapGone(g, ns, "second-own") // all or nothing

	second.Commit(t, map[string]string{"shared.yaml": ""}, "drop shared")
	requestReconcile(t, ns, "second")
	g.Eventually(func(g Gomega) {
		g.Expect(condition(getConfigSync(g, ns, "second"), configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(configMapData(g, ns, "second-own")).To(HaveKeyWithValue("color", "red"))
	}, timeout).Should(Succeed())
	requestReconcile(t, ns, "first")
	waitForHandledRequest(g, ns, "first")
	g.Expect(configMapData(g, ns, "shared")).To(HaveKeyWithValue("color", "blue"), "neither deletes the other's object")
	cm := getConfigMap(g, ns, "shared")
	g.Expect(cm.Labels).To(HaveKeyWithValue(configsv1.LabelName, "first"))
}

func getConfigMap(g Gomega, ns, name string) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, cm)).To(Succeed())
	return cm
}

// minFaultCases is how many fault stories record a finding; the reliability
// report is written only when all of them ran.
const minFaultCases = 8
