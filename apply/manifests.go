// Package apply turns rendered files into Kubernetes objects and applies them
// with server-side apply: every object is dry-run first, and nothing is
// written unless the whole set passes.
package apply

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/configsync/configsync/internal/filetree"
)

// ManifestError says which file and document failed to decode.
type ManifestError struct {
	File string
	// Doc is the 1-based index of the document in a multi-document file.
	Doc int
	Err error
}

func (e *ManifestError) Error() string {
	return fmt.Sprintf("%s (document %d): %v", e.File, e.Doc, e.Err)
}

func (e *ManifestError) Unwrap() error { return e.Err }

// IsManifest says whether a file of the tree is read as Kubernetes objects.
func IsManifest(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// MaxManifestBytes bounds a YAML or JSON file. etcd refuses objects over
// about 1.5 MiB, so a bigger manifest file can only be a mistake or an attack.
const MaxManifestBytes = 8 << 20

// Decode reads every YAML or JSON file of the tree, in path order, as
// Kubernetes objects. Multi-document files are split on "---"; empty
// documents are skipped; a v1 List is expanded into its items. Files in which
// no document has an apiVersion or a kind are plain data (a config file to
// sync into a ConfigMap), not manifests, and are skipped. In a manifest,
// duplicate keys and documents without apiVersion, kind or name are errors: a
// manifest that means two things must not be applied as either.
func Decode(t filetree.Tree) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	for _, name := range t.Paths() {
		if !IsManifest(name) {
			continue
		}
		if len(t[name]) > MaxManifestBytes {
			// Checked before parsing: a YAML parser needs many times the
			// file's size in memory.
			return nil, &ManifestError{File: name, Doc: 1, Err: fmt.Errorf("%d bytes: larger than %d, bigger than any object the apiserver stores", len(t[name]), MaxManifestBytes)}
		}
		if isPlainData(t[name]) {
			continue
		}
		decoded, err := decodeFile(name, t[name])
		if err != nil {
			return nil, err
		}
		objs = append(objs, decoded...)
	}
	return objs, nil
}

// DataFiles returns the files of the tree that are not manifests: other
// extensions, and YAML or JSON files that are plain data.
func DataFiles(t filetree.Tree) filetree.Tree {
	out := filetree.Tree{}
	for name, data := range t {
		if !IsManifest(name) || isPlainData(data) {
			out[name] = data
		}
	}
	return out
}

// isPlainData says whether no document of a YAML or JSON file has an
// apiVersion or a kind. A file that does not parse is not plain data: the
// manifest decoder reports it.
func isPlainData(data []byte) bool {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return true
		}
		if err != nil {
			return false
		}
		var doc any
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			return false
		}
		if m, ok := doc.(map[string]any); ok {
			if _, ok := m["apiVersion"]; ok {
				return false
			}
			if _, ok := m["kind"]; ok {
				return false
			}
		}
	}
}

func decodeFile(name string, data []byte) ([]*unstructured.Unstructured, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []*unstructured.Unstructured
	for doc := 1; ; doc++ {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, &ManifestError{File: name, Doc: doc, Err: err}
		}
		decoded, err := decodeDocument(raw)
		if err != nil {
			return nil, &ManifestError{File: name, Doc: doc, Err: err}
		}
		objs = append(objs, decoded...)
	}
}

func decodeDocument(raw []byte) ([]*unstructured.Unstructured, error) {
	js, err := yaml.YAMLToJSONStrict(raw)
	if err != nil {
		return nil, err
	}
	js = bytes.TrimSpace(js)
	if len(js) == 0 || bytes.Equal(js, []byte("null")) {
		return nil, nil // only comments or whitespace
	}
	if js[0] != '{' {
		return nil, errors.New("a document must be an object")
	}
	// util/json keeps integers as int64, as unstructured objects need.
	var content map[string]any
	if err := utiljson.Unmarshal(js, &content); err != nil {
		return nil, err
	}
	obj := &unstructured.Unstructured{Object: content}
	if obj.IsList() {
		var items []*unstructured.Unstructured
		err := obj.EachListItem(func(o runtime.Object) error {
			u, ok := o.(*unstructured.Unstructured)
			if !ok {
				return fmt.Errorf("list item is %T", o)
			}
			if err := validate(u); err != nil {
				return err
			}
			items = append(items, u)
			return nil
		})
		return items, err
	}
	if err := validate(obj); err != nil {
		return nil, err
	}
	return []*unstructured.Unstructured{obj}, nil
}

func validate(obj *unstructured.Unstructured) error {
	switch {
	case obj.GetAPIVersion() == "":
		return errors.New("apiVersion is missing")
	case obj.GetKind() == "":
		return errors.New("kind is missing")
	case obj.GetName() == "" && obj.GetGenerateName() == "":
		return fmt.Errorf("%s has no metadata.name", obj.GetKind())
	case obj.GetName() == "":
		return fmt.Errorf("%s uses generateName, which cannot be kept in sync; set metadata.name", obj.GetKind())
	}
	return nil
}
