// Helpers that several test files of the package share.
package source_test

import (
	"path"
	"testing"

	"github.com/configsync/configsync/internal/filetree"
	"github.com/configsync/configsync/source"
)

// fileOf reads one file of an artifact.
func fileOf(t *testing.T, art *source.Artifact, name string) string {
	t.Helper()
	tree, err := art.Load(name, filetree.DefaultLimits)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return string(tree[path.Base(name)])
}
