package renderers

import (
	"context"
	"fmt"
	"path"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/filetree"
)

// HelmOutput is the file the helm step writes its manifests into.
const HelmOutput = "helm.yaml"

// DefaultReleaseName is the release name when the step sets none, as `helm template` uses.
const DefaultReleaseName = "release-name"

// Helm renders a chart of the tree with the Helm SDK, as `helm template
// --include-crds --skip-tests` does: client-only, no repository or registry
// contacted. Dependencies must be vendored under the chart's charts/ folder.
// Install and upgrade hooks follow the manifest, annotated with the phase
// they are applied in (see appendHooks); test, delete and rollback hooks are
// left out. With hooks: Skip, no hook is rendered (`--no-hooks`).
type Helm struct {
	Step configsv1.HelmStep
	// Namespace is the release namespace when the step sets none.
	Namespace string
	// KubeVersion and APIVersions are the target cluster's Capabilities, when known.
	KubeVersion string
	APIVersions []string
}

var _ Renderer = (*Helm)(nil)

// Render renders the chart; the output tree holds HelmOutput.
func (h *Helm) Render(ctx context.Context, in filetree.Tree) (filetree.Tree, error) {
	chrt, err := h.load(in)
	if err != nil {
		return nil, err
	}
	if err := action.CheckDependencies(chrt, chrt.Metadata.Dependencies); err != nil {
		return nil, fmt.Errorf("chart %s: %w (vendor dependencies under charts/: remote repositories are never fetched)", h.Step.Chart, err)
	}
	if err := checkSchemaRefs(chrt); err != nil {
		return nil, fmt.Errorf("helm template %s: %w", h.Step.Chart, err)
	}
	vals, err := h.values(in)
	if err != nil {
		return nil, err
	}

	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.DryRun, install.DryRunOption = true, "true"
	install.ClientOnly = true
	install.Replace = true
	install.DisableHooks = true
	install.IncludeCRDs = true
	install.ReleaseName = h.Step.ReleaseName
	if install.ReleaseName == "" {
		install.ReleaseName = DefaultReleaseName
	}
	install.Namespace = h.Step.Namespace
	if install.Namespace == "" {
		install.Namespace = h.Namespace
	}
	if install.Namespace == "" {
		install.Namespace = "default"
	}
	if h.KubeVersion != "" {
		kv, err := chartutil.ParseKubeVersion(h.KubeVersion)
		if err != nil {
			return nil, fmt.Errorf("kube version %q: %w", h.KubeVersion, err)
		}
		install.KubeVersion = kv
	}
	install.APIVersions = chartutil.VersionSet(h.APIVersions)

	rel, err := install.RunWithContext(ctx, chrt, vals)
	if err != nil {
		return nil, fmt.Errorf("helm template %s: %w", h.Step.Chart, err)
	}
	manifest, err := appendHooks(strings.TrimSpace(rel.Manifest), rel.Hooks, h.Step.Hooks)
	if err != nil {
		return nil, fmt.Errorf("helm template %s: %w", h.Step.Chart, err)
	}
	return filetree.Tree{HelmOutput: []byte(manifest + "\n")}, nil
}

// load reads the chart folder from the tree, subcharts under charts/ included.
func (h *Helm) load(in filetree.Tree) (*chart.Chart, error) {
	dir := path.Clean(h.Step.Chart)
	if strings.HasPrefix(dir, "..") || path.IsAbs(dir) {
		return nil, fmt.Errorf("chart %q must be a folder inside the tree", h.Step.Chart)
	}
	prefix := dir + "/"
	if dir == "." {
		prefix = ""
	}
	var files []*loader.BufferedFile
	for _, name := range in.Paths() {
		if strings.HasPrefix(name, prefix) {
			files = append(files, &loader.BufferedFile{Name: strings.TrimPrefix(name, prefix), Data: in[name]})
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("chart %q not found in the tree", h.Step.Chart)
	}
	chrt, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", h.Step.Chart, err)
	}
	return chrt, nil
}

// values merges the valuesFiles in order, then the step's values, as
// `helm template -f a.yaml -f b.yaml --set ...` would.
func (h *Helm) values(in filetree.Tree) (map[string]any, error) {
	vals := map[string]any{}
	var err error
	for _, f := range h.Step.ValuesFiles {
		data, ok := in[path.Clean(f)]
		if !ok {
			return nil, fmt.Errorf("values file %q not found in the tree", f)
		}
		if vals, err = mergeYAML(vals, "values file "+f, data); err != nil {
			return nil, err
		}
	}
	if h.Step.Values != nil {
		if vals, err = mergeYAML(vals, "spec values", h.Step.Values.Raw); err != nil {
			return nil, err
		}
	}
	return vals, nil
}
