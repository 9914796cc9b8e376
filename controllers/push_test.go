package controllers_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/controllers"
	"github.com/configsync/configsync/internal/testenv/testoperator"
	"github.com/configsync/configsync/internal/testgit"
	"github.com/configsync/configsync/receiver"
	"github.com/configsync/configsync/source"
)

func post(t *testing.T, f receiver.Fixture, url, repoURL, branch string, key []byte) int {
	t.Helper()
	body, err := f.Body(webhookFixtures, repoURL, branch)
	if err != nil {
		t.Fatal(err)
	}
	req, err := f.Request(url, body, key)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Given three ConfigSyncs that poll every 10 minutes, one on repository A's
// main, one on A's other branch and one on repository B, each with a new
// commit waiting: a push event of any provider for A's main makes the first
// sync within a second, and only it; a forged one makes none sync.
func TestPushWebhookSyncsOnlyTheMatchingConfigSyncs(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	token := []byte("push-token-" + ns)
	url := startReceiver(t, ns, token)
	server := testgit.Start(t)
	a, b := server.NewRepo(t, "a.git"), server.NewRepo(t, "b.git")
	a.Commit(t, map[string]string{"cm.yaml": configMap("on-main", "v0")}, "main v0")
	a.Branch(t, "other")
	a.Commit(t, map[string]string{"cm.yaml": configMap("on-other", "v0")}, "other v0")
	a.Branch(t, "main")
	b.Commit(t, map[string]string{"cm.yaml": configMap("on-b", "v0")}, "b v0")
	onMain, onOther, onB := newConfigSync(ns, "on-main", a.URL, ""), newConfigSync(ns, "on-other", a.URL, ""), newConfigSync(ns, "on-b", b.URL, "")
	onMain.Spec.Source.Git.Branch = "main"
	onOther.Spec.Source.Git.Branch = "other"
	for _, cs := range []client.Object{onMain, onOther, onB} {
		g.Expect(k8s.Create(ctx, cs)).To(Succeed())
	}
	revisionOf := func(g Gomega, name string) string { return getConfigSync(g, ns, name).Status.SourceRevision }
	g.Eventually(func(g Gomega) {
		for _, name := range []string{"on-main", "on-other", "on-b"} {
			g.Expect(revisionOf(g, name)).NotTo(BeEmpty())
		}
	}, timeout).Should(Succeed())
	otherBefore, bBefore := revisionOf(g, "on-other"), revisionOf(g, "on-b")
	b.Commit(t, map[string]string{"cm.yaml": configMap("on-b", "v1")}, "b v1")
	a.Branch(t, "other")
	a.Commit(t, map[string]string{"cm.yaml": configMap("on-other", "v1")}, "other v1")
	a.Branch(t, "main")

	// The scp-like form and letter case of the URL in the event do not matter.
	for i, f := range receiver.Fixtures {
		sha := a.Commit(t, map[string]string{"cm.yaml": configMap("on-main", sprintf("v%d", i+1))}, f.File)
		g.Expect(post(t, f, url, a.URL, "main", token)).To(Equal(http.StatusOK), f.File)
		g.Eventually(func(g Gomega) {
			g.Expect(revisionOf(g, "on-main")).To(HaveSuffix(sha))
		}, time.Second, 20*time.Millisecond).Should(Succeed(), "%s: the push lands within a second", f.File)
	}
	g.Expect(revisionOf(g, "on-other")).To(Equal(otherBefore), "another branch of the same repository is not synced")
	g.Expect(revisionOf(g, "on-b")).To(Equal(bBefore), "another repository is not synced")

	sha := a.Commit(t, map[string]string{"cm.yaml": configMap("on-main", "forged")}, "forged")
	g.Expect(post(t, receiver.Fixtures[0], url, a.URL, "main", []byte("not the token"))).To(Equal(http.StatusUnauthorized))
	g.Consistently(func(g Gomega) {
		g.Expect(revisionOf(g, "on-main")).NotTo(HaveSuffix(sha))
	}, 1500*time.Millisecond, 100*time.Millisecond).Should(Succeed())
}

// Given a ConfigSync synced by the leading replica and a second replica
// that does not lead (its manager was never elected, so its controller does
// not run): a push that second replica receives reaches the leader through
// the reconcile annotation, and the new commit is synced.
func TestAPushToAReplicaThatDoesNotLeadReachesTheLeader(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	repo := testgit.Start(t).NewRepo(t, "follower.git")
	repo.Commit(t, map[string]string{"cm.yaml": configMap("pushed", "v0")}, "v0")
	cs := newConfigSync(ns, "app", repo.URL, "")
	cs.Spec.RefreshInterval = &metav1.Duration{Duration: time.Hour}
	g.Expect(k8s.Create(ctx, cs)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(getConfigSync(g, ns, "app").Status.SourceRevision).NotTo(BeEmpty())
	}, timeout).Should(Succeed())

	follower := newShardManager(t, restConfig, "follower")
	r := testoperator.NewReconciler(follower, &source.GitFetcher{}, controllers.Options{})
	r.Client = k8s // its cache is not started either

	sha := repo.Commit(t, map[string]string{"cm.yaml": configMap("pushed", "v1")}, "v1")
	n, err := r.TriggerPush(ctx, "", map[string]bool{source.NormalizeURL(repo.URL): true}, []string{"main"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(n).To(Equal(1))
	requested := getConfigSync(g, ns, "app").Annotations[configsv1.AnnotationReconcileRequestedAt]
	g.Expect(requested).NotTo(BeEmpty(), "the follower asks through the annotation")
	g.Eventually(func(g Gomega) {
		cs := getConfigSync(g, ns, "app")
		g.Expect(cs.Status.SourceRevision).To(HaveSuffix(sha))
		g.Expect(cs.Status.LastHandledReconcileAt).To(Equal(requested))
	}, timeout).Should(Succeed())
}
