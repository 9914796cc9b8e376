package renderers

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/ignore"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/filetree"
)

// HelmOutput is the file the helm step writes its manifests into.
const HelmOutput = "helm.yaml"

// DefaultReleaseName is the release name when the step sets none, as `helm template` uses.
const DefaultReleaseName = "release-name"

// Helm renders a chart with the Helm SDK, as `helm template --include-crds
// --skip-tests` does: client-only, no repository or registry contacted. The
// chart is a folder of the tree, or the archive of a remote chart the caller
// fetched (Archive); remote dependencies come in as archives too
// (Dependencies), others must be vendored under the chart's charts/ folder.
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
	// Archive is the remote chart's .tgz (the step has a repoURL); nil
	// renders the chart folder of the tree.
	Archive []byte
	// Dependencies are .tgz archives of the chart's remote dependencies.
	Dependencies [][]byte
}

// DefaultKubeVersion is the cluster version Capabilities assume when the
// target cluster's is not known (configsync render without a cluster): the
// one the released helm v3.22 binary assumes, set by its Makefile from its
// client-go (the library alone would fall back to v1.20, and charts that
// require a newer cluster would fail where `helm template` works).
const DefaultKubeVersion = "v1.37.0"

// Render renders the chart; the output tree holds HelmOutput.
func (h *Helm) Render(ctx context.Context, in filetree.Tree) (filetree.Tree, error) {
	chrt, err := h.loadChart(in)
	if err != nil {
		return nil, err
	}
	if err := addDependencies(chrt, h.Dependencies); err != nil {
		return nil, fmt.Errorf("chart %s: %w", h.Step.Chart, err)
	}
	if err := action.CheckDependencies(chrt, chrt.Metadata.Dependencies); err != nil {
		return nil, fmt.Errorf("chart %s: %w (vendor file:// dependencies under charts/)", h.Step.Chart, err)
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
	kubeVersion := h.KubeVersion
	if kubeVersion == "" {
		kubeVersion = DefaultKubeVersion
	}
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	if err != nil {
		return nil, fmt.Errorf("kube version %q: %w", kubeVersion, err)
	}
	install.KubeVersion = kv
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

// loadChart loads the remote chart's archive, as `helm template --repo`
// loads what it pulled, or else the chart folder of the tree.
func (h *Helm) loadChart(in filetree.Tree) (*chart.Chart, error) {
	if h.Archive == nil {
		return h.load(in)
	}
	chrt, err := loader.LoadArchive(bytes.NewReader(h.Archive))
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", h.Step.Chart, err)
	}
	return chrt, nil
}

// addDependencies adds the archives of remote dependencies to chrt as
// subcharts, as the loader adds the charts/*.tgz that `helm dependency
// build` writes; helm's dependency processing then applies aliases,
// conditions and tags. A subchart already vendored in the tree under the
// same name wins, as `helm template` of that folder would use it, and one
// archive of a chart version serves every alias of it.
func addDependencies(chrt *chart.Chart, archives [][]byte) error {
	vendored := map[string]bool{}
	for _, sub := range chrt.Dependencies() {
		vendored[sub.Name()] = true
	}
	added := map[string]bool{}
	for _, data := range archives {
		sub, err := loader.LoadArchive(bytes.NewReader(data))
		if err != nil {
			return fmt.Errorf("load dependency: %w", err)
		}
		id := sub.Name() + "@" + sub.Metadata.Version
		if vendored[sub.Name()] || added[id] {
			continue
		}
		added[id] = true
		chrt.AddDependency(sub)
	}
	return nil
}

// load reads the chart folder from the tree as `helm template <folder>`
// reads it (loader.LoadDir): files the chart's .helmignore names are left
// out, as are hidden files under templates/ (helm's default rule), and a
// UTF-8 byte order mark is trimmed from each file. Subcharts under charts/
// are loaded with the chart, by the chart's .helmignore only, as helm does.
func (h *Helm) load(in filetree.Tree) (*chart.Chart, error) {
	dir := path.Clean(h.Step.Chart)
	if strings.HasPrefix(dir, "..") || path.IsAbs(dir) {
		return nil, fmt.Errorf("chart %q must be a folder inside the tree", h.Step.Chart)
	}
	prefix := dir + "/"
	if dir == "." {
		prefix = ""
	}
	rules := ignore.Empty()
	if data, ok := in[prefix+ignore.HelmIgnore]; ok {
		r, err := ignore.Parse(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("load chart %s: %s: %w", h.Step.Chart, ignore.HelmIgnore, err)
		}
		rules = r
	}
	rules.AddDefaults()
	var files []*loader.BufferedFile
	for _, name := range in.Paths() {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		rel := strings.TrimPrefix(name, prefix)
		if helmIgnored(rules, rel) {
			continue
		}
		files = append(files, &loader.BufferedFile{Name: rel, Data: bytes.TrimPrefix(in[name], utf8BOM)})
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

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// helmIgnored tells whether helm's directory loader leaves out the file at
// rel (a slash path inside the chart): when a rule matches one of its
// folders, from the top (the loader skips the folder's whole content), or
// the file itself.
func helmIgnored(rules *ignore.Rules, rel string) bool {
	for i := 0; i < len(rel); i++ {
		if rel[i] == '/' && rules.Ignore(rel[:i], ignoreInfo{name: path.Base(rel[:i]), dir: true}) {
			return true
		}
	}
	return rules.Ignore(rel, ignoreInfo{name: path.Base(rel)})
}

// ignoreInfo is the fs.FileInfo .helmignore rules are matched with: they
// read only whether it is a folder.
type ignoreInfo struct {
	name string
	dir  bool
}

func (i ignoreInfo) Name() string { return i.name }
func (i ignoreInfo) Size() int64  { return 0 }
func (i ignoreInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir
	}
	return 0
}
func (i ignoreInfo) ModTime() time.Time { return time.Time{} }
func (i ignoreInfo) IsDir() bool        { return i.dir }
func (i ignoreInfo) Sys() any           { return nil }

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
