package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/apply"
	"github.com/configsync/configsync/desired"
	"github.com/configsync/configsync/renderers"
)

// clusters hands out the apply.Manager a ConfigSync applies with: the
// manager's own for the local cluster and identity, or one built for another
// cluster (spec.kubeConfigSecretRef) and/or a tenant's ServiceAccount
// (spec.serviceAccountName), cached so that its HTTP connections, REST
// mapping and memory of applied objects survive from sync to sync. A
// kubeconfig is keyed by its Secret's resourceVersion: a rotated Secret gets
// a new client, and the old one is dropped.
type clusters struct {
	local      *rest.Config
	localMap   meta.RESTMapper
	scheme     *runtime.Scheme
	concurrent int

	// policy restricts the kubeconfigs of ConfigSyncs (Options.Kubeconfig).
	policy KubeconfigPolicy

	mu    sync.Mutex
	cache map[string]*apply.Manager // key: identity + "|" + Secret version
	// readers read what a ConfigSync's spec names as its ServiceAccount
	// (see readInput); key: the user name impersonated.
	readers map[string]client.Reader
}

// kubeconfigKeys are the Secret keys read, in order, when the reference names none.
var kubeconfigKeys = []string{"value", "kubeconfig"}

// applierFor returns the apply.Manager for cs, or def when cs applies
// locally as the manager itself.
func (r *ConfigSyncReconciler) applierFor(ctx context.Context, cs *configsv1.ConfigSync) (*apply.Manager, error) {
	sa := r.serviceAccountOf(cs)
	ref := cs.Spec.KubeConfigSecretRef
	if ref == nil && sa == "" {
		return r.Applier, nil
	}
	if r.clusters == nil {
		return nil, configErr(configsv1.ReasonApplyFailed, fmt.Errorf("this manager cannot build clients for other clusters or identities"))
	}
	identity, version := "local", ""
	var secret *corev1.Secret
	if ref != nil {
		secret = &corev1.Secret{}
		key := client.ObjectKey{Namespace: cs.Namespace, Name: ref.Name}
		// Read as the ServiceAccount, when one is set, on this cluster
		// (where the Secret is), whichever cluster it applies to.
		if err := r.readInput(ctx, cs, "kubeConfigSecretRef", "Secret", key, secret); err != nil {
			var se *stageError
			if errors.As(err, &se) {
				return nil, err
			}
			return nil, transientErr(configsv1.ReasonApplyFailed, fmt.Errorf("read kubeconfig Secret %s: %w", key, err))
		}
		identity, version = "kubeconfig:"+key.String(), string(secret.UID)+"/"+secret.ResourceVersion
	}
	if sa != "" {
		// The ServiceAccount is the ConfigSync's namespace's, on the target cluster.
		identity += "|sa:" + cs.Namespace + "/" + sa
	}
	if m := r.clusters.get(identity, version); m != nil {
		return m, nil
	}
	var cfg *rest.Config
	if secret == nil {
		cfg = rest.CopyConfig(r.clusters.local)
	} else {
		// Another cluster: the config is the kubeconfig's alone (restricted
		// by the admin's policy), never the operator's with parts replaced.
		data, err := kubeconfigData(secret, ref.Key)
		if err != nil {
			return nil, configErr(configsv1.ReasonApplyFailed, fmt.Errorf("kubeconfig Secret %s/%s: %w", cs.Namespace, ref.Name, err))
		}
		if cfg, err = tenantRESTConfig(r.clusters.local, data, r.clusters.policy); err != nil {
			reason := configsv1.ReasonApplyFailed
			if errors.Is(err, errKubeconfigRefused) {
				reason = configsv1.ReasonAccessDenied
			}
			return nil, configErr(reason, fmt.Errorf("kubeconfig Secret %s/%s: %w", cs.Namespace, ref.Name, err))
		}
	}
	if sa != "" {
		// Replaces any impersonation the kubeconfig asked for.
		cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + cs.Namespace + ":" + sa}
	}
	m, err := r.clusters.build(cfg, secret == nil)
	if err != nil {
		return nil, transientErr(configsv1.ReasonApplyFailed, fmt.Errorf("client for %s: %w", identity, err))
	}
	r.clusters.store(identity, version, m)
	return m, nil
}

func kubeconfigData(secret *corev1.Secret, key string) ([]byte, error) {
	keys := kubeconfigKeys
	if key != "" {
		keys = []string{key}
	}
	for _, k := range keys {
		if data := secret.Data[k]; len(data) > 0 {
			return data, nil
		}
	}
	return nil, fmt.Errorf("no key %s", strings.Join(keys, " or "))
}

func (c *clusters) get(identity, version string) *apply.Manager {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cache[identity+"@"+version]
}

// store keeps m, and drops the clients of older versions of the same Secret.
func (c *clusters) store(identity, version string, m *apply.Manager) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cache == nil {
		c.cache = map[string]*apply.Manager{}
	}
	for k := range c.cache {
		if strings.HasPrefix(k, identity+"@") {
			delete(c.cache, k)
		}
	}
	c.cache[identity+"@"+version] = m
}

// build makes a client for cfg. The local cluster's REST mapping is shared;
// another cluster gets its own.
func (c *clusters) build(cfg *rest.Config, local bool) (*apply.Manager, error) {
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	opts := client.Options{Scheme: c.scheme, HTTPClient: httpClient}
	if local {
		opts.Mapper = c.localMap
	}
	cl, err := client.New(cfg, opts)
	if err != nil {
		return nil, err
	}
	return &apply.Manager{Client: cl, FieldOwner: desired.FieldOwner, Concurrency: c.concurrent}, nil
}

// checkNamespaces refuses, under --no-cross-namespace-refs, a spec that names
// a namespace other than the ConfigSync's own: a target's namespace or a Helm
// release namespace. (Secret references are always in the ConfigSync's
// namespace.) Objects the source renders into other namespaces are the
// tenant ServiceAccount's RBAC to refuse.
func (r *ConfigSyncReconciler) checkNamespaces(cs *configsv1.ConfigSync) error {
	if !r.opts.NoCrossNamespaceRefs {
		return nil
	}
	for _, t := range cs.Spec.Targets {
		if t.Namespace != "" && t.Namespace != cs.Namespace {
			return configErr(configsv1.ReasonAccessDenied, fmt.Errorf("target %s/%s is in namespace %s: cross-namespace references are disabled on this operator (--no-cross-namespace-refs)", t.Type, t.Name, t.Namespace))
		}
	}
	for i, step := range cs.Spec.Render {
		if step.Helm != nil && step.Helm.Namespace != "" && step.Helm.Namespace != cs.Namespace {
			return configErr(configsv1.ReasonAccessDenied, fmt.Errorf("%s releases into namespace %s: cross-namespace references are disabled on this operator (--no-cross-namespace-refs)", renderers.StepName(i, step), step.Helm.Namespace))
		}
	}
	return nil
}
