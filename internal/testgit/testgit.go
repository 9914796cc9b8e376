// Package testgit starts real Git servers for tests and builds fixture
// repositories in them.
//
// It serves over the smart HTTP protocol through fluxcd/pkg/gittestserver,
// which runs git's own upload-pack behind net/http (and can serve SSH with
// auth, which the source tests need): the client under test speaks the same
// protocol to it as to GitHub or Gitea, unlike a file:// remote.
package testgit

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fluxcd/pkg/gittestserver"
	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
)

// Server is a Git server on loopback, stopped when the test ends.
type Server struct {
	*gittestserver.GitServer
}

// Start starts a smart-HTTP Git server whose repositories live in a
// temporary folder.
func Start(t testing.TB) *Server {
	t.Helper()
	srv := gittestserver.NewGitServer(t.TempDir())
	if err := srv.StartHTTP(); err != nil {
		t.Fatalf("start git server: %v", err)
	}
	t.Cleanup(srv.StopHTTP)
	return &Server{GitServer: srv}
}

// Repo is a repository on a Server with a working copy in memory to commit from.
type Repo struct {
	URL    string
	work   *git.Repository
	branch string
}

// NewRepo creates an empty bare repository named name (e.g. "org/app.git")
// whose default branch is main.
func (s *Server) NewRepo(t testing.TB, name string) *Repo {
	t.Helper()
	bareDir := filepath.Join(s.Root(), name)
	bare, err := git.PlainInit(bareDir, true)
	if err != nil {
		t.Fatalf("init %s: %v", name, err)
	}
	if err := bare.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, plumbing.NewBranchReferenceName("main"))); err != nil {
		t.Fatalf("set HEAD of %s: %v", name, err)
	}
	work, err := git.Init(memory.NewStorage(), memfs.New())
	if err != nil {
		t.Fatalf("init working copy: %v", err)
	}
	if err := work.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, plumbing.NewBranchReferenceName("main"))); err != nil {
		t.Fatalf("set HEAD of working copy: %v", err)
	}
	if _, err := work.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{"file://" + bareDir}}); err != nil {
		t.Fatalf("add remote: %v", err)
	}
	return &Repo{URL: s.HTTPAddress() + "/" + name, work: work, branch: "main"}
}

// Commit writes files (path → content; an empty content deletes the path),
// commits them to the current branch, pushes, and returns the commit SHA.
func (r *Repo) Commit(t testing.TB, files map[string]string, message string) string {
	t.Helper()
	wt, err := r.work.Worktree()
	if err != nil {
		t.Fatalf("worktree: %v", err)
	}
	for name, content := range files {
		if content == "" {
			if _, err := wt.Remove(name); err != nil {
				t.Fatalf("remove %s: %v", name, err)
			}
			continue
		}
		if err := wt.Filesystem.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatalf("mkdir for %s: %v", name, err)
		}
		f, err := wt.Filesystem.OpenFile(name, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		if _, err := f.Write([]byte(content)); err != nil {
			t.Fatalf("write %s: %v", name, err)
		}
		f.Close()
		if _, err := wt.Add(name); err != nil {
			t.Fatalf("add %s: %v", name, err)
		}
	}
	hash, err := wt.Commit(message, &git.CommitOptions{
		AllowEmptyCommits: true,
		Author:            &object.Signature{Name: "Test", Email: "test@example.com", When: time.Now()},
	})
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	r.push(t)
	return hash.String()
}

// Branch switches the working copy to branch, creating it from the current
// commit when it does not exist yet. Later commits go to it.
func (r *Repo) Branch(t testing.TB, branch string) {
	t.Helper()
	wt, err := r.work.Worktree()
	if err != nil {
		t.Fatalf("worktree: %v", err)
	}
	ref := plumbing.NewBranchReferenceName(branch)
	_, err = r.work.Reference(ref, false)
	if err := wt.Checkout(&git.CheckoutOptions{Branch: ref, Create: err != nil, Keep: true}); err != nil {
		t.Fatalf("checkout %s: %v", branch, err)
	}
	r.branch = branch
}

// Tag creates a lightweight tag at the current commit and pushes it.
func (r *Repo) Tag(t testing.TB, name string) {
	t.Helper()
	head, err := r.work.Head()
	if err != nil {
		t.Fatalf("head: %v", err)
	}
	if _, err := r.work.CreateTag(name, head.Hash(), nil); err != nil {
		t.Fatalf("tag %s: %v", name, err)
	}
	r.push(t)
}

func (r *Repo) push(t testing.TB) {
	t.Helper()
	err := r.work.Push(&git.PushOptions{
		RemoteName: "origin",
		RefSpecs:   []config.RefSpec{"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"},
	})
	if err != nil && err != git.NoErrAlreadyUpToDate {
		t.Fatalf("push: %v", err)
	}
}
