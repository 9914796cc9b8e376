package source

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
)

// A commit naming one 1 MiB blob under 200 paths is 1 MiB of objects, what
// --max-fetch-bytes bounds; read path by path it was 200 MiB in the
// manager. The snapshot holds the blob once.
func TestPathsSharingABlobShareItsBytes(t *testing.T) {
	st := memory.NewStorage()
	blob := st.NewEncodedObject()
	blob.SetType(plumbing.BlobObject)
	w, err := blob.Writer()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(strings.Repeat("a", 1<<20))); err != nil {
		t.Fatal(err)
	}
	w.Close()
	blobHash, err := st.SetEncodedObject(blob)
	if err != nil {
		t.Fatal(err)
	}
	tree := &object.Tree{}
	for i := range 200 {
		tree.Entries = append(tree.Entries, object.TreeEntry{Name: fmt.Sprintf("f%03d.yaml", i), Mode: filemode.Regular, Hash: blobHash})
	}
	treeHash := store(t, st, tree)
	sig := object.Signature{Name: "t", Email: "t@example.com", When: time.Unix(0, 0)}
	commitHash := store(t, st, &object.Commit{Author: sig, Committer: sig, Message: "inflate", TreeHash: treeHash})
	commit, err := object.GetCommit(st, commitHash)
	if err != nil {
		t.Fatal(err)
	}
	s, err := snapshotOf(commit)
	if err != nil {
		t.Fatal(err)
	}
	if s.size != 1<<20 {
		t.Errorf("the snapshot holds %d MiB, want 1", s.size>>20)
	}
	if got := len(s.nodes["."].children); got != 200 {
		t.Errorf("%d files, want 200", got)
	}
}

func store(t *testing.T, st *memory.Storage, obj interface {
	Encode(plumbing.EncodedObject) error
}) plumbing.Hash {
	t.Helper()
	enc := st.NewEncodedObject()
	if err := obj.Encode(enc); err != nil {
		t.Fatal(err)
	}
	h, err := st.SetEncodedObject(enc)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
