package source

import (
	"io/fs"
	"sort"
	"testing"
	"testing/fstest"

	"github.com/go-git/go-git/v5/plumbing/filemode"
)

// A snapshot behaves as an fs.FS should (fstest checks Open, ReadDir and
// Stat against each other), following symlinks inside it like os.Root.
func TestSnapshotIsAFileSystem(t *testing.T) {
	s := &snapshot{nodes: map[string]*node{".": {mode: fs.ModeDir}}}
	for name, data := range map[string]string{"apps/web/cm.yaml": "a: 1\n", "apps/web/values.yaml": "b: 2\n", "top.yaml": "c: 3\n"} {
		if err := s.add(name, filemode.Regular, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.add("bin/run.sh", filemode.Executable, []byte("#!/bin/sh\n")); err != nil {
		t.Fatal(err)
	}
	if err := s.add("apps/web/link.yaml", filemode.Symlink, []byte("../../top.yaml")); err != nil {
		t.Fatal(err)
	}
	for _, n := range s.nodes {
		sort.Strings(n.children)
	}
	if err := fstest.TestFS(s, "apps/web/cm.yaml", "apps/web/values.yaml", "top.yaml", "bin/run.sh"); err != nil {
		t.Fatal(err)
	}
	if data, err := fs.ReadFile(s, "apps/web/link.yaml"); err != nil || string(data) != "c: 3\n" {
		t.Fatalf("through the link: %q, %v", data, err)
	}
	if info, err := fs.Stat(s, "bin/run.sh"); err != nil || info.Mode().Perm() != 0o755 {
		t.Fatalf("run.sh: %v, %v", info, err)
	}
}
