package controllers

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// kubeconfigOf writes a kubeconfig whose current context is cluster and user.
func kubeconfigOf(t *testing.T, cluster *clientcmdapi.Cluster, user *clientcmdapi.AuthInfo) []byte {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["target"] = cluster
	cfg.AuthInfos["tenant"] = user
	cfg.Contexts["target"] = &clientcmdapi.Context{Cluster: "target", AuthInfo: "tenant"}
	cfg.CurrentContext = "target"
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

const unitSecret = "s3cret-VALUE-never-shown"

// Each unsafe field is refused under the default policy, naming the field
// and quoting nothing of the kubeconfig; file references stay refused even
// when the admin allows plugins and insecure TLS.
func TestKubeconfigPolicyRefusesUnsafeFields(t *testing.T) {
	server := "https://203.0.113.7:6443"
	ca := []byte("-----BEGIN CERTIFICATE-----\n" + unitSecret + "\n-----END CERTIFICATE-----\n")
	path := "/var/run/secrets/kubernetes.io/serviceaccount/" + unitSecret
	everything := KubeconfigPolicy{AllowExec: true, InsecureTLS: true}
	cases := []struct {
		name    string
		cluster clientcmdapi.Cluster
		user    clientcmdapi.AuthInfo
		policy  KubeconfigPolicy
		field   string
	}{
		{"tokenFile", clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}, clientcmdapi.AuthInfo{TokenFile: path}, KubeconfigPolicy{}, "tokenFile"},
		{"tokenFile beside a token", clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}, clientcmdapi.AuthInfo{Token: unitSecret, TokenFile: path}, KubeconfigPolicy{}, "tokenFile"},
		{"tokenFile, everything else allowed", clientcmdapi.Cluster{Server: server, InsecureSkipTLSVerify: true}, clientcmdapi.AuthInfo{TokenFile: path}, everything, "tokenFile"},
		{"client-certificate", clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}, clientcmdapi.AuthInfo{ClientCertificate: path, ClientKeyData: ca}, everything, "client-certificate"},
		{"client-key", clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}, clientcmdapi.AuthInfo{ClientCertificateData: ca, ClientKey: path}, everything, "client-key"},
		{"certificate-authority", clientcmdapi.Cluster{Server: server, CertificateAuthority: path}, clientcmdapi.AuthInfo{Token: unitSecret}, everything, "certificate-authority"},
		{"exec", clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}, clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{
			APIVersion: "client.authentication.k8s.io/v1", Command: "/bin/sh", Args: []string{"-c", unitSecret}, InteractiveMode: clientcmdapi.NeverExecInteractiveMode}},
			KubeconfigPolicy{InsecureTLS: true}, "exec"},
		{"auth-provider", clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}, clientcmdapi.AuthInfo{AuthProvider: &clientcmdapi.AuthProviderConfig{
			Name: "oidc", Config: map[string]string{"id-token": unitSecret}}}, KubeconfigPolicy{InsecureTLS: true}, "auth-provider"},
		{"auth-provider naming a file", clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}, clientcmdapi.AuthInfo{AuthProvider: &clientcmdapi.AuthProviderConfig{
			Name: "oidc", Config: map[string]string{"idp-certificate-authority": path}}}, everything, "auth-provider.config.idp-certificate-authority"},
		{"insecure-skip-tls-verify", clientcmdapi.Cluster{Server: server, InsecureSkipTLSVerify: true}, clientcmdapi.AuthInfo{Token: unitSecret}, KubeconfigPolicy{AllowExec: true}, "insecure-skip-tls-verify"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := restConfigFromKubeconfig(kubeconfigOf(t, &c.cluster, &c.user), c.policy)
			if err == nil {
				t.Fatalf("accepted: %+v", cfg)
			}
			if !errors.Is(err, errKubeconfigRefused) {
				t.Fatalf("want a refusal, got %v", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.field+" is not allowed") {
				t.Errorf("the message does not name %s: %s", c.field, msg)
			}
			if strings.Contains(msg, unitSecret) || strings.Contains(msg, "203.0.113.7") {
				t.Errorf("the message quotes the kubeconfig: %s", msg)
			}
		})
	}
}

// Every refused field of a kubeconfig is named at once, so the tenant fixes
// them in one go.
func TestKubeconfigPolicyNamesEveryRefusedField(t *testing.T) {
	data := kubeconfigOf(t, &clientcmdapi.Cluster{Server: "https://x", InsecureSkipTLSVerify: true},
		&clientcmdapi.AuthInfo{TokenFile: "/t", Exec: &clientcmdapi.ExecConfig{APIVersion: "client.authentication.k8s.io/v1", Command: "true"}})
	_, err := restConfigFromKubeconfig(data, KubeconfigPolicy{})
	for _, f := range []string{"tokenFile", "exec", "insecure-skip-tls-verify"} {
		if err == nil || !strings.Contains(err.Error(), f+" is not allowed") {
			t.Errorf("%s not named: %v", f, err)
		}
	}
}

// A kubeconfig with inline data only works, and yields exactly its own
// credentials; the plugins and insecure TLS work when the admin allows them.
func TestKubeconfigPolicyAcceptsInlineData(t *testing.T) {
	ca, cert, key := []byte("ca-pem"), []byte("cert-pem"), []byte("key-pem")
	cfg, err := restConfigFromKubeconfig(kubeconfigOf(t,
		&clientcmdapi.Cluster{Server: "https://cluster.example:6443", CertificateAuthorityData: ca, TLSServerName: "api"},
		&clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key, Token: "tok", Impersonate: "someone"}), KubeconfigPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://cluster.example:6443" || string(cfg.CAData) != "ca-pem" || string(cfg.CertData) != "cert-pem" ||
		string(cfg.KeyData) != "key-pem" || cfg.BearerToken != "tok" || cfg.ServerName != "api" || cfg.Impersonate.UserName != "someone" {
		t.Errorf("config: %+v", cfg)
	}
	if cfg.Insecure || cfg.ExecProvider != nil || cfg.AuthProvider != nil || cfg.BearerTokenFile != "" || cfg.CAFile != "" || cfg.CertFile != "" || cfg.KeyFile != "" {
		t.Errorf("config holds more than the kubeconfig gave: %+v", cfg)
	}

	cfg, err = restConfigFromKubeconfig(kubeconfigOf(t, &clientcmdapi.Cluster{Server: "https://cluster.example"},
		&clientcmdapi.AuthInfo{Username: "u", Password: "p"}), KubeconfigPolicy{})
	if err != nil || cfg.Username != "u" || cfg.Password != "p" {
		t.Errorf("basic auth: %v %+v", err, cfg)
	}

	exec := &clientcmdapi.ExecConfig{APIVersion: "client.authentication.k8s.io/v1", Command: "get-token", InteractiveMode: clientcmdapi.NeverExecInteractiveMode}
	cfg, err = restConfigFromKubeconfig(kubeconfigOf(t, &clientcmdapi.Cluster{Server: "https://cluster.example", InsecureSkipTLSVerify: true},
		&clientcmdapi.AuthInfo{Exec: exec}), KubeconfigPolicy{AllowExec: true, InsecureTLS: true})
	if err != nil || cfg.ExecProvider == nil || cfg.ExecProvider.Command != "get-token" || !cfg.Insecure {
		t.Errorf("allowed exec and insecure TLS: %v %+v", err, cfg)
	}
}

// A kubeconfig that does not parse, or has no usable current context, is
// refused as invalid (not as a policy refusal), quoting nothing.
func TestKubeconfigInvalidQuotesNothing(t *testing.T) {
	noContext := clientcmdapi.NewConfig()
	noContext.Clusters["c"] = &clientcmdapi.Cluster{Server: "https://" + unitSecret}
	noCurrent, _ := clientcmd.Write(*noContext)
	noContext.CurrentContext = "missing-" + unitSecret
	missing, _ := clientcmd.Write(*noContext)
	for name, data := range map[string][]byte{
		"not yaml":                  []byte("{" + unitSecret),
		"not a kubeconfig":          []byte("clusters: " + unitSecret + "\n"),
		"no current-context":        noCurrent,
		"current-context not found": missing,
		"no server":                 kubeconfigOf(t, &clientcmdapi.Cluster{}, &clientcmdapi.AuthInfo{Token: unitSecret}),
	} {
		_, err := restConfigFromKubeconfig(data, KubeconfigPolicy{})
		if err == nil || errors.Is(err, errKubeconfigRefused) || strings.Contains(err.Error(), unitSecret) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// The config for another cluster carries none of the operator's own
// credentials, TLS settings, host or impersonation; only its client tuning.
func TestTenantConfigInheritsNoCredentialOfTheOperator(t *testing.T) {
	local := &rest.Config{
		Host: "https://operator.local", BearerToken: "operator-token", BearerTokenFile: "/var/run/secrets/token",
		Username: "op", Password: "op-pass",
		TLSClientConfig: rest.TLSClientConfig{CAFile: "/ca", CertFile: "/cert", KeyFile: "/key", CAData: []byte("op-ca"), CertData: []byte("op-cert"), KeyData: []byte("op-key"), Insecure: true},
		Impersonate:     rest.ImpersonationConfig{UserName: "op-user"},
		ExecProvider:    &clientcmdapi.ExecConfig{Command: "op-plugin"},
		AuthProvider:    &clientcmdapi.AuthProviderConfig{Name: "op"},
		Proxy:           http.ProxyFromEnvironment,
		QPS:             42, Burst: 84, UserAgent: "configsync-test",
	}
	cfg, err := tenantRESTConfig(local, kubeconfigOf(t, &clientcmdapi.Cluster{Server: "https://tenant.example", CertificateAuthorityData: []byte("tenant-ca")},
		clientcmdapi.NewAuthInfo()), KubeconfigPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	want := &rest.Config{Host: "https://tenant.example", TLSClientConfig: rest.TLSClientConfig{CAData: []byte("tenant-ca")}, QPS: 42, Burst: 84, UserAgent: "configsync-test"}
	if cfg.Host != want.Host || string(cfg.CAData) != "tenant-ca" || cfg.QPS != 42 || cfg.Burst != 84 || cfg.UserAgent != want.UserAgent {
		t.Errorf("config: %+v", cfg)
	}
	if cfg.BearerToken != "" || cfg.BearerTokenFile != "" || cfg.Username != "" || cfg.Password != "" ||
		cfg.CAFile != "" || cfg.CertFile != "" || cfg.KeyFile != "" || cfg.CertData != nil || cfg.KeyData != nil || cfg.Insecure ||
		cfg.Impersonate.UserName != "" || cfg.ExecProvider != nil || cfg.AuthProvider != nil || cfg.Proxy != nil {
		t.Errorf("the operator's configuration leaked into the tenant's: %+v", cfg)
	}
}
