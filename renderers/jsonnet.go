package renderers

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/google/go-jsonnet"
	"sigs.k8s.io/yaml"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/filetree"
)

// JsonnetOutput is the file the jsonnet step writes its objects into.
const JsonnetOutput = "jsonnet.yaml"

// Jsonnet evaluates a Jsonnet program of the tree with go-jsonnet, the
// reference implementation's Go port. Imports resolve inside the tree only:
// relative to the importing file, then along JPath.
type Jsonnet struct {
	Step configsv1.JsonnetStep
	// MaxStack bounds recursion depth; zero means go-jsonnet's default (500).
	MaxStack int
}

// Render evaluates the entrypoint. The result may be one object, an array of
// objects (nested arrays flatten), or an object whose values are objects or
// arrays (a map of manifests, as kubecfg and Argo CD read it); the output
// tree holds every object as a YAML document of JsonnetOutput.
func (j *Jsonnet) Render(ctx context.Context, in filetree.Tree) (filetree.Tree, error) {
	js, err := j.Evaluate(in)
	if err != nil {
		return nil, err
	}
	var result any
	if err := json.Unmarshal([]byte(js), &result); err != nil {
		return nil, fmt.Errorf("jsonnet output: %w", err)
	}
	objs, err := manifestsOf(result)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", j.Step.Entrypoint, err)
	}
	var b strings.Builder
	for _, o := range objs {
		y, err := yaml.Marshal(o)
		if err != nil {
			return nil, err
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	return filetree.Tree{JsonnetOutput: []byte(b.String())}, nil
}

// Evaluate returns the program's JSON, as the jsonnet command prints it.
func (j *Jsonnet) Evaluate(in filetree.Tree) (string, error) {
	entry := path.Clean(j.Step.Entrypoint)
	if _, ok := in[entry]; !ok {
		return "", fmt.Errorf("entrypoint %q not found in the tree", j.Step.Entrypoint)
	}
	vm := jsonnet.MakeVM()
	if j.MaxStack > 0 {
		vm.MaxStack = j.MaxStack
	}
	vm.Importer(&treeImporter{tree: in, jpath: j.Step.JPath, cache: map[string]jsonnet.Contents{}})
	for k, v := range j.Step.ExtVars {
		vm.ExtVar(k, v)
	}
	for k, v := range j.Step.TLAs {
		vm.TLAVar(k, v)
	}
	// EvaluateFile, not EvaluateAnonymousSnippet: the entrypoint must carry
	// its path, or its imports would not resolve relative to its folder.
	out, err := vm.EvaluateFile(entry)
	if err != nil {
		return "", fmt.Errorf("evaluate: %w", err) // go-jsonnet names file:line:column
	}
	return out, nil
}

// manifestsOf flattens a Jsonnet result into Kubernetes objects.
func manifestsOf(v any) ([]map[string]any, error) {
	switch t := v.(type) {
	case []any:
		var out []map[string]any
		for _, item := range t {
			objs, err := manifestsOf(item)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
		return out, nil
	case map[string]any:
		if _, ok := t["kind"]; ok {
			return []map[string]any{t}, nil
		}
		var out []map[string]any
		for _, k := range slices.Sorted(maps.Keys(t)) {
			objs, err := manifestsOf(t[k])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out = append(out, objs...)
		}
		return out, nil
	case nil:
		return nil, nil
	default:
		return nil, fmt.Errorf("the result holds a %T where an object or array is expected", v)
	}
}

// treeImporter resolves imports inside the tree as go-jsonnet's FileImporter
// (and so the jsonnet command) resolves them on disk: relative to the
// importing file's folder first, then along the jpath, right-most entry first
// ("-J: right-most wins"). Nothing outside the tree is reachable. go-jsonnet
// requires the same Contents for the same file, hence the cache.
type treeImporter struct {
	tree  filetree.Tree
	jpath []string
	cache map[string]jsonnet.Contents
}

func (t *treeImporter) Import(importedFrom, importedPath string) (jsonnet.Contents, string, error) {
	if path.IsAbs(importedPath) {
		return jsonnet.Contents{}, "", fmt.Errorf("import %q: absolute imports are not allowed", importedPath)
	}
	// importedFrom is where the importing file was found ("" for the
	// entrypoint itself, which resolves from the root).
	candidates := []string{path.Join(path.Dir(importedFrom), importedPath)}
	for i := len(t.jpath) - 1; i >= 0; i-- {
		candidates = append(candidates, path.Join(t.jpath[i], importedPath))
	}
	for _, c := range candidates {
		c = path.Clean(c)
		if strings.HasPrefix(c, "..") {
			continue // outside the tree
		}
		if contents, ok := t.cache[c]; ok {
			return contents, c, nil
		}
		if data, ok := t.tree[c]; ok {
			contents := jsonnet.MakeContentsRaw(data)
			t.cache[c] = contents
			return contents, c, nil
		}
	}
	return jsonnet.Contents{}, "", fmt.Errorf("import %q: not found in the tree (looked in %s)", importedPath, strings.Join(candidates, ", "))
}
