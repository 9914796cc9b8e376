package controllers_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/controllers"
	"github.com/configsync/configsync/internal/testadmission"
	"github.com/configsync/configsync/internal/testgit"
)

// Given two ConfigSyncs whose sources both hold ConfigMap "shared": the
// first applies it; the second reports the conflict, naming the first, and
// applies nothing of its set; when the second's source drops the object,
// neither deletes it, and it still belongs to the first.
func TestTwoConfigSyncsClaimingOneObject(t *testing.T) {
	recordFault(t, "two ConfigSyncs claim one object", "conflict reported, naming the owner; neither deletes the other's object")
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

// minFaultCases is how many fault stories record a finding; the reliability
// report is written only when all of them ran.
const minFaultCases = 9

// Given a synced ConfigSync whose Git server dies in the middle of sending
// the next commit: the sync fails as transient, nothing is deleted or
// changed, and once the server answers whole again the commit lands.
func TestGitServerKilledMidFetch(t *testing.T) {
	recordFault(t, "Git server killed mid-fetch", "transient failure, retried; nothing deleted; converges")
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	srv := testgit.Start(t)
	repo := srv.NewRepo(t, "app.git")
	repo.Commit(t, map[string]string{"a.yaml": configMap("kept", "blue"), "b.yaml": configMap("also-kept", "blue"), "data.txt": randomText(1 << 20)}, "first")
	proxy := testgit.NewProxy(t, srv.HTTPAddress())
	cs := newConfigSync(ns, "app", proxy.URL(repo.URL), "")
	cs.Spec.Prune = true
	g.Expect(k8s.Create(ctx, cs)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(condition(getConfigSync(g, ns, "app"), configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
	}, timeout).Should(Succeed())

	proxy.CutAfter(32 << 10)
	second := repo.Commit(t, map[string]string{"a.yaml": configMap("kept", "green"), "b.yaml": "", "data.txt": randomText(1 << 20)}, "second")
	requestReconcile(t, ns, "app")
	g.Eventually(func(g Gomega) {
		cs := getConfigSync(g, ns, "app")
		g.Expect(condition(cs, configsv1.ConditionReady).Status).To(Equal(metav1.ConditionFalse))
		g.Expect(condition(cs, configsv1.ConditionReconciling).Status).To(Equal(metav1.ConditionTrue), "transient: retried")
		g.Expect(cs.Status.Inventory).To(HaveLen(2))
	}, timeout).Should(Succeed())
	g.Expect(configMapData(g, ns, "kept")).To(HaveKeyWithValue("color", "blue"))
	g.Expect(configMapData(g, ns, "also-kept")).To(HaveKeyWithValue("color", "blue"))

	proxy.CutAfter(0)
	g.Eventually(func(g Gomega) {
		g.Expect(getConfigSync(g, ns, "app").Status.SourceRevision).To(HaveSuffix(second))
		g.Expect(configMapData(g, ns, "kept")).To(HaveKeyWithValue("color", "green"))
		configMapGone(g, ns, "also-kept") // pruned now that the commit that drops it landed
	}, timeout).Should(Succeed())
}

// randomText is n bytes that do not compress, so a fetch takes many packets.
func randomText(n int) string {
	b := make([]byte, n/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Given a ConfigSync authenticated by a bearer token: when the Git server
// revokes the token, syncs fail with AuthenticationFailed and change
// nothing; a new token in the Secret makes it converge.
func TestCredentialsRevoked(t *testing.T) {
	recordFault(t, "Git credentials revoked", "AuthenticationFailed; nothing deleted; converges with new credentials")
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	srv := testgit.StartWith(t, testgit.Options{BearerToken: "token-one"})
	repo := srv.NewRepo(t, "app.git")
	repo.Commit(t, map[string]string{"cm.yaml": configMap("creds-config", "blue")}, "first")
	registerSecret("token-one", "token-two")
	createSecret(t, ns, "creds", map[string]string{"bearerToken": "token-one"})
	cs := withAuth(newConfigSync(ns, "app", repo.URL, ""), configsv1.AuthHTTPS, "creds")
	cs.Spec.Prune = true
	g.Expect(k8s.Create(ctx, cs)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(configMapData(g, ns, "creds-config")).To(HaveKeyWithValue("color", "blue"))
	}, timeout).Should(Succeed())

	srv.SetBearerToken("token-two")
	second := repo.Commit(t, map[string]string{"cm.yaml": configMap("creds-config", "green")}, "second")
	requestReconcile(t, ns, "app")
	g.Eventually(func(g Gomega) {
		ready := condition(getConfigSync(g, ns, "app"), configsv1.ConditionReady)
		g.Expect(ready.Reason).To(Equal(configsv1.ReasonAuthenticationFailed))
		g.Expect(ready.Message).NotTo(ContainSubstring("token-one"))
	}, timeout).Should(Succeed())
	g.Expect(configMapData(g, ns, "creds-config")).To(HaveKeyWithValue("color", "blue"))
	g.Expect(getConfigSync(g, ns, "app").Status.Inventory).To(HaveLen(1))

	patchObject(t, client.ObjectKey{Namespace: ns, Name: "creds"}, &corev1.Secret{}, func(s *corev1.Secret) {
		s.Data = map[string][]byte{"bearerToken": []byte("token-two")}
	})
	requestReconcile(t, ns, "app")
	g.Eventually(func(g Gomega) {
		g.Expect(getConfigSync(g, ns, "app").Status.SourceRevision).To(HaveSuffix(second))
		g.Expect(configMapData(g, ns, "creds-config")).To(HaveKeyWithValue("color", "green"))
	}, timeout).Should(Succeed())
}

// Given a ConfigSync with prune on and an admission webhook that refuses to
// delete one of its objects: the commit that drops it prunes what it can,
// keeps the refused object in the inventory with PruneFailed, and prunes it
// once the webhook lets go.
func TestPruneRefusedByAdmissionWebhook(t *testing.T) {
	recordFault(t, "admission webhook refuses a delete", "PruneFailed; object kept in the inventory; pruned once allowed")
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	var allowDeletes atomic.Bool
	policy := testadmission.Start(t, func(req *admissionv1.AdmissionRequest) (bool, string) {
		if req.Operation == admissionv1.Delete && req.Name == "guarded" && !allowDeletes.Load() {
			return false, "policy: guarded may not be deleted"
		}
		return true, ""
	})
	policy.Install(t, k8s, ns, testadmission.Rule("", "v1", "configmaps", admissionregistrationv1.Delete))
	repo := testgit.Start(t).NewRepo(t, "app.git")
	repo.Commit(t, map[string]string{"g.yaml": configMap("guarded", "blue"), "f.yaml": configMap("free", "blue"), "k.yaml": configMap("kept", "blue")}, "first")
	cs := newConfigSync(ns, "app", repo.URL, "")
	cs.Spec.Prune = true
	g.Expect(k8s.Create(ctx, cs)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(getConfigSync(g, ns, "app").Status.Inventory).To(HaveLen(3))
	}, timeout).Should(Succeed())

	repo.Commit(t, map[string]string{"g.yaml": "", "f.yaml": ""}, "drop two")
	requestReconcile(t, ns, "app")
	g.Eventually(func(g Gomega) {
		cs := getConfigSync(g, ns, "app")
		ready := condition(cs, configsv1.ConditionReady)
		g.Expect(ready.Reason).To(Equal(configsv1.ReasonPruneFailed))
		g.Expect(ready.Message).To(ContainSubstring("guarded may not be deleted"))
		g.Expect(cs.Status.Inventory).To(ConsistOf(HaveField("Name", "guarded"), HaveField("Name", "kept")))
		configMapGone(g, ns, "free")
	}, timeout).Should(Succeed())
	g.Expect(configMapData(g, ns, "kept")).To(HaveKeyWithValue("color", "blue"))

	allowDeletes.Store(true)
	g.Eventually(func(g Gomega) {
		configMapGone(g, ns, "guarded")
		cs := getConfigSync(g, ns, "app")
		g.Expect(cs.Status.Inventory).To(ConsistOf(HaveField("Name", "kept")))
		g.Expect(condition(cs, configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
	}, timeout).Should(Succeed())
}

const widgetCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: %[1]s.faults.example.com
spec:
  group: faults.example.com
  names: {kind: %[2]s, plural: %[1]s, singular: %[3]s}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`

// Given a ConfigSync that applied a CRD and one of its objects: someone
// deletes the CRD (and with it the object). The next sync puts both back.
// Then a commit drops the object while its CRD is gone again: the prune
// takes "no such kind" as gone, and the sync is not stuck on it.
func TestCRDRemovedWhileItsObjectsAreInTheInventory(t *testing.T) {
	recordFault(t, "CRD removed under its objects", "re-applied on the next sync; a prune of a kind no longer served succeeds")
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	plural := "gadgets" + strings.TrimPrefix(ns, "test-")
	kind := "Gadget" + strings.ToUpper(strings.TrimPrefix(ns, "test-"))
	crd := sprintf(widgetCRD, plural, kind, strings.TrimSuffix(plural, "s"))
	instance := sprintf("apiVersion: faults.example.com/v1\nkind: %s\nmetadata: {name: one}\nspec: {size: 1}\n", kind)
	repo := testgit.Start(t).NewRepo(t, "app.git")
	repo.Commit(t, map[string]string{"crd.yaml": crd, "one.yaml": instance, "cm.yaml": configMap("crd-neighbour", "blue")}, "first")
	cs := newConfigSync(ns, "app", repo.URL, "")
	cs.Spec.Prune = true
	g.Expect(k8s.Create(ctx, cs)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(getConfigSync(g, ns, "app").Status.Inventory).To(HaveLen(3))
	}, timeout).Should(Succeed())

	crdObj := &unstructured.Unstructured{}
	crdObj.SetAPIVersion("apiextensions.k8s.io/v1")
	crdObj.SetKind("CustomResourceDefinition")
	crdObj.SetName(plural + ".faults.example.com")
	deleteCRD := func() {
		g.Expect(k8s.Delete(ctx, crdObj.DeepCopy())).To(Succeed())
		g.Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(crdObj), crdObj.DeepCopy()))
		}, timeout).Should(BeTrue())
	}
	deleteCRD()
	requestReconcile(t, ns, "app")
	gadget := &unstructured.Unstructured{}
	gadget.SetAPIVersion("faults.example.com/v1")
	gadget.SetKind(kind)
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "one"}, gadget)).To(Succeed())
		g.Expect(condition(getConfigSync(g, ns, "app"), configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
	}, timeout).Should(Succeed())

	deleteCRD()
	repo.Commit(t, map[string]string{"crd.yaml": "", "one.yaml": ""}, "drop the gadget and its CRD")
	requestReconcile(t, ns, "app")
	g.Eventually(func(g Gomega) {
		cs := getConfigSync(g, ns, "app")
		g.Expect(condition(cs, configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(cs.Status.Inventory).To(ConsistOf(HaveField("Name", "crd-neighbour")))
	}, timeout).Should(Succeed())
	g.Expect(configMapData(g, ns, "crd-neighbour")).To(HaveKeyWithValue("color", "blue"))
}

// Given a shard manager applying a set of 300 ConfigMaps: it is stopped in
// the middle of the apply, and a new manager instance takes over. The set
// converges, the inventory lists all of it, and nothing was deleted.
func TestManagerStoppedMidApply(t *testing.T) {
	recordFault(t, "manager stopped mid-apply, a new instance started", "the new instance converges; inventory complete; nothing deleted")
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	repo := bigRepo(t, 300)

	stop := startShardStoppable(t, "restart", controllers.Options{Workers: 1, ApplyConcurrency: 1})
	cs := inShard(newConfigSync(ns, "big", repo.URL, ""), "restart")
	cs.Spec.Prune = true
	g.Expect(k8s.Create(ctx, cs)).To(Succeed())
	count := func() int { return countOwned(g, ns, "big") }
	g.Eventually(count, timeout, 10*time.Millisecond).Should(BeNumerically(">", 0))
	stop()
	stoppedAt := count()
	t.Logf("stopped with %d of 300 applied", stoppedAt)

	startShardStoppable(t, "restart", controllers.Options{Workers: 1})
	g.Eventually(func(g Gomega) {
		cs := getConfigSync(g, ns, "big")
		g.Expect(condition(cs, configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(cs.Status.Inventory).To(HaveLen(300))
	}, timeout).Should(Succeed())
	g.Expect(count()).To(Equal(300))
}

// Given a manager that reaches the apiserver through a proxy, applying 300
// ConfigMaps: the apiserver goes away in the middle of the apply (every
// connection cut and refused) and comes back three seconds later. The
// manager converges by itself: every object applied, the inventory
// complete, nothing deleted.
func TestAPIServerUnreachableMidSync(t *testing.T) {
	recordFault(t, "apiserver unreachable mid-sync, then back", "transient failures retried; converges; inventory complete; nothing deleted")
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	repo := bigRepo(t, 300)

	proxy := testgit.NewProxy(t, restConfig.Host)
	cfg := rest.CopyConfig(restConfig)
	cfg.Host = proxy.URL(restConfig.Host)
	// Two applies in flight: slow enough for the cut to land mid-apply,
	// quick enough that the resumed sync (the rest dry-run and applied
	// again) does not take a minute under -race on a loaded machine.
	startShardOn(t, cfg, "outage", controllers.Options{Workers: 1, ApplyConcurrency: 2, MinRetryDelay: 100 * time.Millisecond, MaxRetryDelay: time.Second})
	cs := inShard(newConfigSync(ns, "big", repo.URL, ""), "outage")
	cs.Spec.Prune = true
	g.Expect(k8s.Create(ctx, cs)).To(Succeed())
	count := func() int { return countOwned(g, ns, "big") }
	g.Eventually(count, timeout, 10*time.Millisecond).Should(BeNumerically(">", 0))
	proxy.Down()
	t.Logf("apiserver cut off with %d of 300 applied", count())
	time.Sleep(3 * time.Second)
	proxy.Up()
	g.Eventually(func(g Gomega) {
		cs := getConfigSync(g, ns, "big")
		g.Expect(condition(cs, configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(cs.Status.Inventory).To(HaveLen(300))
	}, 2*time.Minute).Should(Succeed())
	g.Expect(count()).To(Equal(300))
}

// bigRepo is a repository of n ConfigMaps, for syncs long enough to be interrupted.
func bigRepo(t *testing.T, n int) *testgit.Repo {
	files := map[string]string{}
	for i := range n {
		files[sprintf("cm-%03d.yaml", i)] = configMap(sprintf("cm-%03d", i), "blue")
	}
	repo := testgit.Start(t).NewRepo(t, "big.git")
	repo.Commit(t, files, sprintf("%d ConfigMaps", n))
	return repo
}

// countOwned counts the ConfigMaps of ns that the ConfigSync name applied.
func countOwned(g Gomega, ns, name string) int {
	list := &corev1.ConfigMapList{}
	g.Expect(k8s.List(context.Background(), list, client.InNamespace(ns), client.MatchingLabels{configsv1.LabelName: name})).To(Succeed())
	return len(list.Items)
}
