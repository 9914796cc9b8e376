package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/apply"
)

// serviceAccountOf is the ServiceAccount (of cs's namespace) that cs reads
// and applies as: its own spec.serviceAccountName, or the manager's
// --default-service-account; "" when it acts as the operator itself.
func (r *ConfigSyncReconciler) serviceAccountOf(cs *configsv1.ConfigSync) string {
	if cs.Spec.ServiceAccountName != "" {
		return cs.Spec.ServiceAccountName
	}
	return r.opts.DefaultServiceAccount
}

// serviceAccountUser is the user name a ServiceAccount authenticates as.
func serviceAccountUser(ns, sa string) string {
	return "system:serviceaccount:" + ns + ":" + sa
}

// readInput reads a Secret or ConfigMap that cs's spec names (what: the
// field naming it, as "valuesFrom" or "authSecretRef") into obj. With a
// ServiceAccount configured for cs it reads as that ServiceAccount on the
// local cluster, where the object lives even when cs applies to another
// cluster: the spec's author gets nothing its own identity could not read.
// Without one, the operator reads (the behaviour of a single-tenant
// cluster; docs/security.md asks shared clusters to set
// --default-service-account). Reads go straight to the apiserver, never
// through a cache.
//
// A refusal is AccessDenied naming the object and the identity, and quoting
// nothing of the apiserver's answer. Other errors (NotFound among them) are
// returned as the apiserver gave them. RBAC is checked before the object is
// looked up, so a ServiceAccount without "get" cannot tell whether it exists.
func (r *ConfigSyncReconciler) readInput(ctx context.Context, cs *configsv1.ConfigSync, what, kind string, key client.ObjectKey, obj client.Object) error {
	sa := r.serviceAccountOf(cs)
	if sa == "" {
		return r.APIReader.Get(ctx, key, obj)
	}
	if r.clusters == nil {
		return configErr(configsv1.ReasonAccessDenied, fmt.Errorf("%s %s %s: this manager cannot read as ServiceAccount %s", what, kind, key, sa))
	}
	user := serviceAccountUser(cs.Namespace, sa)
	reader, err := r.clusters.readerAs(user)
	if err != nil {
		return transientErr(configsv1.ReasonAccessDenied, fmt.Errorf("%s %s %s: client for %s: %w", what, kind, key, user, err))
	}
	err = reader.Get(ctx, key, obj)
	if refused := impersonationRefused(user, cs.Namespace, err); refused != nil {
		return refused
	}
	if apierrors.IsForbidden(err) {
		return configErr(configsv1.ReasonAccessDenied, fmt.Errorf(
			"%s %s %s: forbidden to %s, the identity this ConfigSync reads and applies as; it needs \"get\" on that %s",
			what, kind, key, user, kind))
	}
	return err
}

// impersonationRefused is AccessDenied naming the missing binding when err
// is the apiserver's refusal to let the manager impersonate user, a
// ServiceAccount of namespace ns (the admin bound configsync-impersonate in some namespaces
// only), nil otherwise. The refusal comes wrapped in per-object apply
// errors, so it is recognised by the apiserver's words.
func impersonationRefused(user, ns string, err error) error {
	// "cannot impersonate resource \"serviceaccounts\"", or with constrained
	// impersonation (KEP-5284, as this suite's apiserver answers) "cannot
	// impersonate-on:serviceaccount:<verb>".
	if !refusesImpersonation(err) {
		return nil
	}
	return configErr(configsv1.ReasonAccessDenied, fmt.Errorf(
		"the operator may not impersonate %s, the identity this ConfigSync reads and applies as: bind ClusterRole configsync-impersonate to the operator's ServiceAccount with a RoleBinding in namespace %s (docs/security.md)",
		user, ns))
}

// refusesImpersonation says whether err, or a failure of an apply set,
// is a 403 of this apiserver's saying the manager may not impersonate.
func refusesImpersonation(err error) bool {
	var set *apply.SetError
	if errors.As(err, &set) {
		for _, f := range set.Failures {
			if refusesImpersonation(f.Err) {
				return true
			}
		}
		return false
	}
	return apierrors.IsForbidden(err) && strings.Contains(err.Error(), " cannot impersonate")
}

// readerAs returns an uncached reader of the local cluster that
// impersonates user, one per identity for the life of the manager (its
// HTTP connections are reused from sync to sync). It shares the local REST
// mapping: it only reads Secrets and ConfigMaps.
func (c *clusters) readerAs(user string) (client.Reader, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rd, ok := c.readers[user]; ok {
		return rd, nil
	}
	cfg := rest.CopyConfig(c.local)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	cl, err := client.New(cfg, client.Options{Scheme: c.scheme, HTTPClient: httpClient, Mapper: c.localMap})
	if err != nil {
		return nil, err
	}
	if c.readers == nil {
		c.readers = map[string]client.Reader{}
	}
	c.readers[user] = cl
	return cl, nil
}

// maxRefusedNamed bounds how many refused objects a message names.
const maxRefusedNamed = 10

// checkRenderedNamespaces holds, under --no-cross-namespace-refs, the
// rendered objects to cs's namespace before anything of the set is
// applied: a namespaced object in another namespace is refused, and so is
// any cluster-scoped object (ClusterRoleBinding, Namespace, CRD...) unless
// the admin allows them (--allow-cluster-scoped). Whether a kind is
// namespaced is the cluster's answer (the applier's REST mapping), or the
// scope of a CRD of the same set; a kind neither knows is refused for now
// and retried, since the check cannot be made. Namespaced objects that name
// no namespace are given cs's by the apply, as without the flag.
//
// This holds even when cs applies as the operator itself, whose apply
// identity may write anywhere.
func (r *ConfigSyncReconciler) checkRenderedNamespaces(cs *configsv1.ConfigSync, applier *apply.Manager, objs []*unstructured.Unstructured) error {
	if !r.opts.NoCrossNamespaceRefs || len(objs) == 0 {
		return nil
	}
	return holdToNamespace(cs.Namespace, r.opts.AllowClusterScoped, applier.Client.RESTMapper(), objs)
}

// holdToNamespace is checkRenderedNamespaces for namespace ns, with the
// cluster's REST mapping.
func holdToNamespace(ns string, allowClusterScoped bool, mapper meta.RESTMapper, objs []*unstructured.Unstructured) error {
	crdScopes := definedScopes(objs)
	var refused, unknown []string
	clusterScoped := false
	for _, obj := range objs {
		gvk := obj.GroupVersionKind()
		name := obj.GetName()
		namespaced, known := scopeOf(mapper, gvk, crdScopes)
		switch {
		case !known:
			unknown = append(unknown, fmt.Sprintf("%s %s (apiVersion %s)", gvk.Kind, name, gvk.GroupVersion()))
		case !namespaced:
			if !allowClusterScoped {
				refused = append(refused, fmt.Sprintf("%s %s is cluster-scoped", gvk.Kind, name))
				clusterScoped = true
			}
		case obj.GetNamespace() != "" && obj.GetNamespace() != ns:
			refused = append(refused, fmt.Sprintf("%s %s is in namespace %s", gvk.Kind, name, obj.GetNamespace()))
		}
	}
	if len(refused) > 0 {
		msg := fmt.Sprintf("the source renders objects outside namespace %s, refused on this operator (--no-cross-namespace-refs): %s",
			ns, nameSome(refused))
		if clusterScoped {
			msg += "; the cluster admin allows cluster-scoped kinds with --allow-cluster-scoped"
		}
		return configErr(configsv1.ReasonAccessDenied, fmt.Errorf("%s", msg))
	}
	if len(unknown) > 0 {
		// Its CRD may be on its way: retry with backoff.
		return transientErr(configsv1.ReasonAccessDenied, fmt.Errorf(
			"the cluster serves no such kind, so whether it stays in namespace %s cannot be checked (--no-cross-namespace-refs): %s",
			ns, nameSome(unknown)))
	}
	return nil
}

func nameSome(items []string) string {
	if len(items) <= maxRefusedNamed {
		return strings.Join(items, "; ")
	}
	return strings.Join(items[:maxRefusedNamed], "; ") + fmt.Sprintf("; and %d more", len(items)-maxRefusedNamed)
}

// scopeOf says whether gvk is namespaced; known is false when neither the
// cluster nor a CRD of the set defines it.
func scopeOf(mapper meta.RESTMapper, gvk schema.GroupVersionKind, crdScopes map[schema.GroupKind]bool) (namespaced, known bool) {
	if mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err == nil {
		return mapping.Scope.Name() == meta.RESTScopeNameNamespace, true
	}
	namespaced, known = crdScopes[gvk.GroupKind()]
	return namespaced, known
}

// definedScopes maps the kinds the CRDs of objs define to whether they are
// namespaced.
func definedScopes(objs []*unstructured.Unstructured) map[schema.GroupKind]bool {
	out := map[schema.GroupKind]bool{}
	for _, obj := range objs {
		gvk := obj.GroupVersionKind()
		if gvk.Group != "apiextensions.k8s.io" || gvk.Kind != "CustomResourceDefinition" {
			continue
		}
		group, _, _ := unstructured.NestedString(obj.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(obj.Object, "spec", "names", "kind")
		scope, _, _ := unstructured.NestedString(obj.Object, "spec", "scope")
		if kind != "" {
			out[schema.GroupKind{Group: group, Kind: kind}] = scope == "Namespaced"
		}
	}
	return out
}
