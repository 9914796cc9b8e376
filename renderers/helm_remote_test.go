package renderers_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/filetree"
	"github.com/configsync/configsync/renderers"
)

// packageChart writes a chart of one ConfigMap template as `helm package`
// does (chartutil.Save) and returns the .tgz bytes.
func packageChart(t *testing.T, name, version, data string) []byte {
	t.Helper()
	c := &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: name, Version: version},
		Values:   map[string]any{"data": data},
		Templates: []*chart.File{{Name: "templates/cm.yaml", Data: []byte(
			"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-{{ .Chart.Name }}\ndata:\n  version: {{ .Chart.Version | quote }}\n  data: {{ .Values.data | quote }}\n")}},
	}
	file, err := chartutil.Save(c, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func renderHelm(t *testing.T, step configsv1.HelmStep, own renderers.StepInputs, tree filetree.Tree) (string, error) {
	t.Helper()
	in := renderers.Inputs{Namespace: "apps", Steps: map[int]renderers.StepInputs{0: own}}
	out, err := renderers.Run(context.Background(), []configsv1.RenderStep{{Helm: &step}}, in, tree)
	if err != nil {
		return "", err
	}
	return string(out[renderers.HelmOutput]), nil
}

// A remote chart comes in as its archive: it renders with the tree's values
// files and the step's values, and the tree's files are not read as a chart.
func TestHelmRendersARemoteChartArchive(t *testing.T) {
	archive := packageChart(t, "app", "1.2.3", "from-chart")
	tree := filetree.Tree{"values-prod.yaml": []byte("data: from-git\n")}
	step := configsv1.HelmStep{RepoURL: "https://charts.example.com", Chart: "app", Version: "^1", ReleaseName: "rel", ValuesFiles: []string{"values-prod.yaml"}}
	got, err := renderHelm(t, step, renderers.StepInputs{Chart: archive}, tree)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"name: rel-app", `version: "1.2.3"`, `data: "from-git"`} {
		if !strings.Contains(got, want) {
			t.Errorf("the render lacks %q:\n%s", want, got)
		}
	}
}

// An umbrella chart of the tree gets its remote dependencies as archives:
// aliases and conditions apply as helm's dependency processing does, one
// archive serves two aliases, and a subchart vendored in the tree wins over
// a fetched archive of the same name.
func TestHelmAddsRemoteDependenciesToATreeChart(t *testing.T) {
	umbrella := `apiVersion: v2
name: umbrella
version: 0.1.0
dependencies:
- {name: db, version: "^1.0", repository: "https://charts.example.com"}
- {name: db, alias: replica, version: "^1.0", repository: "https://charts.example.com"}
- {name: cache, version: "2.0.0", repository: "oci://registry.example.com/charts", condition: cache.enabled}
- {name: vendored, version: "1.0.0", repository: "https://charts.example.com"}
`
	tree := filetree.Tree{
		"umbrella/Chart.yaml":                        []byte(umbrella),
		"umbrella/values.yaml":                       []byte("cache:\n  enabled: true\n"),
		"umbrella/charts/vendored/Chart.yaml":        []byte("apiVersion: v2\nname: vendored\nversion: 1.0.0\n"),
		"umbrella/charts/vendored/templates/cm.yaml": []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: vendored-from-git\n"),
	}
	deps := [][]byte{
		packageChart(t, "db", "1.4.0", "db"),
		packageChart(t, "cache", "2.0.0", "cache"),
		packageChart(t, "vendored", "1.0.0", "fetched"),
	}
	step := configsv1.HelmStep{Chart: "umbrella", ReleaseName: "rel"}
	got, err := renderHelm(t, step, renderers.StepInputs{Dependencies: deps}, tree)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"name: rel-db", "name: rel-replica", "name: rel-cache", "name: vendored-from-git"} {
		if !strings.Contains(got, want) {
			t.Errorf("the render lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, `data: "fetched"`) {
		t.Errorf("the fetched archive replaced the vendored subchart:\n%s", got)
	}

	_, err = renderHelm(t, step, renderers.StepInputs{Dependencies: deps[:1]}, tree)
	if err == nil || !strings.Contains(err.Error(), "missing in charts/ directory") {
		t.Errorf("a dependency neither fetched nor vendored: got %v, want helm's missing-dependency error", err)
	}
}

// A chart archive that is not one fails the step with the chart's name.
func TestHelmRefusesABrokenArchive(t *testing.T) {
	step := configsv1.HelmStep{RepoURL: "oci://registry.example.com/charts", Chart: "app"}
	_, err := renderHelm(t, step, renderers.StepInputs{Chart: []byte("not a tgz")}, filetree.Tree{})
	if err == nil || !strings.Contains(err.Error(), "load chart app") {
		t.Fatalf("got %v, want a load error naming the chart", err)
	}
}
