package controllers

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// KubeconfigPolicy is what the cluster admin allows in the kubeconfigs that
// ConfigSyncs name (spec.kubeConfigSecretRef). A kubeconfig is tenant input:
// by default only inline credentials are accepted (certificate-authority-data,
// client-certificate-data, client-key-data, token, username/password), so a
// tenant can reach another cluster with its own credentials and nothing of
// the operator's. File references (tokenFile, certificate-authority,
// client-certificate, client-key) are never accepted: no tenant has a
// legitimate use for naming the operator's files.
type KubeconfigPolicy struct {
	// AllowExec accepts exec credential plugins and auth-provider plugins
	// (manager flag --kubeconfig-allow-exec). They run programs, or reach
	// identity providers, inside the operator's pod with its environment.
	AllowExec bool
	// InsecureTLS accepts insecure-skip-tls-verify: true (manager flag
	// --kubeconfig-insecure-tls).
	InsecureTLS bool
}

// errKubeconfigRefused marks a kubeconfig refused for a field the policy
// does not allow (reason AccessDenied), as opposed to one that does not parse.
var errKubeconfigRefused = errors.New("refused")

// refusedFieldsError lists the refused fields of a kubeconfig, by their
// kubeconfig keys and never their values: the message goes to the
// ConfigSync's status and Events.
type refusedFieldsError struct{ fields []string }

func (e *refusedFieldsError) Error() string {
	return "refused: " + strings.Join(e.fields, "; ")
}

func (e *refusedFieldsError) Unwrap() error { return errKubeconfigRefused }

// restConfigFromKubeconfig turns a tenant's kubeconfig into a rest.Config
// under policy p. The current context's cluster and user are checked before
// client-go looks at them (client-go reads a tokenFile while it parses, and
// the transport reads certificate files and runs plugins later), then only
// they are handed to client-go, and the result is checked again. Nothing of
// the operator's own configuration is in the result.
//
// Errors never quote the kubeconfig: not a value, not a name in it.
func restConfigFromKubeconfig(data []byte, p KubeconfigPolicy) (*rest.Config, error) {
	raw, err := clientcmd.Load(data)
	if err != nil {
		// The parser's message may quote the file: say only that it failed.
		return nil, errors.New("not a valid kubeconfig")
	}
	if raw.CurrentContext == "" {
		return nil, errors.New("not a valid kubeconfig: no current-context")
	}
	kctx, ok := raw.Contexts[raw.CurrentContext]
	if !ok || kctx == nil {
		return nil, errors.New("not a valid kubeconfig: current-context names no context")
	}
	cluster, ok := raw.Clusters[kctx.Cluster]
	if !ok || cluster == nil {
		return nil, errors.New("not a valid kubeconfig: the current context names no cluster")
	}
	if cluster.Server == "" {
		return nil, errors.New("not a valid kubeconfig: the current context's cluster has no server")
	}
	user := raw.AuthInfos[kctx.AuthInfo]
	if kctx.AuthInfo != "" && user == nil {
		return nil, errors.New("not a valid kubeconfig: the current context names no user")
	}
	if user == nil {
		user = clientcmdapi.NewAuthInfo() // anonymous
	}
	if refused := refusedFields(cluster, user, p); len(refused) > 0 {
		return nil, &refusedFieldsError{fields: refused}
	}

	// Hand client-go only what was checked: one cluster, one user, one
	// context, under names of our own, no overrides, no prompt, no
	// persister (an auth-provider cannot write back into anything).
	only := clientcmdapi.NewConfig()
	only.Clusters["cluster"] = cluster.DeepCopy()
	only.AuthInfos["user"] = user.DeepCopy()
	only.Contexts["context"] = &clientcmdapi.Context{Cluster: "cluster", AuthInfo: "user"}
	only.CurrentContext = "context"
	cfg, err := clientcmd.NewNonInteractiveClientConfig(*only, "context", &clientcmd.ConfigOverrides{}, nil).ClientConfig()
	if err != nil {
		return nil, errors.New("not a valid kubeconfig")
	}
	// Belt and braces: whatever client-go does with the fields above, the
	// result names no file and holds nothing the policy refuses.
	if cfg.BearerTokenFile != "" || cfg.CAFile != "" || cfg.CertFile != "" || cfg.KeyFile != "" ||
		(!p.AllowExec && (cfg.ExecProvider != nil || cfg.AuthProvider != nil)) ||
		(!p.InsecureTLS && cfg.Insecure) {
		return nil, fmt.Errorf("%w: the kubeconfig resolved to a file reference, a plugin or insecure TLS", errKubeconfigRefused)
	}
	return cfg, nil
}

// refusedFields names, by kubeconfig key, each field of cluster and user
// that p does not allow.
func refusedFields(cluster *clientcmdapi.Cluster, user *clientcmdapi.AuthInfo, p KubeconfigPolicy) []string {
	const file = "a file reference; the operator never reads files a kubeconfig names"
	var out []string
	refuse := func(field, why string) { out = append(out, field+" is not allowed ("+why+")") }

	if user.TokenFile != "" {
		refuse("users[].user.tokenFile", file+": put the token in token")
	}
	if user.ClientCertificate != "" {
		refuse("users[].user.client-certificate", file+": use client-certificate-data")
	}
	if user.ClientKey != "" {
		refuse("users[].user.client-key", file+": use client-key-data")
	}
	if cluster.CertificateAuthority != "" {
		refuse("clusters[].cluster.certificate-authority", file+": use certificate-authority-data")
	}
	if user.Exec != nil && !p.AllowExec {
		refuse("users[].user.exec", "credential plugins run programs in the operator; the cluster admin allows them with --kubeconfig-allow-exec")
	}
	if user.AuthProvider != nil {
		if !p.AllowExec {
			refuse("users[].user.auth-provider", "auth-provider plugins act with the operator's environment; the cluster admin allows them with --kubeconfig-allow-exec")
		}
		// Even where plugins are allowed, a plugin's option never names
		// one of the operator's files (oidc's idp-certificate-authority).
		for k := range user.AuthProvider.Config {
			if isFileOption(k) {
				refuse("users[].user.auth-provider.config."+k, file)
			}
		}
	}
	if cluster.InsecureSkipTLSVerify && !p.InsecureTLS {
		refuse("clusters[].cluster.insecure-skip-tls-verify", "the server's certificate must be verified: give certificate-authority-data; the cluster admin allows unverified TLS with --kubeconfig-insecure-tls")
	}
	return out
}

// isFileOption is true of the auth-provider options that name files
// (oidc's idp-certificate-authority; any "*-file" or "*-path" by convention).
func isFileOption(key string) bool {
	k := strings.ToLower(key)
	return k == "idp-certificate-authority" || strings.HasSuffix(k, "-file") || strings.HasSuffix(k, "-path") ||
		strings.HasSuffix(k, "_file") || strings.HasSuffix(k, "_path")
}

// tenantRESTConfig is the rest.Config of a kubeconfig, with the local
// config's client tuning (rates, user agent, timeout) and nothing else of it:
// no credential, TLS setting or host of the operator's crosses over.
func tenantRESTConfig(local *rest.Config, kubeconfig []byte, p KubeconfigPolicy) (*rest.Config, error) {
	cfg, err := restConfigFromKubeconfig(kubeconfig, p)
	if err != nil {
		return nil, err
	}
	if local != nil {
		cfg.QPS, cfg.Burst, cfg.UserAgent, cfg.Timeout = local.QPS, local.Burst, local.UserAgent, local.Timeout
	}
	return cfg, nil
}
