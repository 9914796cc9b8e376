package controllers_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/testgit"
)

// Given a private repository behind HTTP basic auth, a ConfigSync with the
// right credentials in a Secret syncs it; one with a wrong password stalls with
// AuthenticationFailed, and the password shows nowhere: not in status, not in Events.
func TestPrivateRepositoryOverHTTPS(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	srv := testgit.StartWith(t, testgit.Options{Username: "deploy", Password: "correct-horse-battery"})
	repo := srv.NewRepo(t, "private.git")
	sha := repo.Commit(t, map[string]string{"app.yaml": configMap("private-config", "blue")}, "first")

	registerSecret("correct-horse-battery", "wrong-staple-4242")
	createSecret(t, ns, "good-creds", map[string]string{"username": "deploy", "password": "correct-horse-battery"})
	createSecret(t, ns, "bad-creds", map[string]string{"username": "deploy", "password": "wrong-staple-4242"})
	g.Expect(k8s.Create(ctx, withAuth(newConfigSync(ns, "good", repo.URL, ""), configsv1.AuthHTTPS, "good-creds"))).To(Succeed())
	g.Expect(k8s.Create(ctx, withAuth(newConfigSync(ns, "bad", repo.URL, ""), configsv1.AuthHTTPS, "bad-creds"))).To(Succeed())

	g.Eventually(func(g Gomega) {
		g.Expect(configMapData(g, ns, "private-config")).To(HaveKeyWithValue("color", "blue"))
		g.Expect(getConfigSync(g, ns, "good").Status.SourceRevision).To(Equal(sha))
	}, timeout).Should(Succeed())

	g.Eventually(func(g Gomega) {
		cs := getConfigSync(g, ns, "bad")
		ready := condition(cs, configsv1.ConditionReady)
		g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(ready.Reason).To(Equal(configsv1.ReasonAuthenticationFailed))
	}, timeout).Should(Succeed())
	assertNoLeak(g, ns, "bad", "wrong-staple-4242")
	assertNoLeak(g, ns, "good", "correct-horse-battery")
}

// Given a repository served over SSH, a ConfigSync with a deploy key and the
// server's known_hosts entry syncs it; a known_hosts entry of another host is
// refused with AuthenticationFailed.
func TestRepositoryOverSSHWithKnownHosts(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	srv := testgit.Start(t)
	repo := srv.NewRepo(t, "app.git")
	sha := repo.Commit(t, map[string]string{"app.yaml": configMap("ssh-config", "blue")}, "first")

	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	g.Expect(err).NotTo(HaveOccurred())
	block, err := ssh.MarshalPrivateKey(priv, "")
	g.Expect(err).NotTo(HaveOccurred())
	sshPub, err := ssh.NewPublicKey(pub)
	g.Expect(err).NotTo(HaveOccurred())
	sshSrv := srv.StartSSH(t, sshPub)
	url := sshSrv.URL + "/app.git"

	// The server's host key is RSA; this entry names its address with another RSA key.
	otherRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	g.Expect(err).NotTo(HaveOccurred())
	otherPub, err := ssh.NewPublicKey(&otherRSA.PublicKey)
	g.Expect(err).NotTo(HaveOccurred())
	wrongHost := strings.Fields(sshSrv.KnownHosts)[0] + " " + string(ssh.MarshalAuthorizedKey(otherPub))

	keyPEM := string(pem.EncodeToMemory(block))
	registerSecret(strings.Split(keyPEM, "\n")[1]) // a line of the key's body
	createSecret(t, ns, "deploy-key", map[string]string{"identity": keyPEM, "known_hosts": sshSrv.KnownHosts})
	createSecret(t, ns, "wrong-host", map[string]string{"identity": string(pem.EncodeToMemory(block)), "known_hosts": wrongHost})
	g.Expect(k8s.Create(ctx, withAuth(newConfigSync(ns, "ssh", url, ""), configsv1.AuthSSH, "deploy-key"))).To(Succeed())
	g.Expect(k8s.Create(ctx, withAuth(newConfigSync(ns, "mitm", url, ""), configsv1.AuthSSH, "wrong-host"))).To(Succeed())

	g.Eventually(func(g Gomega) {
		g.Expect(configMapData(g, ns, "ssh-config")).To(HaveKeyWithValue("color", "blue"))
		g.Expect(getConfigSync(g, ns, "ssh").Status.SourceRevision).To(Equal(sha))
	}, timeout).Should(Succeed())
	g.Eventually(func(g Gomega) {
		ready := condition(getConfigSync(g, ns, "mitm"), configsv1.ConditionReady)
		g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(ready.Reason).To(Equal(configsv1.ReasonAuthenticationFailed))
		g.Expect(ready.Message).To(ContainSubstring("knownhosts: key mismatch"))
	}, timeout).Should(Succeed())
	assertNoLeak(g, ns, "ssh", "PRIVATE KEY")
	assertNoLeak(g, ns, "mitm", "PRIVATE KEY")
}

// Given a synced ConfigSync, when its Git server goes down the ConfigSync
// says SourceUnreachable and the cluster keeps what it had; when the server
// comes back, the new commit lands without anyone touching anything.
func TestGitServerOutageIsRiddenOut(t *testing.T) {
	recordFault(t, "Git server down", "SourceUnreachable, retried with backoff; nothing deleted; converges when back")
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	srv := testgit.Start(t)
	repo := srv.NewRepo(t, "app.git")
	first := repo.Commit(t, map[string]string{"app.yaml": configMap("outage-config", "blue")}, "first")
	proxy := testgit.NewProxy(t, srv.HTTPAddress())
	g.Expect(k8s.Create(ctx, newConfigSync(ns, "app", proxy.URL(repo.URL), ""))).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(getConfigSync(g, ns, "app").Status.SourceRevision).To(Equal(first))
	}, timeout).Should(Succeed())

	proxy.Down()
	second := repo.Commit(t, map[string]string{"app.yaml": configMap("outage-config", "green")}, "second")
	requestReconcile(t, ns, "app")
	g.Eventually(func(g Gomega) {
		cs := getConfigSync(g, ns, "app")
		degraded := condition(cs, configsv1.ConditionDegraded)
		g.Expect(degraded.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(degraded.Reason).To(Equal(configsv1.ReasonSourceUnreachable))
		g.Expect(condition(cs, configsv1.ConditionReconciling).Status).To(Equal(metav1.ConditionTrue), "a transient failure keeps retrying")
		g.Expect(cs.Status.SourceRevision).To(Equal(first))
		g.Expect(degraded.Message).NotTo(HavePrefix(configsv1.ReasonSourceUnreachable), "the reason is the condition's, not the message's")
		// The Event's note names the precise reason once, not twice.
		g.Expect(events(g, ns)).To(haveEvent(corev1.EventTypeWarning, configsv1.ReasonFetchFailed,
			And(HavePrefix(configsv1.ReasonSourceUnreachable+": fetch "), Not(ContainSubstring(configsv1.ReasonSourceUnreachable+": "+configsv1.ReasonSourceUnreachable)))))
	}, timeout).Should(Succeed())
	g.Expect(configMapData(g, ns, "outage-config")).To(HaveKeyWithValue("color", "blue"))

	proxy.Up()
	g.Eventually(func(g Gomega) {
		g.Expect(configMapData(g, ns, "outage-config")).To(HaveKeyWithValue("color", "green"))
		cs := getConfigSync(g, ns, "app")
		g.Expect(cs.Status.SourceRevision).To(Equal(second))
		g.Expect(condition(cs, configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
	}, timeout).Should(Succeed())
}

// Twenty ConfigSyncs on one repository cost one download per new commit.
func TestTwentyConfigSyncsOnOneRepositoryShareFetches(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	srv := testgit.Start(t)
	repo := srv.NewRepo(t, "shared.git")
	files := map[string]string{}
	for i := range 20 {
		files[fmt.Sprintf("app-%02d/cm.yaml", i)] = configMap(fmt.Sprintf("app-%02d", i), "blue")
	}
	first := repo.Commit(t, files, "first")
	for i := range 20 {
		g.Expect(k8s.Create(ctx, newConfigSync(ns, fmt.Sprintf("app-%02d", i), repo.URL, fmt.Sprintf("app-%02d", i)))).To(Succeed())
	}
	allAt := func(sha string) func(g Gomega) {
		return func(g Gomega) {
			list := &configsv1.ConfigSyncList{}
			g.Expect(k8s.List(ctx, list, client.InNamespace(ns))).To(Succeed())
			g.Expect(list.Items).To(HaveLen(20))
			for _, cs := range list.Items {
				g.Expect(cs.Status.SourceRevision).To(Equal(sha), cs.Name)
			}
		}
	}
	g.Eventually(allAt(first), timeout).Should(Succeed())
	g.Expect(srv.UploadPacks()).To(BeEquivalentTo(1))

	for i := range 20 {
		files[fmt.Sprintf("app-%02d/cm.yaml", i)] = configMap(fmt.Sprintf("app-%02d", i), "green")
	}
	second := repo.Commit(t, files, "second")
	for i := range 20 {
		requestReconcile(t, ns, fmt.Sprintf("app-%02d", i))
	}
	g.Eventually(allAt(second), timeout).Should(Succeed())
	g.Expect(srv.UploadPacks()).To(BeEquivalentTo(2))
}

// A path holding a symlink that leads out of the repository is refused.
func TestSymlinkOutOfTheRepositoryIsInvalidPath(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	repo := testgit.Start(t).NewRepo(t, "app.git")
	repo.Link(t, "config/passwd.yaml", "/etc/passwd")
	repo.Commit(t, map[string]string{"config/app.yaml": configMap("app-config", "blue")}, "first")
	g.Expect(k8s.Create(context.Background(), newConfigSync(ns, "app", repo.URL, "config"))).To(Succeed())

	g.Eventually(func(g Gomega) {
		cs := getConfigSync(g, ns, "app")
		stalled := condition(cs, configsv1.ConditionStalled)
		g.Expect(stalled.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(stalled.Reason).To(Equal(configsv1.ReasonInvalidPath))
	}, timeout).Should(Succeed())
	err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "app-config"}, &corev1.ConfigMap{})
	g.Expect(err).To(HaveOccurred(), "nothing of the path was applied")
}
