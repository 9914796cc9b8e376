package renderers

import (
	"context"
	"fmt"
	"path"
	"strings"
	"sync"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/filetree"
)

// KustomizeOutput is the file the kustomize step writes its build into.
const KustomizeOutput = "kustomize.yaml"

// Kustomize runs `kustomize build` of a folder of the tree with kustomize's
// own library, on an in-memory filesystem holding only the tree: nothing
// outside it can be read, nothing is fetched over the network (see
// offlineFS), and plugins and Helm inflation stay disabled (kustomize's
// defaults).
type Kustomize struct {
	Step configsv1.KustomizeStep
}

// Render builds the kustomization; the output tree holds KustomizeOutput.
func (k *Kustomize) Render(ctx context.Context, in filetree.Tree) (filetree.Tree, error) {
	dir := path.Clean(k.Step.Path) // "" and "." both name the tree's root
	if dir == ".." || strings.HasPrefix(dir, "../") || path.IsAbs(dir) {
		return nil, fmt.Errorf("path %q must be a folder inside the tree", k.Step.Path)
	}
	mem := filesys.MakeFsInMemory()
	for _, name := range in.Paths() {
		if err := mem.WriteFile("/"+name, in[name]); err != nil {
			return nil, fmt.Errorf("stage %s: %w", name, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fs := &offlineFS{FileSystem: mem, pluginDirs: map[string]bool{}}
	opts := krusty.MakeDefaultOptions()
	// As the kustomize CLI: the kustomization's sortOptions decide, legacy
	// (kind) order otherwise. The library's default keeps input order.
	opts.Reorder = krusty.ReorderOptionUnspecified
	// path.Join, not "/"+dir: the in-memory filesystem knows "/" but not "/.".
	resources, err := krusty.MakeKustomizer(opts).Run(fs, path.Join("/", dir))
	// A refusal wins over kustomize's own error: kustomize sees a refused
	// kustomization as a missing one, which would hide the reason.
	if refused := fs.refusal(); refused != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, refused)
	}
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	out, err := resources.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	return filetree.Tree{KustomizeOutput: out}, nil
}

// offlineFS is the filesystem kustomize builds on. kustomize's loader (not
// replaceable through krusty) fetches any path that parses as an http(s) URL
// with its own HTTP client, and clones anything that parses as a git
// repository URL with the git program, whichever field names it. Every such
// string reaches the loader from a file the build reads through this
// filesystem: a kustomization, or a builtin plugin's configuration. So each
// of those is checked here, when kustomize reads it and only then: a file that
// names a remote location is refused before kustomize sees its content, and
// the build fails with the refusal. Files the build never reads are never
// looked at. A folder whose build kustomize reads as generator, transformer
// or validator configurations (pluginDirs, recorded as the kustomizations
// naming them are read) may not transform what it builds: a patch or a
// replacement could write a remote path into a configuration after its file
// was checked.
type offlineFS struct {
	filesys.FileSystem
	mu         sync.Mutex
	refused    error
	pluginDirs map[string]bool
}

func (f *offlineFS) ReadFile(name string) ([]byte, error) {
	data, err := f.FileSystem.ReadFile(name)
	if err != nil {
		return nil, err
	}
	if err := f.check(name, data); err != nil {
		return nil, err
	}
	return data, nil
}

func (f *offlineFS) Open(name string) (filesys.File, error) {
	if data, err := f.FileSystem.ReadFile(name); err == nil {
		if err := f.check(name, data); err != nil {
			return nil, err
		}
	}
	return f.FileSystem.Open(name)
}

func (f *offlineFS) check(name string, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	err := remoteReference(strings.TrimPrefix(path.Clean("/"+name), "/"), data, f.pluginDirs)
	if err != nil && f.refused == nil {
		f.refused = err
	}
	return err
}

func (f *offlineFS) refusal() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refused
}
