package renderers

import (
	"context"
	"fmt"
	"path"
	"strings"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/filetree"
)

// KustomizeOutput is the file the kustomize step writes its build into.
const KustomizeOutput = "kustomize.yaml"

// Kustomize runs `kustomize build` of a folder of the tree with kustomize's
// own library, on an in-memory filesystem holding only the tree: nothing
// outside it can be read, remote bases are refused before the build, and
// plugins and Helm inflation stay disabled (kustomize's defaults).
type Kustomize struct {
	Step configsv1.KustomizeStep
}

var _ Renderer = (*Kustomize)(nil)

// Render builds the kustomization; the output tree holds KustomizeOutput.
func (k *Kustomize) Render(ctx context.Context, in filetree.Tree) (filetree.Tree, error) {
	dir := path.Clean(k.Step.Path)
	if dir == "" || strings.HasPrefix(dir, "..") || path.IsAbs(dir) {
		return nil, fmt.Errorf("path %q must be a folder inside the tree", k.Step.Path)
	}
	fs := filesys.MakeFsInMemory()
	for _, name := range in.Paths() {
		if err := fs.WriteFile("/"+name, in[name]); err != nil {
			return nil, fmt.Errorf("stage %s: %w", name, err)
		}
	}
	if err := refuseRemoteBases(fs, in); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	opts := krusty.MakeDefaultOptions()
	// As the kustomize CLI: the kustomization's sortOptions decide, legacy
	// (kind) order otherwise. The library's default keeps input order.
	opts.Reorder = krusty.ReorderOptionUnspecified
	resources, err := krusty.MakeKustomizer(opts).Run(fs, "/"+dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	out, err := resources.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	return filetree.Tree{KustomizeOutput: out}, nil
}

// refuseRemoteBases fails when a kustomization names a resource, base,
// component or CRD file that is not in the tree: kustomize would fetch it
// over the network, and a render must not reach the network.
func refuseRemoteBases(fs filesys.FileSystem, in filetree.Tree) error {
	names := map[string]bool{}
	for _, n := range konfig.RecognizedKustomizationFileNames() {
		names[n] = true
	}
	for _, name := range in.Paths() {
		if !names[path.Base(name)] {
			continue
		}
		var kust types.Kustomization
		if err := yaml.Unmarshal(in[name], &kust); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		dir := path.Dir("/" + name)
		for _, list := range [][]string{kust.Resources, kust.Bases, kust.Components, kust.Crds} {
			for _, ref := range list {
				if fs.Exists(path.Join(dir, ref)) {
					continue
				}
				if strings.Contains(ref, "://") || strings.HasPrefix(ref, "git@") || strings.Contains(ref, "?ref=") || strings.HasPrefix(ref, "github.com/") {
					return fmt.Errorf("%s: remote resource %q: remote bases are disabled, vendor it into the repository", name, ref)
				}
				return fmt.Errorf("%s: resource %q not found in the tree", name, ref)
			}
		}
	}
	return nil
}
