package controllers_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/charts"
	"github.com/configsync/configsync/internal/testgit"
	"github.com/configsync/configsync/receiver"
)

const minHostileCases = 40

// hostileRepo is one hostile source: files committed to a repository, and
// how the ConfigSync reads them.
type hostileRepo struct {
	name    string
	files   map[string]string
	fixture string // a renderer fixture: testdata/renderers/<fixture>/{case.yaml,input}
	links   map[string]string
	spec    func(cs *configsv1.ConfigSync)
	setup   func(t *testing.T, ns string)
	reason  string // the Ready condition's reason
	message string // a substring of its message
	// allowed lists objects this case may apply (default: none).
	allowed []string
	// slow cases (100 MB, 10,001 files) get more time: under -race, go-git
	// needs tens of seconds to commit and fetch them.
	slow bool
	// mutate changes a fixture's files; noKeys leaves out its SOPS keys.
	mutate func(files map[string]string)
	noKeys bool
}

func billionLaughs() string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n  a0: &a0 \"lol\"\n")
	prev := "a0"
	for i := 1; i <= 9; i++ {
		name := "a" + string(rune('0'+i))
		b.WriteString("  " + name + ": &" + name + " [")
		for j := 0; j < 9; j++ {
			if j > 0 {
				b.WriteString(",")
			}
			b.WriteString("*" + prev)
		}
		b.WriteString("]\n")
		prev = name
	}
	return b.String()
}

// hostileRepos lists the hostile sources family by family, in the order
// docs/reliability.md records them.
func hostileRepos() []hostileRepo {
	var repos []hostileRepo
	repos = append(repos, hostileManifests()...)
	repos = append(repos, hostileSources()...)
	repos = append(repos, hostileRenders()...)
	repos = append(repos, refusedByTheAPIServer()...)
	return repos
}

// renderWith sets the ConfigSync's render steps to the one step s.
func renderWith(s configsv1.RenderStep) func(*configsv1.ConfigSync) {
	return func(cs *configsv1.ConfigSync) { cs.Spec.Render = []configsv1.RenderStep{s} }
}

// hostileManifests: YAML and manifests.
func hostileManifests() []hostileRepo {
	tmpl := renderWith(configsv1.RenderStep{Template: &configsv1.TemplateStep{}})
	cm := manifest("ConfigMap", "ok", "data: {a: b}\n")
	return []hostileRepo{
		{name: "billion laughs (YAML alias bomb)", files: map[string]string{"bomb.yaml": billionLaughs()}, reason: configsv1.ReasonInvalidManifest, message: "bomb.yaml"},
		{name: "deep nesting (100,000 levels)", files: map[string]string{"deep.yaml": manifest("ConfigMap", "deep", "data:\n  a: "+strings.Repeat("[", 100000)+strings.Repeat("]", 100000)+"\n")}, reason: configsv1.ReasonInvalidManifest, message: "deep.yaml"},
		{name: "invalid UTF-8", files: map[string]string{"bad.yaml": manifest("ConfigMap", "bad", "data: {a: \"\xff\xfe\xfd\"}\n")}, reason: configsv1.ReasonInvalidManifest, message: "bad.yaml"},
		{name: "duplicate keys", files: map[string]string{"dup.yaml": manifest("ConfigMap", "dup", "data: {a: one}\ndata: {a: two}\n")}, reason: configsv1.ReasonInvalidManifest, message: "dup.yaml"},
		{name: "document without kind", files: map[string]string{"nokind.yaml": "apiVersion: v1\nmetadata: {name: x}\n", "ok.yaml": cm}, reason: configsv1.ReasonInvalidManifest, message: "nokind.yaml"},
		{name: "document without apiVersion", files: map[string]string{"noapi.yaml": "kind: ConfigMap\nmetadata: {name: x}\n", "ok.yaml": cm}, reason: configsv1.ReasonInvalidManifest, message: "noapi.yaml"},
		{name: "object without a name", files: map[string]string{"noname.yaml": "apiVersion: v1\nkind: ConfigMap\ndata: {a: b}\n", "ok.yaml": cm}, reason: configsv1.ReasonInvalidManifest, message: "noname.yaml"},
		{name: "binary with NUL bytes as YAML", files: map[string]string{"bin.yaml": "apiVersion: v1\nkind: ConfigMap\n\x00\x01\x02\x00metadata: {name: x}\n"}, reason: configsv1.ReasonInvalidManifest, message: "bin.yaml"},
		{name: "malformed JSON", files: map[string]string{"bad.json": `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}`}, reason: configsv1.ReasonInvalidManifest, message: "bad.json"},
		{name: "YAML syntax error", files: map[string]string{"syntax.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: x\n"}, reason: configsv1.ReasonInvalidManifest, message: "syntax.yaml"},
		{name: "a document that is a list of scalars", files: map[string]string{"list.yaml": "apiVersion: v1\nkind: ConfigMap\n---\n- a\n- b\n"}, reason: configsv1.ReasonInvalidManifest, message: "list.yaml"},
		{name: "40 MB manifest file", files: map[string]string{"huge.yaml": manifest("ConfigMap", "huge", "data:\n  a: \""+strings.Repeat("x", 40<<20)+"\"\n")}, reason: configsv1.ReasonInvalidManifest, message: "huge.yaml", slow: true},
		{name: "100 MB commit (over the fetch bound)", files: map[string]string{"huge.yaml": strings.Repeat("x", 100<<20)}, reason: configsv1.ReasonSourceTooLarge, message: "repository too large", slow: true},
		{name: "10,001 files", files: manyFiles(10001), reason: configsv1.ReasonSourceTooLarge, message: "more than 10000 files", slow: true},
		{name: "render whose inventory would not fit the status", files: map[string]string{
			"many.yaml": `{{ range $i := until 4000 }}---
apiVersion: v1
kind: ConfigMap
metadata: {name: {{ printf "cm-%04d-%s" $i (repeat 230 "x") }}}
{{ end }}`,
		}, spec: tmpl, reason: configsv1.ReasonSourceTooLarge, message: "split the objects over several ConfigSyncs"},
		{name: "empty render", files: map[string]string{"README.md": "nothing here\n"}, reason: configsv1.ReasonInvalidManifest, message: "allowEmpty"},
		{name: "target that matches nothing", files: map[string]string{"ok.yaml": cm}, spec: func(cs *configsv1.ConfigSync) {
			cs.Spec.Targets = []configsv1.Target{{Type: configsv1.TargetDeployment, Name: "ghost"}}
		}, reason: configsv1.ReasonInvalidManifest, message: "Deployment ghost"},
	}
}

// hostileSources: the repository, path, revision and credentials.
func hostileSources() []hostileRepo {
	cm := manifest("ConfigMap", "ok", "data: {a: b}\n")
	return []hostileRepo{
		{name: "symlink out of the repository", files: map[string]string{"ok.yaml": cm}, links: map[string]string{"config": "../../../etc"}, spec: func(cs *configsv1.ConfigSync) { cs.Spec.Source.Git.Path = "config" }, reason: configsv1.ReasonInvalidPath, message: "config"},
		{name: "path into .git", files: map[string]string{"ok.yaml": cm}, spec: func(cs *configsv1.ConfigSync) { cs.Spec.Source.Git.Path = ".git" }, reason: configsv1.ReasonPathNotFound, message: ".git"},
		{name: "path that does not exist", files: map[string]string{"ok.yaml": cm}, spec: func(cs *configsv1.ConfigSync) { cs.Spec.Source.Git.Path = "nope" }, reason: configsv1.ReasonPathNotFound, message: "nope"},
		{name: "revision that does not exist", files: map[string]string{"ok.yaml": cm}, spec: func(cs *configsv1.ConfigSync) { cs.Spec.Source.Git.Revision = "v9.9.9" }, reason: configsv1.ReasonRevisionNotFound, message: "v9.9.9"},
		{name: "branch that does not exist", files: map[string]string{"ok.yaml": cm}, spec: func(cs *configsv1.ConfigSync) { cs.Spec.Source.Git.Branch = "nope" }, reason: configsv1.ReasonRevisionNotFound, message: "nope"},
		{name: "rollback to a SHA not in history", files: map[string]string{"ok.yaml": cm}, spec: func(cs *configsv1.ConfigSync) {
			cs.Spec.Rollback = &configsv1.Rollback{ToRevision: "0123456789"}
		}, reason: configsv1.ReasonRevisionNotFound, message: "not in status.history"},
		{name: "auth Secret without the password key", files: map[string]string{"ok.yaml": cm}, setup: func(t *testing.T, ns string) {
			createSecret(t, ns, "creds", map[string]string{"username": "git"})
		}, spec: func(cs *configsv1.ConfigSync) { withAuth(cs, configsv1.AuthHTTPS, "creds") }, reason: configsv1.ReasonAuthenticationFailed, message: "creds"},
	}
}

// hostileRenders: templates, Jsonnet, Kustomize, Helm and SOPS.
func hostileRenders() []hostileRepo {
	tmpl := renderWith(configsv1.RenderStep{Template: &configsv1.TemplateStep{}})
	return []hostileRepo{
		// Templates
		{name: "template recursion", files: map[string]string{"r.yaml": `{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}`}, spec: tmpl, reason: configsv1.ReasonRenderFailed, message: "r.yaml"},
		{name: "template output bomb (over 64 MiB)", files: map[string]string{"o.yaml": `{{ range until 9000 }}{{ repeat 10000 "x" }}{{ end }}`}, spec: tmpl, reason: configsv1.ReasonRenderFailed, message: "o.yaml"},
		{name: "template reads the environment", files: map[string]string{"e.yaml": `a: {{ env "HOME" }}`}, spec: tmpl, reason: configsv1.ReasonRenderFailed, message: "env"},
		{name: "template resolves a host name", files: map[string]string{"h.yaml": `a: {{ getHostByName "example.com" }}`}, spec: tmpl, reason: configsv1.ReasonRenderFailed, message: "getHostByName"},
		{fixture: "template-huge-until", reason: configsv1.ReasonRenderFailed},
		{fixture: "template-syntax-error", reason: configsv1.ReasonRenderFailed, message: "render step 1 (template)"},
		{fixture: "template-missing-key", reason: configsv1.ReasonRenderFailed, message: "map has no entry"},
		// Jsonnet
		{fixture: "jsonnet-error", reason: configsv1.ReasonRenderFailed, message: "render step 1 (jsonnet)"},
		{name: "jsonnet infinite recursion", files: map[string]string{"main.jsonnet": "local f(x) = f(x + 1); f(0)"}, spec: renderWith(configsv1.RenderStep{Jsonnet: &configsv1.JsonnetStep{Entrypoint: "main.jsonnet"}}), reason: configsv1.ReasonRenderFailed, message: "max stack frames"},
		{fixture: "jsonnet-import-escape", reason: configsv1.ReasonRenderFailed},
		// Kustomize
		{fixture: "kustomize-remote-base", reason: configsv1.ReasonRenderFailed},
		{fixture: "kustomize-cycle", reason: configsv1.ReasonRenderFailed, message: "render step 1 (kustomize)"},
		{name: "kustomize resource outside the repository", files: map[string]string{"kustomization.yaml": "resources: [../../../../etc/passwd]\n"}, spec: renderWith(configsv1.RenderStep{Kustomize: &configsv1.KustomizeStep{Path: "."}}), reason: configsv1.ReasonRenderFailed, message: "render step 1 (kustomize)"},
		// Helm
		// A dependency on a host the manager does not allow (the suite
		// allows 127.0.0.1): refused before any connection.
		{fixture: "helm-remote-dependency", reason: charts.ReasonChartHostNotAllowed, message: "charts.example.com"},
		{fixture: "helm-schema-violation", reason: configsv1.ReasonRenderFailed},
		{name: "helm test hooks are neither rendered nor run", files: map[string]string{
			"chart/Chart.yaml":          "apiVersion: v2\nname: hooks\nversion: 0.1.0\n",
			"chart/templates/cm.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: chart-config}\ndata: {a: b}\n",
			"chart/templates/hook.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hook-ran\n  annotations: {helm.sh/hook: test}\ndata: {a: b}\n",
		}, spec: renderWith(configsv1.RenderStep{Helm: &configsv1.HelmStep{Chart: "chart"}}), reason: configsv1.ReasonSucceeded, allowed: []string{"chart-config"}},
		// SOPS
		{fixture: "sops-wrong-key", reason: configsv1.ReasonRenderFailed, message: "render step 1 (sops)"},
		{name: "corrupted SOPS file", fixture: "sops-age", mutate: corruptSops, reason: configsv1.ReasonRenderFailed, message: "render step 1 (sops)"},
		{name: "SOPS key Secret missing", fixture: "sops-age", noKeys: true, reason: configsv1.ReasonRenderFailed, message: "sops-keys"},
	}
}

// refusedByTheAPIServer: what the apiserver refuses.
func refusedByTheAPIServer() []hostileRepo {
	cm := manifest("ConfigMap", "ok", "data: {a: b}\n")
	return []hostileRepo{
		{name: "unknown kind (no CRD)", files: map[string]string{"w.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n", "ok.yaml": cm}, reason: configsv1.ReasonDryRunFailed, message: "Widget"},
		{name: "invalid field value", files: map[string]string{"svc.yaml": manifest("Service", "web", "spec: {ports: [{port: 70000}]}\n"), "ok.yaml": cm}, reason: configsv1.ReasonDryRunFailed, message: "70000"},
		{name: "namespace that does not exist", files: map[string]string{"x.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: does-not-exist}\n", "ok.yaml": cm}, reason: configsv1.ReasonDryRunFailed, message: "does-not-exist"},
		{name: "invalid object name", files: map[string]string{"x.yaml": manifest("ConfigMap", "Not_A_Name", ""), "ok.yaml": cm}, reason: configsv1.ReasonDryRunFailed, message: "Not_A_Name"},
		{name: "Secret over 1 MiB", files: map[string]string{"s.yaml": manifest("Secret", "big", "stringData:\n  a: \""+strings.Repeat("x", 3<<20)+"\"\n"), "ok.yaml": cm}, reason: configsv1.ReasonDryRunFailed, message: "Secret"},
	}
}

func manyFiles(n int) map[string]string {
	files := make(map[string]string, n)
	for i := range n {
		files[sprintf("f/%05d.txt", i)] = "x"
	}
	return files
}

// corruptSops flips bytes inside the encrypted value of the fixture's secret.yaml.
func corruptSops(files map[string]string) {
	s := files["secret.yaml"]
	i := strings.Index(s, "ENC[AES256_GCM,data:")
	if i < 0 {
		panic("fixture secret.yaml has no encrypted value")
	}
	i += len("ENC[AES256_GCM,data:")
	files["secret.yaml"] = s[:i] + "AAAA" + s[i+4:]
}

type rendererCase struct {
	Render     []configsv1.RenderStep `json:"render"`
	AgeKeyFile string                 `json:"ageKeyFile"`
	WantError  string                 `json:"wantError"`
}

// loadFixture reads a renderer fixture into the case: its input files, its
// render steps, its SOPS key and the error it must give.
func loadFixture(t *testing.T, h *hostileRepo) {
	t.Helper()
	dir := filepath.Join("..", "testdata", "renderers", h.fixture)
	raw, err := os.ReadFile(filepath.Join(dir, "case.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c rendererCase
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	h.files = readTree(t, filepath.Join(dir, "input"))
	if h.mutate != nil {
		h.mutate(h.files)
	}
	if h.message == "" {
		h.message = c.WantError
	}
	steps := c.Render
	h.spec = func(cs *configsv1.ConfigSync) { cs.Spec.Render = steps }
	if c.AgeKeyFile != "" && !h.noKeys {
		key, err := os.ReadFile(filepath.Join(dir, c.AgeKeyFile))
		if err != nil {
			t.Fatal(err)
		}
		h.setup = func(t *testing.T, ns string) {
			createSecret(t, ns, "sops-keys", map[string]string{c.AgeKeyFile: string(key)})
		}
	}
}

// Each hostile source, synced by a ConfigSync of its own, gives a clear
// condition reason and message and applies nothing (or only what it may);
// afterwards the manager still syncs and its heap stays bounded.
func TestHostileInputsApplyNothing(t *testing.T) {
	server := testgit.Start(t)
	cases := hostileRepos()
	t.Run("cases", func(t *testing.T) {
		for i := range cases {
			h := cases[i]
			if h.fixture != "" {
				loadFixture(t, &h)
				if h.name == "" {
					h.name = "fixture " + h.fixture
				}
			}
			t.Run(h.name, func(t *testing.T) {
				t.Parallel()
				runHostileRepo(t, server, h)
			})
		}
	})

	// The manager survived all of it: a good source still syncs.
	stillSyncs(t, server, "after.git", map[string]string{"cm.yaml": configMap("after", "blue")}, nil)
	g := NewWithT(t)
	runtime.GC()
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	t.Logf("heap after the hostile inputs: %d MiB", mem.HeapAlloc>>20)
	g.Expect(mem.HeapAlloc).To(BeNumerically("<", uint64(1)<<30), "the heap stays under 1 GiB")
}

func runHostileRepo(t *testing.T, server *testgit.Server, h hostileRepo) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	if h.setup != nil {
		h.setup(t, ns)
	}
	repo := server.NewRepo(t, sprintf("hostile-%s.git", ns))
	for name, target := range h.links {
		repo.Link(t, name, target)
	}
	repo.Commit(t, h.files, h.name)
	cs := newConfigSync(ns, "hostile", repo.URL, "")
	cs.Spec.Prune = true
	if h.spec != nil {
		h.spec(cs)
	}
	g.Expect(k8s.Create(ctx, cs)).To(Succeed())
	var ready *metav1.Condition
	wait := timeout
	if h.slow {
		wait = 4 * time.Minute
	}
	g.Eventually(func(g Gomega) {
		got := getConfigSync(g, ns, "hostile")
		ready = apimeta.FindStatusCondition(got.Status.Conditions, configsv1.ConditionReady)
		g.Expect(ready).NotTo(BeNil())
		g.Expect(ready.Reason).To(Equal(h.reason))
		g.Expect(ready.Message).To(ContainSubstring(h.message))
	}, wait).Should(Succeed())
	applied := appliedBy(g, ns, "hostile")
	unexpected := 0
	for _, name := range applied {
		if !contains(h.allowed, name) {
			unexpected++
		}
	}
	pass := unexpected == 0 && !t.Failed()
	record(finding{Suite: "hostile input", Case: h.name, Want: h.reason + ": " + quote(h.message), Got: ready.Reason, Applied: unexpected, Pass: pass})
	g.Expect(unexpected).To(BeZero(), "applied %v", applied)
	if len(h.allowed) == 0 {
		g.Expect(getConfigSync(g, ns, "hostile").Status.Inventory).To(BeEmpty())
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Hostile requests: ConfigSyncs the API refuses at admission (the CRD's
// validation), and webhook calls the receiver refuses. Neither reaches a
// sync, so nothing is applied.
func TestHostileRequestsAreRefused(t *testing.T) {
	ns := newNamespace(t)
	hostileSpecsAreRefusedAtAdmission(t, ns)
	hostileWebhookCallsAreRefused(t, ns)
}

// hostileSpecsAreRefusedAtAdmission creates, in ns, ConfigSyncs the CRD's
// validation must refuse, each in a subtest of t.
func hostileSpecsAreRefusedAtAdmission(t *testing.T, ns string) {
	ctx := context.Background()
	specs := []struct {
		name    string
		mutate  func(cs *configsv1.ConfigSync)
		message string
	}{
		{"file:// repository URL", func(cs *configsv1.ConfigSync) { cs.Spec.Source.Git.RepoURL = "file:///etc" }, "repoURL"},
		{"path climbing out with ..", func(cs *configsv1.ConfigSync) { cs.Spec.Source.Git.Path = "../../etc" }, "path"},
		{"absolute path", func(cs *configsv1.ConfigSync) { cs.Spec.Source.Git.Path = "/etc/passwd" }, "path"},
		{"two renderers in one step", func(cs *configsv1.ConfigSync) {
			cs.Spec.Render = []configsv1.RenderStep{{Template: &configsv1.TemplateStep{}, Kustomize: &configsv1.KustomizeStep{}}}
		}, "exactly one"},
		{"https auth without a Secret", func(cs *configsv1.ConfigSync) { cs.Spec.Source.Git.AuthMethod = configsv1.AuthHTTPS }, "authSecretRef"},
		{"Object target without apiVersion", func(cs *configsv1.ConfigSync) {
			cs.Spec.Targets = []configsv1.Target{{Type: configsv1.TargetObject, Name: "x"}}
		}, "apiVersion"},
		{"history limit of 1,000", func(cs *configsv1.ConfigSync) { limit := int32(1000); cs.Spec.HistoryLimit = &limit }, "historyLimit"},
		{"refresh interval that is not a duration", func(cs *configsv1.ConfigSync) {
			cs.Spec.RefreshInterval = &metav1.Duration{Duration: -time.Second}
		}, "refreshInterval"},
	}
	for i, s := range specs {
		t.Run(s.name, func(t *testing.T) {
			cs := newConfigSync(ns, sprintf("refused-%d", i), "https://git.example.com/org/app.git", "")
			s.mutate(cs)
			err := k8s.Create(ctx, cs)
			pass := err != nil && strings.Contains(err.Error(), s.message)
			got := "accepted"
			if err != nil {
				got = "refused at admission"
			}
			record(finding{Suite: "hostile input", Case: "request: " + s.name, Want: "refused at admission: " + quote(s.message), Got: got, Pass: pass})
			if !pass {
				t.Errorf("create: %v, want a refusal mentioning %q", err, s.message)
			}
		})
	}
}

// hostileWebhookCallsAreRefused sends calls the receiver of ns must refuse,
// each in a subtest of t.
func hostileWebhookCallsAreRefused(t *testing.T, ns string) {
	url := startReceiver(t, ns, []byte("hostile-token"))
	github := receiver.Fixtures[0]
	valid, err := github.Body(webhookFixtures, "https://git.example.com/org/app.git", "main")
	if err != nil {
		t.Fatal(err)
	}
	calls := []struct {
		name string
		req  func() *http.Request
		want int
	}{
		{"webhook with a forged signature", func() *http.Request {
			req, _ := github.Request(url, valid, []byte("hostile-token"))
			req.Header.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("0", 64))
			return req
		}, http.StatusUnauthorized},
		{"webhook signed with another secret", func() *http.Request {
			req, _ := github.Request(url, valid, []byte("guessed"))
			return req
		}, http.StatusUnauthorized},
		{"webhook body over 1 MiB", func() *http.Request {
			req, _ := github.Request(url, []byte(strings.Repeat(" ", 2<<20)), []byte("hostile-token"))
			return req
		}, http.StatusRequestEntityTooLarge},
		{"webhook with malformed JSON", func() *http.Request {
			req, _ := github.Request(url, []byte(`{"ref": `), []byte("hostile-token"))
			return req
		}, http.StatusBadRequest},
		{"webhook for an unknown provider", func() *http.Request {
			req, _ := http.NewRequest(http.MethodPost, url+"/hooks/../../etc", strings.NewReader("{}"))
			return req
		}, http.StatusNotFound},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			resp, err := http.DefaultClient.Do(c.req())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			record(finding{Suite: "hostile input", Case: "request: " + c.name, Want: sprintf("HTTP %d", c.want), Got: sprintf("HTTP %d", resp.StatusCode), Pass: resp.StatusCode == c.want})
			if resp.StatusCode != c.want {
				t.Errorf("status %d, want %d", resp.StatusCode, c.want)
			}
		})
	}
}
