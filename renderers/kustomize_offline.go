package renderers

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/api/hasher"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/resid"
)

// ErrRemoteRefused is wrapped by every error of a kustomize build that would
// have reached the network.
var ErrRemoteRefused = errors.New("renders may not reach the network; vendor it into the repository")

// kustomizationNames are the file names kustomize reads as kustomizations.
var kustomizationNames = func() map[string]bool {
	names := map[string]bool{}
	for _, n := range konfig.RecognizedKustomizationFileNames() {
		names[n] = true
	}
	return names
}()

// directoryFields are the kustomization fields whose entries kustomize may
// load as a directory (FileLoader.New), and so clone as a git repository:
// resources, generators, transformers and validators whenever reading the
// entry as a file fails for any reason, components always.
var directoryFields = map[string]bool{
	"resources": true, "bases": true, "components": true,
	"generators": true, "transformers": true, "validators": true,
}

// pluginFields may hold a builtin plugin's configuration inline.
var pluginFields = map[string]bool{"generators": true, "transformers": true, "validators": true}

// kustomizationData and pluginData are the fields that hold values kustomize
// copies into objects or patches and never loads: URLs there (a documentation
// link in an annotation, an inline patch setting a webhook URL) are data, not
// references. A kustomization is decoded as kustomize decodes it and matched
// under kustomize's own field names. A builtin plugin's configuration is
// matched by the key as written, lower-cased: a key that only kustomize's case
// folding would match is not exempt, and is checked.
var kustomizationData = map[string]bool{
	"commonLabels": true, "commonAnnotations": true, "labels": true, "annotations": true,
	"literals": true, "patch": true, "metadata": true,
}

func isKustomizationData(key string) bool { return kustomizationData[key] }
func isPluginData(key string) bool        { return pluginData[strings.ToLower(key)] }

var pluginData = map[string]bool{
	"annotations": true, "labels": true, "literals": true, "patch": true,
	"jsonop": true, "metadata": true, "value": true,
}

// pluginFactory parses plugin configurations as kustomize does
// (resource.Factory.RNodesFromBytes: documents, bad nodes dropped, any kind
// ending in List with items unpacked).
var pluginFactory = resource.NewFactory(&hasher.Hasher{})

// pluginFolderFields are the only fields a kustomization may set in a folder
// whose build becomes generator, transformer or validator configurations:
// none of them can write a string into a configuration (labels and
// annotations are maps, names and namespaces go to metadata). Every other
// field (patches, replacements, vars, configurations, crds, plugins, Helm)
// could rewrite a configuration's path to a remote location after the files
// were read, out of this check's sight.
var pluginFolderFields = map[string]bool{
	"apiVersion": true, "kind": true, "metadata": true,
	"resources": true, "bases": true, "components": true,
	"namespace": true, "namePrefix": true, "nameSuffix": true,
	"commonLabels": true, "labels": true, "commonAnnotations": true,
	"configMapGenerator": true, "secretGenerator": true, "generatorOptions": true,
	"buildMetadata": true, "sortOptions": true,
}

// remoteReference returns an error when a file kustomize reads (name is
// relative to the tree's root) names a location kustomize would fetch over
// the network: an http(s) URL in any field that kustomize loads from, or a git
// repository in a field whose entries can be directories. Every file is
// checked as the builtin plugin configurations it may be read as (a file
// named kustomization.yaml can be a transformers entry too); a kustomization
// is also checked as a kustomization. What kustomize cannot parse is left to
// kustomize, which fails on it without fetching. pluginDirs holds the
// folders (absolute in the tree) whose build kustomize reads as plugin
// configurations; a kustomization adds the folders it so names.
func remoteReference(name string, data []byte, pluginDirs map[string]bool) error {
	if kustomizationNames[path.Base(name)] {
		if err := scanKustomization(name, data, pluginDirs); err != nil {
			return err
		}
	}
	return scanPluginConfigs(name, data)
}

// scanKustomization decodes data exactly as kustomize does
// (types.Kustomization.Unmarshal: sigs.k8s.io/yaml, then encoding/json with
// its case folding, unknown fields refused), and walks the decoded
// kustomization under kustomize's own field names, whatever the file spells.
func scanKustomization(name string, data []byte, pluginDirs map[string]bool) error {
	var k types.Kustomization
	if err := k.Unmarshal(data); err != nil {
		return nil // kustomize fails on it too, and loads nothing from it
	}
	j, err := json.Marshal(k)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(j, &doc); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	dir := path.Dir("/" + name)
	inPluginDir := pluginDirs[dir]
	for _, key := range slices.Sorted(maps.Keys(doc)) {
		if inPluginDir && !pluginFolderFields[key] {
			return fmt.Errorf("%s: %s in a folder read as generator, transformer or validator configurations (it could point one at a remote location) refused: %w", name, key, ErrRemoteRefused)
		}
		if kustomizationData[key] {
			continue
		}
		list, isList := doc[key].([]any)
		if !directoryFields[key] || !isList {
			if err := scanValue(name, key, doc[key], isKustomizationData); err != nil {
				return err
			}
			continue
		}
		for i, entry := range list {
			at := fmt.Sprintf("%s[%d]", key, i)
			s, _ := entry.(string) // []string in types.Kustomization
			if isRemoteFile(s) || isGitRepository(s) {
				return refuse(name, at, s)
			}
			if pluginFields[key] {
				// An inline configuration (kustomize tries that first).
				if err := scanPluginConfigs(name+" "+at, []byte(s)); err != nil {
					return err
				}
			}
			if pluginFields[key] || inPluginDir {
				// A folder named here builds plugin configurations.
				pluginDirs[path.Join(dir, s)] = true
			}
		}
	}
	return nil
}

// scanPluginConfigs checks the builtin plugin configurations among the
// resources of data, parsed as kustomize parses a generator's or
// transformer's file or inline entry. Builtin is decided as kustomize's
// plugin loader decides it: group empty, version "builtin". Every string
// outside data fields that kustomize's loader would fetch is refused, as is
// a "key=URL" file source.
func scanPluginConfigs(name string, data []byte) error {
	nodes, err := pluginFactory.RNodesFromBytes(data)
	if err != nil {
		return nil // kustomize fails on it too
	}
	for _, n := range nodes {
		gvk := resid.GvkFromNode(n)
		if gvk.Group != "" || gvk.Version != konfig.BuiltinPluginApiVersion {
			continue
		}
		doc, err := n.Map()
		if err != nil {
			return fmt.Errorf("%s: builtin %s: %w", name, gvk.Kind, err)
		}
		if err := scanValue(name, gvk.Kind, doc, isPluginData); err != nil {
			return err
		}
	}
	return nil
}

// scanValue refuses any http(s) URL in v outside data fields, alone or as
// the path of a "key=path" file source.
func scanValue(name, at string, v any, isData func(key string) bool) error {
	switch t := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(t)) {
			if isData(k) {
				continue
			}
			if err := scanValue(name, at+"."+k, t[k], isData); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range t {
			if err := scanValue(name, fmt.Sprintf("%s[%d]", at, i), e, isData); err != nil {
				return err
			}
		}
	case string:
		_, afterKey, _ := strings.Cut(t, "=")
		if isRemoteFile(t) || isRemoteFile(afterKey) {
			return refuse(name, at, t)
		}
	}
	return nil
}

func refuse(name, at, ref string) error {
	return fmt.Errorf("%s: remote %s %q refused: %w", name, at, ref, ErrRemoteRefused)
}

// isRemoteFile is kustomize's test for a path its loader fetches over HTTP
// (loader.IsRemoteFile).
func isRemoteFile(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https")
}

var gitUser = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*@`)

// isGitRepository holds for every string kustomize's git.NewRepoSpecFromURL
// could accept as a repository to clone: a git::-prefixed, ssh, http(s) or
// file URL, an scp-like user@host:path or user@host/path, or github.com/...
// (a superset: some of these fail kustomize's later checks, without cloning;
// kustomize compares the prefixes ASCII case-insensitively).
func isGitRepository(s string) bool {
	if path.IsAbs(s) {
		return false
	}
	n, _, _ := strings.Cut(s, "?")
	n = strings.ToLower(n)
	n = strings.TrimPrefix(n, "git::")
	for _, scheme := range []string{"ssh://", "https://", "http://", "file://", "github.com/", "github.com:"} {
		if strings.HasPrefix(n, scheme) {
			return true
		}
	}
	// user@host with no path separator after it never parses as a repository
	// (a file named app@v2.yaml is a file).
	if m := gitUser.FindString(n); m != "" {
		return strings.ContainsAny(n[len(m):], "/:")
	}
	return false
}
