package controllers_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"helm.sh/helm/v3/pkg/chart"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/charts"
	"github.com/configsync/configsync/charts/chartstest"
	"github.com/configsync/configsync/internal/testadmission"
	"github.com/configsync/configsync/internal/testgit"
)

// helmSync is a ConfigSync of one helm step over a Git repository that
// holds only a values file (replicas: 3).
func helmSync(t *testing.T, ns, name string, step configsv1.HelmStep) *configsv1.ConfigSync {
	t.Helper()
	repo := testgit.Start(t).NewRepo(t, name+".git")
	repo.Commit(t, map[string]string{"values-prod.yaml": "replicas: 3\n"}, "values")
	step.ReleaseName = "rel"
	step.ValuesFiles = []string{"values-prod.yaml"}
	cs := newConfigSync(ns, name, repo.URL, "")
	cs.Spec.Render = []configsv1.RenderStep{{Helm: &step}}
	cs.Spec.Prune = true
	return cs
}

func setHelmStep(t *testing.T, ns, name string, mutate func(*configsv1.HelmStep)) {
	t.Helper()
	patchObject(t, client.ObjectKey{Namespace: ns, Name: name}, &configsv1.ConfigSync{}, func(cs *configsv1.ConfigSync) {
		mutate(cs.Spec.Render[0].Helm)
	})
}

// chartVersionIs waits until the chart's ConfigMap (chartstest.Chart's
// template, release "rel") shows version.
func chartVersionIs(g Gomega, ns, chart, version string) {
	g.Eventually(func(g Gomega) {
		g.Expect(configMapData(g, ns, "rel-"+chart)).To(HaveKeyWithValue("version", version))
	}, timeout).Should(Succeed())
}

// Given an HTTPS Helm repository with basic auth and its own CA, and a
// ConfigSync whose helm step asks for ^1.0 of a chart: the newest 1.x
// renders with the values file from Git, and status and history record its
// exact version and digest. A 1.2.0 published later is picked by the next
// sync a reconcile request starts (the index is kept for an hour
// otherwise); a rollback to "previous" renders 1.1.0 again, from the
// history's pin, although 1.2.0 matches the range, and holds against a
// reconcile request; removing it returns to 1.2.0. 1.1.0 was downloaded
// once in all.
func TestRemoteChartFromAnHTTPSRepositoryFollowsItsRangeAndRollsBack(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	repo := chartstest.NewRepo(t, chartstest.RepoOptions{TLS: true, Username: "charts", Password: "chart-pa55word"})
	registerSecret("chart-pa55word")
	repo.Publish(t, chartstest.Chart("app", "1.0.0", nil))
	d110 := repo.Publish(t, chartstest.Chart("app", "1.1.0", nil))
	repo.Publish(t, chartstest.Chart("app", "2.0.0", nil))
	createSecret(t, ns, "chart-creds", map[string]string{"username": "charts", "password": "chart-pa55word", "ca.crt": string(repo.CAPEM())})

	cs := helmSync(t, ns, "app", configsv1.HelmStep{RepoURL: repo.URL(), Chart: "app", Version: "^1.0",
		AuthSecretRef: &configsv1.LocalObjectReference{Name: "chart-creds"}})
	g.Expect(k8s.Create(ctx, cs)).To(Succeed())
	pruneAtCleanup(t, ns, "app")
	chartVersionIs(g, ns, "app", "1.1.0")
	g.Expect(configMapData(g, ns, "rel-app")).To(HaveKeyWithValue("replicas", "3"), "values from Git")
	pin110 := configsv1.PinnedChart{Step: 1, RepoURL: repo.URL(), Name: "app", Version: "1.1.0", Digest: d110}
	g.Eventually(func(g Gomega) {
		cs := getConfigSync(g, ns, "app")
		g.Expect(cs.Status.Charts).To(Equal([]configsv1.PinnedChart{pin110}))
		g.Expect(cs.Status.History[0].Charts).To(Equal([]configsv1.PinnedChart{pin110}))
	}, timeout).Should(Succeed())

	d120 := repo.Publish(t, chartstest.Chart("app", "1.2.0", nil))
	requestReconcile(t, ns, "app")
	chartVersionIs(g, ns, "app", "1.2.0")
	g.Eventually(func(g Gomega) {
		cs := getConfigSync(g, ns, "app")
		g.Expect(cs.Status.Charts).To(ConsistOf(HaveField("Digest", d120)))
		g.Expect(cs.Status.History).To(HaveLen(2), "one commit, two chart versions")
		g.Expect(cs.Status.History[1].Charts).To(Equal([]configsv1.PinnedChart{pin110}))
	}, timeout).Should(Succeed())

	setRollback(t, ns, "app", &configsv1.Rollback{ToRevision: "previous"})
	chartVersionIs(g, ns, "app", "1.1.0")
	g.Eventually(func(g Gomega) {
		cs := getConfigSync(g, ns, "app")
		g.Expect(cs.Status.RolledBackCharts).To(Equal([]configsv1.PinnedChart{pin110}))
		g.Expect(condition(cs, configsv1.ConditionReady).Reason).To(Equal(configsv1.ReasonRolledBack))
	}, timeout).Should(Succeed())
	requestReconcile(t, ns, "app")
	waitForHandledRequest(g, ns, "app")
	g.Expect(configMapData(g, ns, "rel-app")).To(HaveKeyWithValue("version", "1.1.0"), "the rollback holds though 1.2.0 matches ^1.0")

	setRollback(t, ns, "app", nil)
	chartVersionIs(g, ns, "app", "1.2.0")
	g.Expect(repo.Downloads("app", "1.1.0")).To(Equal(1), "the rollback loaded 1.1.0 from the cache, by digest")
	g.Expect(repo.Downloads("app", "2.0.0")).To(Equal(0), "outside the range")
}

// Given an OCI registry with basic auth: one ConfigSync takes a chart by
// tag with username/password credentials, another by digest alone with a
// kubernetes.io/dockerconfigjson Secret; each records the manifest digest.
func TestRemoteChartFromAnOCIRegistryByTagAndByDigest(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	reg := chartstest.NewRegistry(t, chartstest.RegistryOptions{Username: "oci", Password: "oci-pa55word"})
	registerSecret("oci-pa55word")
	d100 := reg.Push(t, chartstest.Chart("app", "1.0.0", nil))
	d110 := reg.Push(t, chartstest.Chart("app", "1.1.0", nil))
	createSecret(t, ns, "basic", map[string]string{"username": "oci", "password": "oci-pa55word"})
	auth := base64.StdEncoding.EncodeToString([]byte("oci:oci-pa55word"))
	dockerConfig := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, reg.Host(), auth)
	g.Expect(k8s.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "docker"}, Type: corev1.SecretTypeDockerConfigJson,
		StringData: map[string]string{corev1.DockerConfigJsonKey: dockerConfig},
	})).To(Succeed())

	byTag := helmSync(t, ns, "by-tag", configsv1.HelmStep{RepoURL: reg.URL(), Chart: "app", Version: "1.0.0",
		AuthSecretRef: &configsv1.LocalObjectReference{Name: "basic"}})
	byTag.Spec.Targets = []configsv1.Target{{Type: configsv1.TargetConfigMap, Name: "rel-app"}}
	byDigest := helmSync(t, ns, "by-digest", configsv1.HelmStep{RepoURL: reg.URL(), Chart: "app", Digest: d110,
		AuthSecretRef: &configsv1.LocalObjectReference{Name: "docker"}})
	byDigest.Spec.Render[0].Helm.ReleaseName = "dig"
	for _, cs := range []*configsv1.ConfigSync{byTag, byDigest} {
		g.Expect(k8s.Create(ctx, cs)).To(Succeed())
		pruneAtCleanup(t, ns, cs.Name)
	}
	chartVersionIs(g, ns, "app", "1.0.0")
	g.Eventually(func(g Gomega) {
		g.Expect(configMapData(g, ns, "dig-app")).To(HaveKeyWithValue("version", "1.1.0"))
		g.Expect(getConfigSync(g, ns, "by-tag").Status.Charts).To(Equal([]configsv1.PinnedChart{
			{Step: 1, RepoURL: reg.URL(), Name: "app", Version: "1.0.0", Digest: d100}}))
		g.Expect(getConfigSync(g, ns, "by-digest").Status.Charts).To(Equal([]configsv1.PinnedChart{
			{Step: 1, RepoURL: reg.URL(), Name: "app", Version: "1.1.0", Digest: d110}}))
	}, timeout).Should(Succeed())
}

// Given an umbrella chart in Git whose Chart.yaml declares one dependency
// from a Helm repository (a range) and one from an OCI registry, with no
// Chart.lock: both are fetched at their newest match, rendered as
// subcharts (one under an alias) and recorded as the step's dependencies.
func TestUmbrellaChartInGitWithRemoteDependencies(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	repo := chartstest.NewRepo(t, chartstest.RepoOptions{})
	reg := chartstest.NewRegistry(t, chartstest.RegistryOptions{})
	repo.Publish(t, chartstest.Chart("db", "1.0.0", nil))
	dDB := repo.Publish(t, chartstest.Chart("db", "1.3.0", nil))
	dCache := reg.Push(t, chartstest.Chart("cache", "2.0.0", nil))

	git := testgit.Start(t).NewRepo(t, "umbrella.git")
	git.Commit(t, map[string]string{
		"umbrella/Chart.yaml": fmt.Sprintf(`apiVersion: v2
name: umbrella
version: 0.1.0
dependencies:
- {name: db, version: "^1.0", repository: %q}
- {name: cache, alias: sessions, version: "2.0.0", repository: %q}
`, repo.URL(), reg.URL()),
		"umbrella/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: umbrella\ndata:\n  own: \"yes\"\n",
	}, "umbrella")
	cs := newConfigSync(ns, "umbrella", git.URL, "")
	cs.Spec.Render = []configsv1.RenderStep{{Helm: &configsv1.HelmStep{Chart: "umbrella", ReleaseName: "rel"}}}
	g.Expect(k8s.Create(ctx, cs)).To(Succeed())
	pruneAtCleanup(t, ns, "umbrella")

	chartVersionIs(g, ns, "db", "1.3.0")
	chartVersionIs(g, ns, "cache", "2.0.0")
	g.Eventually(func(g Gomega) {
		g.Expect(configMapData(g, ns, "umbrella")).To(HaveKeyWithValue("own", "yes"))
		cs := getConfigSync(g, ns, "umbrella")
		want := []configsv1.PinnedChart{
			{Step: 1, Dependency: "db", RepoURL: repo.URL(), Name: "db", Version: "1.3.0", Digest: dDB},
			{Step: 1, Dependency: "sessions", RepoURL: reg.URL(), Name: "cache", Version: "2.0.0", Digest: dCache},
		}
		g.Expect(cs.Status.Charts).To(Equal(want))
		g.Expect(cs.Status.History[0].Charts).To(Equal(want))
	}, timeout).Should(Succeed())
}

// bigChart is a chart version whose archive is over the suite's size limit:
// a file of random (incompressible) bytes.
func bigChart(t *testing.T, name, version string) []byte {
	t.Helper()
	c := chartstest.Chart(name, version, nil)
	noise := make([]byte, testMaxChartBytes+(256<<10))
	_, _ = rand.Read(noise)
	c.Files = append(c.Files, &chart.File{Name: "noise.bin", Data: noise})
	return chartstest.Package(t, c)
}

// badFixture is what a bad-input case may act on.
type badFixture struct {
	ns      string
	repo    *chartstest.Repo     // set for Helm repository cases
	reg     *chartstest.Registry // set for OCI cases
	digests map[string]string    // version → digest as published
}

// Given a ConfigSync (prune on) that synced version 1.0.0 of a remote
// chart, each bad change gives its typed reason in Ready, and an Event; the
// object synced before stays (nothing pruned), status.charts still names
// 1.0.0, and nothing of the bad chart is applied.
func TestBadRemoteChartsApplyNothingAndPruneNothing(t *testing.T) {
	for _, tc := range badRemoteCharts() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runBadRemoteChart(t, tc)
		})
	}
}

// badRemoteChart is one bad change to a synced remote chart: breakIt makes
// it, and reason is what Ready must say.
type badRemoteChart struct {
	name    string
	oci     bool
	reason  string
	breakIt func(t *testing.T, f badFixture, step *configsv1.HelmStep)
}

func badRemoteCharts() []badRemoteChart {
	return []badRemoteChart{
		{"unknown chart", false, charts.ReasonChartNotFound, func(_ *testing.T, _ badFixture, s *configsv1.HelmStep) { s.Chart = "missing" }},
		{"unknown OCI chart", true, charts.ReasonChartNotFound, func(_ *testing.T, _ badFixture, s *configsv1.HelmStep) { s.Chart = "missing" }},
		{"unknown version", false, charts.ReasonChartVersionNotFound, func(_ *testing.T, _ badFixture, s *configsv1.HelmStep) { s.Version = "3.0.0" }},
		{"unknown OCI version", true, charts.ReasonChartVersionNotFound, func(_ *testing.T, _ badFixture, s *configsv1.HelmStep) { s.Version = "3.0.0" }},
		{"wrong credentials", false, charts.ReasonChartAuthFailed, func(t *testing.T, f badFixture, _ *configsv1.HelmStep) {
			patchObject(t, client.ObjectKey{Namespace: f.ns, Name: "creds"}, &corev1.Secret{}, func(sec *corev1.Secret) {
				sec.Data["password"] = []byte("wrong-password")
			})
		}},
		{"wrong OCI credentials", true, charts.ReasonChartAuthFailed, func(t *testing.T, f badFixture, _ *configsv1.HelmStep) {
			patchObject(t, client.ObjectKey{Namespace: f.ns, Name: "creds"}, &corev1.Secret{}, func(sec *corev1.Secret) {
				sec.Data["password"] = []byte("wrong-password")
			})
		}},
		{"registry down", true, charts.ReasonChartUnreachable, func(_ *testing.T, f badFixture, _ *configsv1.HelmStep) { f.reg.SetDown(true) }},
		{"repository down", false, charts.ReasonChartUnreachable, func(_ *testing.T, f badFixture, _ *configsv1.HelmStep) { f.repo.SetDown(true) }},
		{"tampered archive", false, charts.ReasonChartDigestMismatch, func(t *testing.T, f badFixture, s *configsv1.HelmStep) {
			f.repo.Tamper(t, "app", "1.1.0")
			s.Version = "1.1.0"
		}},
		{"OCI digest pin of another version", true, charts.ReasonChartDigestMismatch, func(_ *testing.T, f badFixture, s *configsv1.HelmStep) {
			s.Version, s.Digest = "1.1.0", f.digests["1.0.0"]
		}},
		{"host off the allowlist", false, charts.ReasonChartHostNotAllowed, func(_ *testing.T, _ badFixture, s *configsv1.HelmStep) {
			s.RepoURL = strings.Replace(s.RepoURL, "127.0.0.1", "localhost", 1)
		}},
		{"chart over the size limit", false, charts.ReasonChartTooLarge, func(t *testing.T, f badFixture, s *configsv1.HelmStep) {
			f.repo.PublishArchive(t, chartstest.Chart("app", "2.0.0", nil).Metadata, bigChart(t, "app", "2.0.0"))
			s.Version = "2.0.0"
		}},
	}
}

// newBadFixture starts, in a new namespace, a Helm repository (or with oci
// an OCI registry) with basic auth that holds app 1.0.0 and 1.1.0, and
// returns it with its URL.
func newBadFixture(t *testing.T, oci bool) (badFixture, string) {
	t.Helper()
	f := badFixture{ns: newNamespace(t), digests: map[string]string{}}
	var url string
	if oci {
		f.reg = chartstest.NewRegistry(t, chartstest.RegistryOptions{Username: "u", Password: "good-password"})
		for _, v := range []string{"1.0.0", "1.1.0"} {
			f.digests[v] = f.reg.Push(t, chartstest.Chart("app", v, nil))
		}
		url = f.reg.URL()
	} else {
		f.repo = chartstest.NewRepo(t, chartstest.RepoOptions{Username: "u", Password: "good-password"})
		for _, v := range []string{"1.0.0", "1.1.0"} {
			f.digests[v] = f.repo.Publish(t, chartstest.Chart("app", v, nil))
		}
		url = f.repo.URL()
	}
	return f, url
}

// runBadRemoteChart syncs 1.0.0 of the fixture's chart, makes tc's bad
// change and checks that nothing is applied or pruned.
func runBadRemoteChart(t *testing.T, tc badRemoteChart) {
	if tc.reason == charts.ReasonChartUnreachable {
		recordFault(t, tc.name+" (remote Helm chart)", "ChartUnreachable, retried; nothing applied or pruned; synced once it is back")
	}
	g := NewWithT(t)
	ctx := context.Background()
	f, url := newBadFixture(t, tc.oci)
	ns := f.ns
	createSecret(t, ns, "creds", map[string]string{"username": "u", "password": "good-password"})
	cs := helmSync(t, ns, "app", configsv1.HelmStep{RepoURL: url, Chart: "app", Version: "1.0.0",
		AuthSecretRef: &configsv1.LocalObjectReference{Name: "creds"}})
	g.Expect(k8s.Create(ctx, cs)).To(Succeed())
	pruneAtCleanup(t, ns, "app")
	chartVersionIs(g, ns, "app", "1.0.0")
	var before *configsv1.ConfigSync
	g.Eventually(func(g Gomega) {
		before = getConfigSync(g, ns, "app")
		g.Expect(condition(before, configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(before.Status.Inventory).To(HaveLen(1))
	}, timeout).Should(Succeed())

	setHelmStep(t, ns, "app", func(s *configsv1.HelmStep) { tc.breakIt(t, f, s) })
	// A reconcile request reads the index afresh: an outage or a
	// revoked password shows even while the index is cached.
	requestReconcile(t, ns, "app")
	g.Eventually(func(g Gomega) {
		cs := getConfigSync(g, ns, "app")
		ready := condition(cs, configsv1.ConditionReady)
		g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(ready.Reason).To(Equal(tc.reason), ready.Message)
		g.Expect(cs.Status.LastHandledReconcileAt).To(Equal(cs.Annotations[configsv1.AnnotationReconcileRequestedAt]))
		g.Expect(events(g, ns)).To(haveEvent(corev1.EventTypeWarning, configsv1.ReasonFetchFailed, HavePrefix(tc.reason)))
	}, timeout).Should(Succeed())
	cs = getConfigSync(g, ns, "app")
	g.Expect(cs.Status.Inventory).To(Equal(before.Status.Inventory), "nothing pruned from the inventory")
	g.Expect(cs.Status.Charts).To(Equal(before.Status.Charts), "status.charts names what is applied")
	g.Expect(configMapData(g, ns, "rel-app")).To(HaveKeyWithValue("version", "1.0.0"), "the object synced before stays as it was")
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "evil"}, &corev1.ConfigMap{})).NotTo(Succeed(), "nothing of a tampered chart applied")
	if tc.reason != charts.ReasonChartUnreachable {
		g.Expect(condition(cs, configsv1.ConditionStalled).Reason).To(Equal(tc.reason), "waits for a fix")
	} else {
		g.Expect(condition(cs, configsv1.ConditionReconciling).Reason).To(Equal(tc.reason), "retried with backoff")
		// Back up: the retries converge with no one asking.
		if f.reg != nil {
			f.reg.SetDown(false)
		} else {
			f.repo.SetDown(false)
		}
		g.Eventually(func(g Gomega) {
			g.Expect(condition(getConfigSync(g, ns, "app"), configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		}, timeout).Should(Succeed())
	}
}

// Given a ServiceAccount "deployer" that may not read the Secret holding a
// private chart repository's password, a ConfigSync applying as deployer
// whose helm step names that Secret is refused (AccessDenied, naming the
// Secret and the ServiceAccount), and the repository sees no request: the
// operator never reads the Secret for it.
func TestChartCredentialsAreReadAsTheTenant(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	grantConfigMaps(t, ns, "deployer")
	repo := chartstest.NewRepo(t, chartstest.RepoOptions{Username: "u", Password: "tenant-chart-pa55"})
	registerSecret("tenant-chart-pa55")
	repo.Publish(t, chartstest.Chart("app", "1.0.0", nil))
	createSecret(t, ns, "chart-creds", map[string]string{"username": "u", "password": "tenant-chart-pa55"})
	cs := helmSync(t, ns, "charts", configsv1.HelmStep{RepoURL: repo.URL(), Chart: "app",
		AuthSecretRef: &configsv1.LocalObjectReference{Name: "chart-creds"}})
	cs.Spec.ServiceAccountName = "deployer"
	g.Expect(k8s.Create(context.Background(), cs)).To(Succeed())
	deniedRead(t, "chart authSecretRef the ServiceAccount may not read", ns, "charts", "authSecretRef", "chart-creds", "deployer",
		func() int64 { return int64(repo.Requests()) })
	g.Expect(repo.Requests()).To(BeZero(), "nothing is fetched with credentials deployer may not read")
}

// Given a Helm repository whose 1.0.0 is signed by the publisher's key and
// whose 1.1.0 is signed by another key, a ConfigSync that verifies with the
// publisher's keyring syncs 1.0.0; moving it to 1.1.0 fails with
// ChartVerificationFailed, and 1.0.0's objects stay.
func TestRemoteChartProvenanceIsVerified(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	repo := chartstest.NewRepo(t, chartstest.RepoOptions{})
	repo.Publish(t, chartstest.Chart("app", "1.0.0", nil))
	repo.Publish(t, chartstest.Chart("app", "1.1.0", nil))
	publisher, stranger := chartstest.NewSigner(t, "publisher"), chartstest.NewSigner(t, "stranger")
	repo.Serve("app-1.0.0.tgz.prov", publisher.Sign(t, "app-1.0.0.tgz", repo.Archive("app", "1.0.0")))
	repo.Serve("app-1.1.0.tgz.prov", stranger.Sign(t, "app-1.1.0.tgz", repo.Archive("app", "1.1.0")))
	createSecret(t, ns, "publisher", map[string]string{"keyring": string(publisher.Keyring(t))})

	cs := helmSync(t, ns, "app", configsv1.HelmStep{RepoURL: repo.URL(), Chart: "app", Version: "1.0.0",
		Verify: &configsv1.HelmVerify{KeyringSecretRef: configsv1.LocalObjectReference{Name: "publisher"}}})
	g.Expect(k8s.Create(ctx, cs)).To(Succeed())
	pruneAtCleanup(t, ns, "app")
	chartVersionIs(g, ns, "app", "1.0.0")

	setHelmStep(t, ns, "app", func(s *configsv1.HelmStep) { s.Version = "1.1.0" })
	g.Eventually(func(g Gomega) {
		ready := condition(getConfigSync(g, ns, "app"), configsv1.ConditionReady)
		g.Expect(ready.Reason).To(Equal(charts.ReasonChartVerificationFailed), ready.Message)
	}, timeout).Should(Succeed())
	g.Expect(configMapData(g, ns, "rel-app")).To(HaveKeyWithValue("version", "1.0.0"))
}

// Given a ConfigSync with rollback.onFailure that synced commit blue with
// chart 1.0.0 (range ^1.0): once 1.1.0 is published, a commit whose values
// make the apply fail (an admission policy refuses "poison") renders with
// 1.1.0, fails, and is rolled back to blue with blue's pinned 1.0.0, not
// with 1.1.0, which the range matches now.
func TestAutomaticRollbackRendersThePinnedChart(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	policy := testadmission.Start(t, refusePoison)
	policy.Install(t, k8s, ns, testadmission.Rule("", "v1", "configmaps", admissionregistrationv1.Create, admissionregistrationv1.Update))
	colored := func(version string) *chart.Chart {
		return chartstest.Chart("app", version, map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: rel-app\ndata:\n  color: {{ .Values.color }}\n  version: {{ .Chart.Version | quote }}\n"})
	}
	repo := chartstest.NewRepo(t, chartstest.RepoOptions{})
	d100 := repo.Publish(t, colored("1.0.0"))

	git := testgit.Start(t).NewRepo(t, "app.git")
	blue := git.Commit(t, map[string]string{"values.yaml": "color: blue\n"}, "blue")
	cs := newConfigSync(ns, "app", git.URL, "")
	cs.Spec.Render = []configsv1.RenderStep{{Helm: &configsv1.HelmStep{RepoURL: repo.URL(), Chart: "app", Version: "^1.0", ReleaseName: "rel", ValuesFiles: []string{"values.yaml"}}}}
	cs.Spec.Rollback = &configsv1.Rollback{OnFailure: true}
	g.Expect(k8s.Create(ctx, cs)).To(Succeed())
	pruneAtCleanup(t, ns, "app")
	chartVersionIs(g, ns, "app", "1.0.0")

	repo.Publish(t, colored("1.1.0"))
	bad := git.Commit(t, map[string]string{"values.yaml": "color: poison\n"}, "poison")
	requestReconcile(t, ns, "app")
	g.Eventually(func(g Gomega) {
		cs := getConfigSync(g, ns, "app")
		g.Expect(cs.Status.FailedRevision).To(Equal(bad))
		g.Expect(cs.Status.SourceRevision).To(HaveSuffix(blue))
		g.Expect(condition(cs, configsv1.ConditionReady).Reason).To(Equal(configsv1.ReasonRolledBack))
		g.Expect(cs.Status.Charts).To(Equal([]configsv1.PinnedChart{{Step: 1, RepoURL: repo.URL(), Name: "app", Version: "1.0.0", Digest: d100}}))
	}, timeout).Should(Succeed())
	g.Expect(policy.Refused.Load()).NotTo(BeZero(), "the poison commit was tried")
	g.Expect(configMapData(g, ns, "rel-app")).To(And(HaveKeyWithValue("color", "blue"), HaveKeyWithValue("version", "1.0.0")))
}
