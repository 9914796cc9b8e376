package renderers_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/charts"
	"github.com/configsync/configsync/charts/chartstest"
	"github.com/configsync/configsync/internal/filetree"
	"github.com/configsync/configsync/renderers"
)

// helmEnv keeps the reference helm's repository cache, config and registry
// logins in a folder of the test, so no run sees another's.
func helmEnv(t *testing.T) []string {
	home := t.TempDir()
	return []string{
		"HELM_CACHE_HOME=" + filepath.Join(home, "cache"), "HELM_CONFIG_HOME=" + filepath.Join(home, "config"),
		"HELM_DATA_HOME=" + filepath.Join(home, "data"), "HELM_REGISTRY_CONFIG=" + filepath.Join(home, "registry.json"),
	}
}

// fidelityChart is a chart with values, a helper template and two objects,
// so that a difference in how values or templates are loaded shows.
func fidelityChart(name, version string) *chart.Chart {
	c := chartstest.Chart(name, version, map[string]string{
		"_helpers.tpl": `{{- define "fid.name" -}}{{ .Release.Name }}-{{ .Chart.Name }}{{- end -}}`,
		"cm.yaml":      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ include \"fid.name\" . }}\n  namespace: {{ .Release.Namespace }}\n  labels: {chart: {{ .Chart.Name }}-{{ .Chart.Version }}}\ndata:\n  color: {{ .Values.color | quote }}\n  version: {{ .Chart.Version | quote }}\n",
		"svc.yaml":     "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ include \"fid.name\" . }}\nspec:\n  ports:\n  - port: {{ .Values.port }}\n",
	})
	c.Values = map[string]any{"color": "blue", "port": 80}
	c.Raw = append(c.Raw, &chart.File{Name: "values.yaml", Data: []byte("color: blue\nport: 80\n")})
	return c
}

func renderRemote(t *testing.T, step configsv1.HelmStep, own renderers.StepInputs, tree filetree.Tree) []byte {
	t.Helper()
	in := renderers.Inputs{Namespace: "apps", Steps: map[int]renderers.StepInputs{0: own}}
	out, err := renderers.Run(context.Background(), []configsv1.RenderStep{{Helm: &step}}, in, tree)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return out[renderers.HelmOutput]
}

func writeValues(t *testing.T, dir string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "values-prod.yaml"), []byte("color: green\nport: 8080\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A chart from an HTTPS Helm repository (basic auth, its own CA) at a semver
// range, and one from an OCI registry by tag, render the objects `helm
// template --repo` and `helm template oci://` render from the same servers.
func TestFidelityRemoteCharts(t *testing.T) {
	fetcher := charts.New(charts.Options{AllowPlainHTTP: true})
	ctx := context.Background()
	dir := t.TempDir()
	writeValues(t, dir)
	tree := filetree.Tree{"values-prod.yaml": []byte("color: green\nport: 8080\n")}

	t.Run("https repository", func(t *testing.T) {
		repo := chartstest.NewRepo(t, chartstest.RepoOptions{TLS: true, Username: "u", Password: "p"})
		for _, v := range []string{"1.0.0", "1.4.2", "2.0.0"} {
			repo.Publish(t, fidelityChart("app", v))
		}
		ca := filepath.Join(t.TempDir(), "ca.pem")
		if err := os.WriteFile(ca, repo.CAPEM(), 0o644); err != nil {
			t.Fatal(err)
		}
		creds := &charts.Credentials{Username: "u", Password: "p", CAPEM: repo.CAPEM()}
		step := configsv1.HelmStep{RepoURL: repo.URL(), Chart: "app", Version: "^1.0", ReleaseName: "rel", ValuesFiles: []string{"values-prod.yaml"}}
		pin, err := fetcher.Resolve(ctx, charts.Ref{RepoURL: step.RepoURL, Name: step.Chart, Version: step.Version}, creds, false)
		if err != nil {
			t.Fatal(err)
		}
		archive, err := fetcher.Load(ctx, pin, creds)
		if err != nil {
			t.Fatal(err)
		}
		got := renderRemote(t, step, renderers.StepInputs{Chart: archive}, tree)
		want := runTool(t, dir, helmEnv(t), "helm", "template", "rel", "app", "--repo", repo.URL(), "--version", "^1.0",
			"--username", "u", "--password", "p", "--ca-file", ca, "--namespace", "apps", "-f", "values-prod.yaml", "--include-crds", "--skip-tests")
		assertSameObjects(t, got, helmHooksAsApplied(t, want, ""))
		if pin.Version != "1.4.2" {
			t.Errorf("^1.0 resolved to %s, want 1.4.2", pin.Version)
		}
	})

	t.Run("oci registry", func(t *testing.T) {
		reg := chartstest.NewRegistry(t, chartstest.RegistryOptions{})
		for _, v := range []string{"1.0.0", "1.1.0"} {
			reg.Push(t, fidelityChart("app", v))
		}
		step := configsv1.HelmStep{RepoURL: reg.URL(), Chart: "app", Version: "1.0.0", ReleaseName: "rel", ValuesFiles: []string{"values-prod.yaml"}}
		pin, err := fetcher.Resolve(ctx, charts.Ref{RepoURL: step.RepoURL, Name: step.Chart, Version: step.Version}, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		archive, err := fetcher.Load(ctx, pin, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := renderRemote(t, step, renderers.StepInputs{Chart: archive}, tree)
		want := runTool(t, dir, helmEnv(t), "helm", "template", "rel", reg.URL()+"/app", "--version", "1.0.0", "--plain-http",
			"--namespace", "apps", "-f", "values-prod.yaml", "--include-crds", "--skip-tests")
		assertSameObjects(t, got, helmHooksAsApplied(t, want, ""))
	})
}

// An umbrella chart whose Chart.yaml names one dependency in a Helm
// repository (a range) and one in an OCI registry (under an alias) renders
// what `helm dependency build` then `helm template` render: without a
// Chart.lock (the newest match of each range), and with the Chart.lock
// helm wrote, which pins the older versions after newer ones are published.
func TestFidelityUmbrellaChartWithRemoteDependencies(t *testing.T) {
	ctx := context.Background()
	fetcher := charts.New(charts.Options{AllowPlainHTTP: true})
	repo := chartstest.NewRepo(t, chartstest.RepoOptions{})
	reg := chartstest.NewRegistry(t, chartstest.RegistryOptions{})
	repo.Publish(t, fidelityChart("db", "1.0.0"))
	repo.Publish(t, fidelityChart("db", "1.2.0"))
	reg.Push(t, fidelityChart("cache", "2.0.0"))

	src := t.TempDir()
	chartYAML := fmt.Sprintf(`apiVersion: v2
name: umbrella
version: 0.1.0
dependencies:
- {name: db, version: "^1.0", repository: %q}
- {name: cache, alias: sessions, version: "2.0.0", repository: %q}
`, repo.URL(), reg.URL())
	umbrella := filepath.Join(src, "umbrella")
	for name, content := range map[string]string{
		"Chart.yaml":        chartYAML,
		"values.yaml":       "db:\n  color: red\nsessions:\n  port: 6379\n",
		"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: umbrella\n",
	} {
		p := filepath.Join(umbrella, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tree, err := filetree.Load(os.DirFS(src), ".", filetree.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	step := configsv1.HelmStep{Chart: "umbrella", ReleaseName: "rel"}
	ours := func(lock []byte) []byte {
		t.Helper()
		_, archives, err := fetcher.Dependencies(ctx, []byte(chartYAML), lock, nil)
		if err != nil {
			t.Fatalf("dependencies: %v", err)
		}
		var deps [][]byte
		for _, a := range archives {
			deps = append(deps, a)
		}
		return renderRemote(t, step, renderers.StepInputs{Dependencies: deps}, tree)
	}
	env := helmEnv(t)
	// With a Chart.lock, helm dependency build finds Helm repositories by
	// their entry in repositories.yaml only.
	runTool(t, src, env, "helm", "repo", "add", "fixtures", repo.URL())
	reference := func() []byte {
		t.Helper()
		runTool(t, src, env, "helm", "dependency", "build", "umbrella", "--plain-http")
		return runTool(t, src, env, "helm", "template", "rel", "umbrella", "--namespace", "apps", "--include-crds", "--skip-tests")
	}

	assertSameObjects(t, ours(nil), helmHooksAsApplied(t, reference(), ""))

	lock, err := os.ReadFile(filepath.Join(umbrella, "Chart.lock"))
	if err != nil {
		t.Fatalf("helm dependency build wrote no Chart.lock: %v", err)
	}
	repo.Publish(t, fidelityChart("db", "1.3.0"))
	if err := os.RemoveAll(filepath.Join(umbrella, "charts")); err != nil {
		t.Fatal(err)
	}
	withLock := ours(lock)
	assertSameObjects(t, withLock, helmHooksAsApplied(t, reference(), ""))
	if !strings.Contains(string(withLock), `version: "1.2.0"`) {
		t.Errorf("the lock pinned db 1.2.0; rendered:\n%s", withLock)
	}
}

// Charts shaped like real public ones, served remotely: the
// kube-prometheus-stack-shaped umbrella (vendored subcharts, a packed one,
// conditions, tags, import-values, a schema) from an HTTPS repository, and
// the bitnami/nginx-shaped chart on bitnami/common from an OCI registry.
// The objects equal what the reference helm renders from the same servers.
func TestFidelityRealShapedRemoteCharts(t *testing.T) {
	fetcher := charts.New(charts.Options{AllowPlainHTTP: true})
	ctx := context.Background()
	for _, tc := range []struct {
		name, caseDir, chart, release, namespace string
		valuesFiles                              []string
		oci                                      bool
	}{
		{"kube-prometheus-stack shape over https", "helm-umbrella-subcharts", "kube-prometheus-stack", "kps", "monitoring", []string{"env/base.yaml", "env/prod.yaml"}, false},
		{"bitnami nginx shape over oci", "helm-bitnami-common", "nginx", "web", "web", []string{"values/common.yaml", "values/production.yaml"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			input := filepath.Join("..", "testdata", "renderers", tc.caseDir, "input")
			c := chartstest.LoadDir(t, filepath.Join(input, tc.chart))
			tree := filetree.Tree{}
			for _, f := range tc.valuesFiles {
				data, err := os.ReadFile(filepath.Join(input, f))
				if err != nil {
					t.Fatal(err)
				}
				tree[f] = data
			}
			var repoURL string
			var args []string
			if tc.oci {
				reg := chartstest.NewRegistry(t, chartstest.RegistryOptions{})
				reg.Push(t, c)
				repoURL = reg.URL()
				args = []string{"template", tc.release, repoURL + "/" + tc.chart, "--version", c.Metadata.Version, "--plain-http"}
			} else {
				repo := chartstest.NewRepo(t, chartstest.RepoOptions{})
				repo.Publish(t, c)
				repoURL = repo.URL()
				args = []string{"template", tc.release, tc.chart, "--repo", repoURL, "--version", c.Metadata.Version}
			}
			step := configsv1.HelmStep{RepoURL: repoURL, Chart: tc.chart, Version: c.Metadata.Version, ReleaseName: tc.release, Namespace: tc.namespace, ValuesFiles: tc.valuesFiles}
			pin, err := fetcher.Resolve(ctx, charts.Ref{RepoURL: repoURL, Name: tc.chart, Version: step.Version}, nil, false)
			if err != nil {
				t.Fatal(err)
			}
			archive, err := fetcher.Load(ctx, pin, nil)
			if err != nil {
				t.Fatal(err)
			}
			in := renderers.Inputs{Namespace: tc.namespace, Steps: map[int]renderers.StepInputs{0: {Chart: archive}}}
			out, err := renderers.Run(ctx, []configsv1.RenderStep{{Helm: &step}}, in, tree)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			for _, f := range tc.valuesFiles {
				args = append(args, "-f", f)
			}
			args = append(args, "--namespace", tc.namespace, "--include-crds", "--skip-tests")
			want := runTool(t, input, helmEnv(t), "helm", args...)
			assertSameObjects(t, out[renderers.HelmOutput], helmHooksAsApplied(t, want, ""))
		})
	}
}
