package controllers_test

import (
	"context"
	"crypto/rand"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/controllers"
	"github.com/configsync/configsync/internal/testgit"
)

// valuesTemplate is a ConfigMap template that puts the value "password" of
// the template's values into its data.
const valuesTemplate = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .name }}\ndata:\n  password: {{ .password | quote }}\n"

// withValuesFrom renders the source's templates with values from a
// ConfigMap or Secret of the ConfigSync's namespace.
func withValuesFrom(cs *configsv1.ConfigSync, kind, name string) *configsv1.ConfigSync {
	cs.Spec.Render = append(cs.Spec.Render, configsv1.RenderStep{Template: &configsv1.TemplateStep{
		ValuesFrom: []configsv1.ValuesReference{{Kind: kind, Name: name}},
	}})
	return cs
}

// Given a team whose ServiceAccount "deployer" may manage ConfigMaps in its
// namespace and nothing else, and Secrets in that namespace it may not read
// (database credentials, a SOPS key, Git credentials, a kubeconfig), a
// ConfigSync that applies as deployer reads what it names as deployer:
//   - valuesFrom the Secret db-admin is refused (AccessDenied, naming the
//     Secret and the ServiceAccount); the password lands in no ConfigMap and
//     shows in no status or Event;
//   - valuesFrom a ConfigMap deployer may read renders and applies;
//   - a sops step whose decryptionSecretRef deployer may not read is refused;
//   - an authSecretRef deployer may not read is refused, and the Git server
//     (which wants those credentials) serves nothing;
//   - a kubeConfigSecretRef deployer may not read is refused, and the
//     server the kubeconfig names sees no connection.
//
// Without the defence the operator would read each Secret itself: the
// password would be in a ConfigMap, the key would decrypt, the credentials
// would fetch and the kubeconfig would reach its server.
func TestTenantReadsOnlyWhatItsServiceAccountMay(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	grantConfigMaps(t, ns, "deployer")
	password := "db-admin-" + rand.Text()
	gitPassword := "git-" + rand.Text()
	tenantToken := "kubeconfig-token-" + rand.Text()
	registerSecret(password, gitPassword, tenantToken)

	createSecret(t, ns, "db-admin", map[string]string{"values.yaml": "name: stolen\npassword: " + password + "\n"})
	g.Expect(k8s.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "team-values"},
		Data: map[string]string{"values.yaml": "name: shared\npassword: not-a-secret\n"}})).To(Succeed())
	key, err := os.ReadFile("../testdata/e2e/sops-template/age.agekey")
	g.Expect(err).NotTo(HaveOccurred())
	createSecret(t, ns, "sops-age", map[string]string{"billing.agekey": string(key)})
	createSecret(t, ns, "git-creds", map[string]string{"username": "deploy", "password": gitPassword})
	// The kubeconfig names a server of the tenant's, which counts connections.
	conns := createCountedKubeconfig(t, ns, "prod-cluster", tenantToken)

	private := createDeployerSyncs(t, ns, gitPassword)

	t.Run("valuesFrom a ConfigMap it may read", func(t *testing.T) {
		NewWithT(t).Eventually(func(g Gomega) {
			g.Expect(condition(getConfigSync(g, ns, "values-configmap"), configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
			g.Expect(configMapData(g, ns, "shared")).To(HaveKeyWithValue("password", "not-a-secret"))
		}, timeout).Should(Succeed())
	})
	t.Run("valuesFrom a Secret it may not read", func(t *testing.T) {
		deniedRead(t, "valuesFrom a Secret the ServiceAccount may not read", ns, "values-secret", "valuesFrom", "db-admin", "deployer", func() int64 { return 0 })
		err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "stolen"}, &corev1.ConfigMap{})
		NewWithT(t).Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the Secret's values are templated into nothing")
	})
	t.Run("SOPS key Secret it may not read", func(t *testing.T) {
		deniedRead(t, "SOPS key Secret the ServiceAccount may not read", ns, "sops", "decryptionSecretRef", "sops-age", "deployer", func() int64 { return 0 })
		err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "billing-config"}, &corev1.ConfigMap{})
		NewWithT(t).Expect(apierrors.IsNotFound(err)).To(BeTrue())
	})
	t.Run("authSecretRef it may not read", func(t *testing.T) {
		deniedRead(t, "authSecretRef the ServiceAccount may not read", ns, "auth", "authSecretRef", "git-creds", "deployer", private.UploadPacks)
		g := NewWithT(t)
		err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "private-config"}, &corev1.ConfigMap{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue())
		g.Expect(private.UploadPacks()).To(BeZero(), "nothing is fetched with credentials deployer may not read")
	})
	t.Run("kubeConfigSecretRef it may not read", func(t *testing.T) {
		deniedRead(t, "kubeConfigSecretRef the ServiceAccount may not read", ns, "kubeconfig", "kubeConfigSecretRef", "prod-cluster", "deployer", conns.Load)
		g := NewWithT(t)
		g.Expect(conns.Load()).To(BeZero(), "the kubeconfig's server sees no connection")
		err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "remote-config"}, &corev1.ConfigMap{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue())
	})
	for _, name := range []string{"values-configmap", "values-secret", "sops", "auth", "kubeconfig"} {
		for _, s := range []string{password, gitPassword, tenantToken, strings.TrimSpace(lastLine(string(key)))} {
			assertNoLeak(g, ns, name, s)
		}
	}
	for _, s := range []string{password, gitPassword, tenantToken} {
		g.Expect(managerLogs.String()).NotTo(ContainSubstring(s))
	}
}

// createCountedKubeconfig starts a TLS server that counts the connections
// it sees (the test fails if any is made) and creates Secret ns/name
// holding a kubeconfig for it with token; it returns the count.
func createCountedKubeconfig(t *testing.T, ns, name, token string) *atomic.Int64 {
	t.Helper()
	var conns atomic.Int64
	remote := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	remote.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	remote.StartTLS()
	t.Cleanup(func() {
		remote.Close()
		if n := conns.Load(); n > 0 {
			t.Errorf("the kubeconfig's server saw %d connection(s)", n)
		}
	})
	kc := clientcmdapi.NewConfig()
	kc.Clusters["prod"] = &clientcmdapi.Cluster{Server: remote.URL,
		CertificateAuthorityData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: remote.Certificate().Raw})}
	kc.AuthInfos["team"] = &clientcmdapi.AuthInfo{Token: token}
	kc.Contexts["prod"] = &clientcmdapi.Context{Cluster: "prod", AuthInfo: "team"}
	kc.CurrentContext = "prod"
	kcData, err := clientcmd.Write(*kc)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	createSecret(t, ns, name, map[string]string{"value": string(kcData)})
	return &conns
}

// createDeployerSyncs creates, in ns, the repositories and the five
// ConfigSyncs applying as deployer of
// TestTenantReadsOnlyWhatItsServiceAccountMay; it returns the Git server
// that wants gitPassword.
func createDeployerSyncs(t *testing.T, ns, gitPassword string) *testgit.Server {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	server := testgit.Start(t)
	tmpl := server.NewRepo(t, "values.git")
	tmpl.Commit(t, map[string]string{"cm.yaml": valuesTemplate}, "values")
	billing := server.NewRepo(t, "billing.git")
	billing.Commit(t, fixtureFiles(t, "sops-template/repo"), "billing config")
	private := testgit.StartWith(t, testgit.Options{Username: "deploy", Password: gitPassword})
	privateRepo := private.NewRepo(t, "private.git")
	privateRepo.Commit(t, map[string]string{"cm.yaml": configMap("private-config", "blue")}, "private")
	plain := server.NewRepo(t, "plain.git")
	plain.Commit(t, map[string]string{"cm.yaml": configMap("remote-config", "blue")}, "plain")

	asDeployer := func(cs *configsv1.ConfigSync) *configsv1.ConfigSync {
		cs.Spec.ServiceAccountName = "deployer"
		return cs
	}
	kubeconfig := asDeployer(newConfigSync(ns, "kubeconfig", plain.URL, ""))
	kubeconfig.Spec.KubeConfigSecretRef = &configsv1.SecretKeyReference{Name: "prod-cluster"}
	for _, cs := range []*configsv1.ConfigSync{
		asDeployer(withValuesFrom(newConfigSync(ns, "values-secret", tmpl.URL, ""), "Secret", "db-admin")),
		asDeployer(withValuesFrom(newConfigSync(ns, "values-configmap", tmpl.URL, ""), "ConfigMap", "team-values")),
		asDeployer(sopsThenTemplate(ns, "sops", billing.URL, "sops-age")),
		asDeployer(withAuth(newConfigSync(ns, "auth", privateRepo.URL, ""), configsv1.AuthHTTPS, "git-creds")),
		kubeconfig,
	} {
		g.Expect(k8s.Create(ctx, cs)).To(Succeed())
	}
	return private
}

// Given an operator shard that impersonates ServiceAccount "deployer" by
// default (--default-service-account), a ConfigSync that names no
// ServiceAccount reads its valuesFrom as deployer too: a Secret deployer
// may not read is refused, and once deployer is granted "get" on it, the
// same ConfigSync syncs.
func TestDefaultServiceAccountReadsValuesAsItself(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	grantConfigMaps(t, ns, "deployer")
	startShard(t, "default-reader", controllers.Options{Workers: 2, DefaultServiceAccount: "deployer"})
	value := "team-" + rand.Text()
	createSecret(t, ns, "team-secret", map[string]string{"values.yaml": "name: team\npassword: " + value + "\n"})
	repo := testgit.Start(t).NewRepo(t, "values.git")
	repo.Commit(t, map[string]string{"cm.yaml": valuesTemplate}, "values")
	g.Expect(k8s.Create(ctx, inShard(withValuesFrom(newConfigSync(ns, "values", repo.URL, ""), "Secret", "team-secret"), "default-reader"))).To(Succeed())

	deniedRead(t, "valuesFrom a Secret --default-service-account may not read", ns, "values", "valuesFrom", "team-secret", "deployer", func() int64 { return 0 })
	err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "team"}, &corev1.ConfigMap{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue())

	grantRole(t, ns, "read-team-secret", "deployer", rbacv1.PolicyRule{
		APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"team-secret"}, Verbs: []string{"get"}})
	requestReconcile(t, ns, "values")
	g.Eventually(func(g Gomega) {
		g.Expect(condition(getConfigSync(g, ns, "values"), configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(configMapData(g, ns, "team")).To(HaveKeyWithValue("password", value))
	}, timeout).Should(Succeed())
}

// clusterRoleBinding is a manifest binding ClusterRole "view" to a
// ServiceAccount of ns: a cluster-scoped object a tenant could render.
func clusterRoleBinding(name, ns string) string {
	return "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: " + name +
		"\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: view\nsubjects:\n- kind: ServiceAccount\n  name: default\n  namespace: " + ns + "\n"
}

// Given an operator shard with --no-cross-namespace-refs and no
// ServiceAccount, so that it applies as the operator (which may write
// anywhere): a source that renders a ConfigMap into another namespace is
// refused before anything is applied, naming the object, and so is one
// that renders a ClusterRoleBinding, naming it; a source whose objects name
// no namespace lands in the ConfigSync's. On a shard whose admin also set
// --allow-cluster-scoped, the ClusterRoleBinding is applied, and the
// ConfigMap in another namespace is still refused.
func TestRenderedObjectsStayInTheirNamespace(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	a, b := newNamespace(t), newNamespace(t)
	startShard(t, "namespaced", controllers.Options{Workers: 2, NoCrossNamespaceRefs: true})
	startShard(t, "cluster-allowed", controllers.Options{Workers: 2, NoCrossNamespaceRefs: true, AllowClusterScoped: true})
	crbName := "tenant-" + a
	t.Cleanup(func() {
		_ = k8s.Delete(context.Background(), &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: crbName}})
	})

	server := testgit.Start(t)
	own := server.NewRepo(t, "own.git")
	own.Commit(t, map[string]string{"cm.yaml": configMap("own-config", "blue")}, "own")
	reach := server.NewRepo(t, "reach.git")
	reach.Commit(t, map[string]string{
		"mine.yaml":   configMap("mine", "blue"),
		"theirs.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: theirs\n  namespace: " + b + "\ndata:\n  color: red\n",
	}, "reach")
	withBinding := func(name, configMapName string) string {
		repo := server.NewRepo(t, name+".git")
		repo.Commit(t, map[string]string{"cm.yaml": configMap(configMapName, "blue"), "crb.yaml": clusterRoleBinding(crbName, a)}, name)
		return repo.URL
	}

	for _, c := range []struct{ name, url, shard string }{
		{"own", own.URL, "namespaced"},
		{"reach", reach.URL, "namespaced"},
		{"crb", withBinding("crb", "with-binding"), "namespaced"},
		{"reach-allowed", reach.URL, "cluster-allowed"},
		{"crb-allowed", withBinding("crb-allowed", "with-binding-allowed"), "cluster-allowed"},
	} {
		g.Expect(k8s.Create(ctx, inShard(newConfigSync(a, c.name, c.url, ""), c.shard))).To(Succeed())
	}

	g.Eventually(func(g Gomega) {
		g.Expect(condition(getConfigSync(g, a, "own"), configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(configMapData(g, a, "own-config")).To(HaveKeyWithValue("color", "blue"))
	}, timeout).Should(Succeed())
	t.Run("a ConfigMap in another namespace is refused", func(t *testing.T) {
		refusedOutsideItsNamespace(t, a, "rendered ConfigMap in another namespace", "reach", "ConfigMap theirs is in namespace "+b)
		configMapsNotApplied(t, client.ObjectKey{Namespace: a, Name: "mine"}, client.ObjectKey{Namespace: b, Name: "theirs"})
	})
	t.Run("a ClusterRoleBinding is refused", func(t *testing.T) {
		refusedOutsideItsNamespace(t, a, "rendered ClusterRoleBinding", "crb", "ClusterRoleBinding "+crbName+" is cluster-scoped", "--allow-cluster-scoped")
		configMapsNotApplied(t, client.ObjectKey{Namespace: a, Name: "with-binding"})
	})
	t.Run("--allow-cluster-scoped applies the ClusterRoleBinding", func(t *testing.T) {
		NewWithT(t).Eventually(func(g Gomega) {
			g.Expect(condition(getConfigSync(g, a, "crb-allowed"), configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
			binding := &rbacv1.ClusterRoleBinding{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Name: crbName}, binding)).To(Succeed())
			g.Expect(binding.Labels).To(HaveKeyWithValue(configsv1.LabelName, "crb-allowed"))
			g.Expect(configMapData(g, a, "with-binding-allowed")).To(HaveKeyWithValue("color", "blue"))
		}, timeout).Should(Succeed())
	})
	t.Run("--allow-cluster-scoped still refuses another namespace", func(t *testing.T) {
		refusedOutsideItsNamespace(t, a, "rendered ConfigMap in another namespace, cluster-scoped allowed", "reach-allowed", "ConfigMap theirs is in namespace "+b)
		configMapsNotApplied(t, client.ObjectKey{Namespace: a, Name: "mine"}, client.ObjectKey{Namespace: b, Name: "theirs"})
	})
}

// refusedOutsideItsNamespace waits until ConfigSync ns/name is refused by
// --no-cross-namespace-refs, with a message naming what, and records the
// escape in docs/reliability.md.
func refusedOutsideItsNamespace(t *testing.T, ns, escape, name string, what ...string) {
	g := NewWithT(t)
	g.Eventually(func(g Gomega) {
		cs := denied(g, ns, name, append([]string{"--no-cross-namespace-refs"}, what...)...)
		g.Expect(cs.Status.Inventory).To(BeEmpty())
	}, timeout).Should(Succeed(), name)
	ready := condition(getConfigSync(g, ns, name), configsv1.ConditionReady)
	t.Logf("%s: %s", name, ready.Message)
	recordEscape(t, escape, configsv1.ReasonAccessDenied+": "+quote("--no-cross-namespace-refs"), ready.Reason, 0, len(appliedBy(g, ns, name)))
}

// configMapsNotApplied checks that none of the ConfigMaps keys exists.
func configMapsNotApplied(t *testing.T, keys ...client.ObjectKey) {
	ctx := context.Background()
	for _, key := range keys {
		err := k8s.Get(ctx, key, &corev1.ConfigMap{})
		NewWithT(t).Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%s must not be applied", key)
	}
}
