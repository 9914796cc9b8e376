package controllers_test

import (
	"context"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
)

// The CRD generated from the API markers rejects what the API forbids, at
// admission, before the operator ever sees it.
func TestCRDRejectsInvalidSpecs(t *testing.T) {
	ns := newNamespace(t)
	tests := []struct {
		name   string
		mutate func(*configsv1.ConfigSync)
		want   string
	}{
		{"unknown authMethod", func(cs *configsv1.ConfigSync) { cs.Spec.Source.Git.AuthMethod = "ftp" }, `Unsupported value: "ftp"`},
		{"auth without secret", func(cs *configsv1.ConfigSync) { cs.Spec.Source.Git.AuthMethod = configsv1.AuthHTTPS }, "authSecretRef is required"},
		{"unknown target type", func(cs *configsv1.ConfigSync) {
			cs.Spec.Targets = []configsv1.Target{{Type: "Pod", Name: "x"}}
		}, `Unsupported value: "Pod"`},
		{"Object target without kind", func(cs *configsv1.ConfigSync) {
			cs.Spec.Targets = []configsv1.Target{{Type: configsv1.TargetObject, Name: "x"}}
		}, "apiVersion and kind are set exactly when type is Object"},
		{"two renderers in one step", func(cs *configsv1.ConfigSync) {
			cs.Spec.Render = []configsv1.RenderStep{{
				Kustomize: &configsv1.KustomizeStep{Path: "."},
				Jsonnet:   &configsv1.JsonnetStep{Entrypoint: "main.jsonnet"},
			}}
		}, "exactly one of sops, template, kustomize, jsonnet, helm"},
		{"empty render step", func(cs *configsv1.ConfigSync) { cs.Spec.Render = []configsv1.RenderStep{{}} }, "exactly one of"},
		{"path escaping the repository", func(cs *configsv1.ConfigSync) { cs.Spec.Source.Git.Path = "config/../../etc" }, "stay inside the repository"},
		{"absolute path", func(cs *configsv1.ConfigSync) { cs.Spec.Source.Git.Path = "/etc" }, "stay inside the repository"},
		{"repoURL without a scheme", func(cs *configsv1.ConfigSync) { cs.Spec.Source.Git.RepoURL = "example.com/repo.git" }, "spec.source.git.repoURL"},
		{"both repoURL and repo", func(cs *configsv1.ConfigSync) { cs.Spec.Source.Git.Repo = "https://example.com/org/other.git" }, "set exactly one of repoURL and repo"},
		{"neither repoURL nor repo", func(cs *configsv1.ConfigSync) { cs.Spec.Source.Git.RepoURL = "" }, "set exactly one of repoURL and repo"},
		{"rollback to something that is no SHA", func(cs *configsv1.ConfigSync) {
			cs.Spec.Rollback = &configsv1.Rollback{ToRevision: "not a sha"}
		}, "spec.rollback.toRevision"},
		{"helm version without repoURL", func(cs *configsv1.ConfigSync) {
			cs.Spec.Render = []configsv1.RenderStep{{Helm: &configsv1.HelmStep{Chart: "charts/app", Version: "^1.0"}}}
		}, "version, digest and authSecretRef need repoURL"},
		{"helm digest without repoURL", func(cs *configsv1.ConfigSync) {
			cs.Spec.Render = []configsv1.RenderStep{{Helm: &configsv1.HelmStep{Chart: "charts/app", Digest: "sha256:" + strings.Repeat("a", 64)}}}
		}, "version, digest and authSecretRef need repoURL"},
		{"helm authSecretRef without repoURL", func(cs *configsv1.ConfigSync) {
			cs.Spec.Render = []configsv1.RenderStep{{Helm: &configsv1.HelmStep{Chart: "charts/app", AuthSecretRef: &configsv1.LocalObjectReference{Name: "creds"}}}}
		}, "version, digest and authSecretRef need repoURL"},
		{"helm repoURL of another scheme", func(cs *configsv1.ConfigSync) {
			cs.Spec.Render = []configsv1.RenderStep{{Helm: &configsv1.HelmStep{RepoURL: "s3://bucket/charts", Chart: "app"}}}
		}, "repoURL must start with https:// or oci://"},
		{"helm remote chart named by a path", func(cs *configsv1.ConfigSync) {
			cs.Spec.Render = []configsv1.RenderStep{{Helm: &configsv1.HelmStep{RepoURL: "https://charts.example.com", Chart: "charts/app"}}}
		}, "chart is the chart's name, not a path"},
		{"helm verify of an OCI chart", func(cs *configsv1.ConfigSync) {
			cs.Spec.Render = []configsv1.RenderStep{{Helm: &configsv1.HelmStep{RepoURL: "oci://registry.example.com/charts", Chart: "app",
				Verify: &configsv1.HelmVerify{KeyringSecretRef: configsv1.LocalObjectReference{Name: "keys"}}}}}
		}, "verify needs a Helm repository repoURL"},
		{"helm digest that is no sha256", func(cs *configsv1.ConfigSync) {
			cs.Spec.Render = []configsv1.RenderStep{{Helm: &configsv1.HelmStep{RepoURL: "oci://registry.example.com/charts", Chart: "app", Digest: "md5:abc"}}}
		}, "spec.render[0].helm.digest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			cs := newConfigSync(ns, "invalid", "https://example.com/org/repo.git", "")
			tt.mutate(cs)
			err := k8s.Create(context.Background(), cs)
			g.Expect(err).To(HaveOccurred())
			g.Expect(err.Error()).To(ContainSubstring(tt.want))
		})
	}
}

// A minimal ConfigSync gets the documented defaults.
func TestCRDDefaults(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	cs := newConfigSync(ns, "defaults", "git@github.com:org/repo.git", "")
	g.Expect(k8s.Create(context.Background(), cs)).To(Succeed())
	g.Expect(cs.Spec.RefreshInterval.Duration.String()).To(Equal("10m0s"))
	g.Expect(*cs.Spec.HistoryLimit).To(BeEquivalentTo(10))
	g.Expect(cs.Spec.Source.Git.AuthMethod).To(Equal(configsv1.AuthNone))
	g.Expect(cs.Spec.Source.Git.Path).To(Equal("."))

	crd := &apiextensionsv1.CustomResourceDefinition{}
	g.Expect(k8s.Get(context.Background(), keyOf("configsyncs.configs.example.io"), crd)).To(Succeed())
	var columns []string
	for _, c := range crd.Spec.Versions[0].AdditionalPrinterColumns {
		columns = append(columns, c.Name)
	}
	g.Expect(columns).To(Equal([]string{"Ready", "Ref", "Revision", "Targets", "Age", "Status"}))
	g.Expect(crd.Spec.Names.ShortNames).To(ConsistOf("csync"))
	g.Expect(crd.Spec.Versions[0].Subresources.Status).NotTo(BeNil())
}

// kubectl resolves a short name through the apiserver's discovery, as this
// test does: csync names ConfigSyncs, and no built-in resource takes it
// (cs is the core group's ComponentStatus, which wins over ours).
func TestTheShortNameListsConfigSyncs(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	g.Expect(k8s.Create(context.Background(), newConfigSync(ns, "listed", "https://example.com/org/repo.git", ""))).To(Succeed())
	dc, err := discovery.NewDiscoveryClientForConfig(restConfig)
	g.Expect(err).NotTo(HaveOccurred())
	cached := memory.NewMemCacheClient(dc)
	mapper := restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(cached), cached, nil)
	for name, want := range map[string]string{"csync": "configsyncs", "cs": "componentstatuses"} {
		gvr, err := mapper.ResourceFor(schema.GroupVersionResource{Resource: name})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(gvr.Resource).To(Equal(want), "kubectl get %s", name)
	}
	gvr, _ := mapper.ResourceFor(schema.GroupVersionResource{Resource: "csync"})
	dyn, err := dynamic.NewForConfig(restConfig)
	g.Expect(err).NotTo(HaveOccurred())
	list, err := dyn.Resource(gvr).Namespace(ns).List(context.Background(), metav1.ListOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(list.Items).To(HaveLen(1))
	g.Expect(list.Items[0].GetName()).To(Equal("listed"))
}

// The remote forms of a helm step pass admission: a Helm repository with a
// range and credentials, an OCI registry with a digest, plain HTTP (refused
// at run time unless the manager allows it), and a chart in the tree.
func TestCRDAcceptsRemoteHelmCharts(t *testing.T) {
	ns := newNamespace(t)
	steps := map[string]configsv1.HelmStep{
		"https":  {RepoURL: "https://charts.example.com/stable", Chart: "app", Version: ">=1.0 <2", AuthSecretRef: &configsv1.LocalObjectReference{Name: "creds"}},
		"oci":    {RepoURL: "oci://registry.example.com/charts", Chart: "app", Digest: "sha256:" + strings.Repeat("0", 64)},
		"http":   {RepoURL: "http://127.0.0.1:8080", Chart: "app"},
		"intree": {Chart: "charts/app"},
	}
	for name, step := range steps {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			cs := newConfigSync(ns, "helm-"+name, "https://example.com/org/repo.git", "")
			cs.Spec.Render = []configsv1.RenderStep{{Helm: &step}}
			g.Expect(k8s.Create(context.Background(), cs)).To(Succeed())
			g.Expect(k8s.Delete(context.Background(), cs)).To(Succeed())
		})
	}
}
