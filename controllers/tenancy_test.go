package controllers_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/controllers"
	"github.com/configsync/configsync/internal/testenv"
	"github.com/configsync/configsync/internal/testgit"
)

// Given an operator shard that impersonates the "deployer" ServiceAccount
// by default and refuses cross-namespace references, and a deployer allowed
// ConfigMaps in namespace a only: a ConfigSync in a applies into a; one whose
// source also writes into namespace b is refused, naming the object, and
// nothing of its set is applied (by --no-cross-namespace-refs, before the
// ServiceAccount's dry-run would); a target in b is refused before anything
// is fetched.
func TestTenantAppliesOnlyWhereItsServiceAccountMay(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	a, b := newNamespace(t), newNamespace(t)
	grantConfigMaps(t, a, "deployer")
	startShard(t, "tenants", controllers.Options{Workers: 2, DefaultServiceAccount: "deployer", NoCrossNamespaceRefs: true})
	server := testgit.Start(t)

	own := server.NewRepo(t, "own.git")
	own.Commit(t, map[string]string{"cm.yaml": configMap("tenant-config", "blue")}, "own")
	g.Expect(k8s.Create(ctx, inShard(newConfigSync(a, "own", own.URL, ""), "tenants"))).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(condition(getConfigSync(g, a, "own"), configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(configMapData(g, a, "tenant-config")).To(HaveKeyWithValue("color", "blue"))
	}, timeout).Should(Succeed())

	reach := server.NewRepo(t, "reach.git")
	reach.Commit(t, map[string]string{
		"mine.yaml":   configMap("mine", "blue"),
		"theirs.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: theirs\n  namespace: " + b + "\ndata:\n  color: red\n",
	}, "reach")
	reaching := newConfigSync(a, "reach", reach.URL, "")
	reaching.Spec.ServiceAccountName = "deployer"
	g.Expect(k8s.Create(ctx, inShard(reaching, "tenants"))).To(Succeed())
	g.Eventually(func(g Gomega) {
		ready := condition(getConfigSync(g, a, "reach"), configsv1.ConditionReady)
		g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(ready.Reason).To(Equal(configsv1.ReasonAccessDenied))
		g.Expect(ready.Message).To(And(ContainSubstring("ConfigMap theirs is in namespace "+b), ContainSubstring("--no-cross-namespace-refs")))
	}, timeout).Should(Succeed())
	for _, key := range []client.ObjectKey{{Namespace: a, Name: "mine"}, {Namespace: b, Name: "theirs"}} {
		err := k8s.Get(ctx, key, &corev1.ConfigMap{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%s must not be applied", key)
	}

	cross := newConfigSync(a, "cross", own.URL, "")
	cross.Spec.Targets = []configsv1.Target{{Type: configsv1.TargetConfigMap, Namespace: b, Name: "tenant-config"}}
	g.Expect(k8s.Create(ctx, inShard(cross, "tenants"))).To(Succeed())
	g.Eventually(func(g Gomega) {
		stalled := condition(getConfigSync(g, a, "cross"), configsv1.ConditionStalled)
		g.Expect(stalled.Reason).To(Equal(configsv1.ReasonAccessDenied))
		g.Expect(stalled.Message).To(ContainSubstring("--no-cross-namespace-refs"))
	}, timeout).Should(Succeed())
	err := k8s.Get(ctx, client.ObjectKey{Namespace: b, Name: "tenant-config"}, &corev1.ConfigMap{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue())
}

// Given a second control plane and a kubeconfig Secret for it, a ConfigSync
// in the first applies into the second (and nothing into its own cluster);
// deleting the ConfigSync prunes what it applied there.
func TestApplyIntoAnotherClusterAndCleanUpThere(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	remote, remoteClient := startRemoteCluster(t)
	kubeconfig := remoteKubeconfig(t, remote)

	ns := newNamespace(t)
	g.Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "prod-cluster"},
		Data: map[string][]byte{"value": kubeconfig}})).To(Succeed())
	g.Expect(remoteClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())

	repo := testgit.Start(t).NewRepo(t, "fleet.git")
	repo.Commit(t, map[string]string{"cm.yaml": configMap("fleet-config", "blue")}, "fleet")
	cs := newConfigSync(ns, "fleet", repo.URL, "")
	cs.Spec.Prune = true
	cs.Spec.KubeConfigSecretRef = &configsv1.SecretKeyReference{Name: "prod-cluster"}
	g.Expect(k8s.Create(ctx, cs)).To(Succeed())
	remoteData := func(g Gomega) map[string]string {
		cm := &corev1.ConfigMap{}
		g.Expect(remoteClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "fleet-config"}, cm)).To(Succeed())
		return cm.Data
	}
	g.Eventually(func(g Gomega) {
		g.Expect(condition(getConfigSync(g, ns, "fleet"), configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(remoteData(g)).To(HaveKeyWithValue("color", "blue"))
	}, timeout).Should(Succeed())
	err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "fleet-config"}, &corev1.ConfigMap{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "nothing is applied to the operator's own cluster")

	g.Expect(k8s.Delete(ctx, cs)).To(Succeed())
	g.Eventually(func(g Gomega) {
		err := remoteClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "fleet-config"}, &corev1.ConfigMap{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "pruned on the remote cluster")
		err = k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "fleet"}, &configsv1.ConfigSync{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the finalizer is gone")
	}, timeout).Should(Succeed())
}

func startRemoteCluster(t *testing.T) (*envtest.Environment, client.Client) {
	t.Helper()
	remote := testenv.Start(t, func(env *envtest.Environment) {
		env.CRDDirectoryPaths = nil // the remote cluster runs no operator
	})
	return remote.Env, remote.Client
}

func remoteKubeconfig(t *testing.T, env *envtest.Environment) []byte {
	t.Helper()
	user, err := env.AddUser(envtest.User{Name: "configsync", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	return data
}
