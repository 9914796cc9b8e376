package renderers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/yaml"
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
// load as a directory (FileLoader.New), and so clone as a git repository.
// kustomize decodes field names case-insensitively, hence lower case here.
var directoryFields = map[string]bool{
	"resources": true, "bases": true, "components": true,
	"generators": true, "transformers": true, "validators": true,
}

// pluginFields may hold a builtin plugin's configuration inline.
var pluginFields = map[string]bool{"generators": true, "transformers": true, "validators": true}

// opaqueFields hold values kustomize copies into objects or patches and never
// loads: URLs there (a documentation link in an annotation, an inline patch
// setting a webhook URL) are data, not references.
var opaqueFields = map[string]bool{
	"commonlabels": true, "commonannotations": true, "labels": true, "annotations": true,
	"literals": true, "patch": true, "metadata": true,
}

// remoteReference returns an error when a file kustomize reads (name is
// relative to the tree's root) names a location kustomize would fetch over
// the network: an http(s) URL in any field that kustomize loads from, or a git
// repository in a field whose entries can be directories. Files kustomize
// cannot parse are left to kustomize, which fails on them without fetching.
func remoteReference(fs filesys.FileSystem, name string, data []byte) error {
	if kustomizationNames[path.Base(name)] {
		// Parsed as kustomize parses a kustomization (types.Kustomization.Unmarshal).
		j, err := yaml.YAMLToJSON(data)
		if err != nil {
			return nil
		}
		var doc map[string]any
		if err := json.Unmarshal(j, &doc); err != nil {
			return nil
		}
		return scanKustomization(fs, name, doc)
	}
	if !bytes.Contains(data, []byte("builtin")) {
		return nil // cheap test first: only builtin plugins' configurations load files
	}
	return scanPluginConfigs(name, data)
}

func scanKustomization(fs filesys.FileSystem, name string, doc map[string]any) error {
	dir := path.Dir("/" + name)
	for _, key := range sortedKeys(doc) {
		field := strings.ToLower(key)
		if opaqueFields[field] {
			continue
		}
		list, isList := doc[key].([]any)
		if !directoryFields[field] || !isList {
			if err := scanValue(name, key, doc[key]); err != nil {
				return err
			}
			continue
		}
		for i, entry := range list {
			at := fmt.Sprintf("%s[%d]", key, i)
			s, ok := entry.(string)
			if !ok {
				if err := scanValue(name, at, entry); err != nil {
					return err
				}
				continue
			}
			if isRemoteFile(s) {
				return refuse(name, at, s)
			}
			if pluginFields[field] {
				// An inline configuration (kustomize tries that first).
				if err := scanPluginConfigs(name+" "+at, []byte(s)); err != nil {
					return err
				}
			}
			// resources, generators, transformers and validators are read as
			// a file first; components and anything that is not a file go to
			// the loader's New, which clones whatever parses as a git URL.
			if field != "components" && isTreeFile(fs, path.Join(dir, s)) {
				continue
			}
			if isGitRepository(s) {
				return refuse(name, at, s)
			}
		}
	}
	return nil
}

// scanPluginConfigs checks the builtin plugin configurations among the YAML
// documents of data (kustomize reads a generator's or transformer's file or
// inline entry as such).
func scanPluginConfigs(name string, data []byte) error {
	nodes, err := kio.FromBytes(data)
	if err != nil {
		return nil
	}
	for _, n := range nodes {
		if n.GetApiVersion() != konfig.BuiltinPluginApiVersion {
			continue
		}
		doc, err := n.Map()
		if err != nil {
			continue
		}
		if err := scanValue(name, n.GetKind(), doc); err != nil {
			return err
		}
	}
	return nil
}

// scanValue refuses any http(s) URL in v, outside opaque fields.
func scanValue(name, at string, v any) error {
	switch t := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(t) {
			field := strings.ToLower(k)
			if opaqueFields[field] {
				continue
			}
			if field == "files" {
				// configMapGenerator/secretGenerator files: "key=path" or "path".
				if list, ok := t[k].([]any); ok {
					for i, e := range list {
						if s, ok := e.(string); ok && strings.Count(s, "=") == 1 && isRemoteFile(s[strings.Index(s, "=")+1:]) {
							return refuse(name, fmt.Sprintf("%s.%s[%d]", at, k, i), s)
						}
					}
				}
			}
			if err := scanValue(name, at+"."+k, t[k]); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range t {
			if err := scanValue(name, fmt.Sprintf("%s[%d]", at, i), e); err != nil {
				return err
			}
		}
	case string:
		if isRemoteFile(t) {
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
// file URL, an scp-like user@host:path, or github.com/... (a superset: some of
// these fail kustomize's later checks, without cloning).
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
	return gitUser.MatchString(n)
}

func isTreeFile(fs filesys.FileSystem, name string) bool {
	return fs.Exists(name) && !fs.IsDir(name)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
