// Package testgit starts real Git servers for tests and builds fixture
// repositories in them.
//
// It serves over the smart HTTP protocol through fluxcd/pkg/gittestserver,
// which runs git's own upload-pack behind net/http (and can serve SSH with
// auth, which the source tests need): the client under test speaks the same
// protocol to it as to GitHub or Gitea, unlike a file:// remote.
package testgit

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxcd/gitkit"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/fluxcd/pkg/gittestserver"
	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
)

// T is what the package needs of a test: testing.TB has it, and so does
// the demo, which serves its example repository with this package.
type T interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

var _ T = testing.TB(nil)

// Server is a Git server on loopback, stopped when the test ends.
type Server struct {
	*gittestserver.GitServer
	uploadPacks atomic.Int64
	bearer      atomic.Pointer[string]
}

// Options configure a Server.
type Options struct {
	// Username and Password turn on HTTP basic auth.
	Username, Password string
	// BearerToken requires "Authorization: Bearer <token>" on every request.
	BearerToken string
	// Middleware wraps the server's handler, say to hold a response back.
	Middleware func(http.Handler) http.Handler
}

// Start starts a smart-HTTP Git server whose repositories live in a
// temporary folder.
func Start(t T) *Server {
	return StartWith(t, Options{})
}

// StartWith starts a smart-HTTP Git server with opts.
func StartWith(t T, opts Options) *Server {
	t.Helper()
	s := &Server{GitServer: gittestserver.NewGitServer(t.TempDir())}
	if opts.Username != "" || opts.Password != "" {
		s.Auth(opts.Username, opts.Password)
	}
	s.AddHTTPMiddlewares(s.countUploadPacks)
	if opts.Middleware != nil {
		s.AddHTTPMiddlewares(opts.Middleware)
	}
	if opts.BearerToken != "" {
		s.SetBearerToken(opts.BearerToken)
		s.AddHTTPMiddlewares(s.requireBearer)
	}
	if err := s.StartHTTP(); err != nil {
		t.Fatalf("start git server: %v", err)
	}
	t.Cleanup(s.StopHTTP)
	return s
}

// UploadPacks counts the fetches served: POSTs to git-upload-pack, which is
// where the objects are sent (listing refs is a GET).
func (s *Server) UploadPacks() int64 { return s.uploadPacks.Load() }

func (s *Server) countUploadPacks(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-upload-pack") {
			s.uploadPacks.Add(1)
		}
		next.ServeHTTP(w, r)
	})
}

// SetBearerToken changes the token the server accepts (a server started
// with Options.BearerToken): the old one is revoked at once.
func (s *Server) SetBearerToken(token string) {
	want := "Bearer " + token
	s.bearer.Store(&want)
}

func (s *Server) requireBearer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte(*s.bearer.Load())) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// SSHServer serves the repositories of a Server over SSH, accepting only
// one client key.
type SSHServer struct {
	// URL is the server's ssh:// base URL; append the repository's name.
	URL string
	// KnownHosts is a known_hosts line for the server's host key.
	KnownHosts string
}

// StartSSH serves s's repositories over SSH on loopback to the holder of
// clientKey. It is the one SSH server of the test binary at a time: the
// underlying library keeps its key check in a package variable.
func (s *Server) StartSSH(t T, clientKey ssh.PublicKey) *SSHServer {
	t.Helper()
	authorized := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(clientKey)))
	keyDir := t.TempDir()
	ssrv := gittestserver.NewGitServer(s.Root()).KeyDir(keyDir)
	ssrv.Auth("unused", "unused") // turns on key checking for SSH
	ssrv.PublicKeyLookupFunc(func(content string) (*gitkit.PublicKey, error) {
		if content != authorized {
			return nil, errors.New("unknown key")
		}
		return &gitkit.PublicKey{Id: "test"}, nil
	})
	if err := ssrv.ListenSSH(); err != nil {
		t.Fatalf("listen ssh: %v", err)
	}
	go func() { _ = ssrv.StartSSH() }()
	t.Cleanup(func() { _ = ssrv.StopSSH() })

	// The library wrote its host key on Listen.
	pubBytes, err := os.ReadFile(filepath.Join(keyDir, "gitkit.rsa.pub"))
	if err != nil {
		t.Fatalf("read host key: %v", err)
	}
	hostKey, _, _, _, err := ssh.ParseAuthorizedKey(pubBytes)
	if err != nil {
		t.Fatalf("parse host key: %v", err)
	}
	url := ssrv.SSHAddress()
	hostport := strings.TrimPrefix(url, "ssh://git@")
	return &SSHServer{URL: url, KnownHosts: knownhosts.Line([]string{knownhosts.Normalize(hostport)}, hostKey) + "\n"}
}

// Repo is a repository on a Server with a working copy in memory to commit from.
type Repo struct {
	URL    string
	work   *git.Repository
	branch string
}

// NewRepo creates an empty bare repository named name (e.g. "org/app.git")
// whose default branch is main.
func (s *Server) NewRepo(t T, name string) *Repo {
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
func (r *Repo) Commit(t T, files map[string]string, message string) string {
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
	}
	// One add of everything: adding file by file is quadratic in go-git.
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		t.Fatalf("add: %v", err)
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
func (r *Repo) Branch(t T, branch string) {
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
func (r *Repo) Tag(t T, name string) {
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

// Ref points the full ref name (e.g. refs/pull/1/head, as hosts publish
// pull requests) at the current commit on the server.
func (r *Repo) Ref(t T, name string) {
	t.Helper()
	head, err := r.work.Head()
	if err != nil {
		t.Fatalf("head: %v", err)
	}
	spec := config.RefSpec("+" + head.Name().String() + ":" + name)
	err = r.work.Push(&git.PushOptions{RemoteName: "origin", RefSpecs: []config.RefSpec{spec}})
	if err != nil && err != git.NoErrAlreadyUpToDate {
		t.Fatalf("push %s: %v", name, err)
	}
}

func (r *Repo) push(t T) {
	t.Helper()
	err := r.work.Push(&git.PushOptions{
		RemoteName: "origin",
		RefSpecs:   []config.RefSpec{"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"},
	})
	if err != nil && err != git.NoErrAlreadyUpToDate {
		t.Fatalf("push: %v", err)
	}
}

// Link stages a symlink name → target; the next Commit records it.
func (r *Repo) Link(t T, name, target string) {
	t.Helper()
	wt, err := r.work.Worktree()
	if err != nil {
		t.Fatalf("worktree: %v", err)
	}
	if err := wt.Filesystem.Symlink(target, name); err != nil {
		t.Fatalf("symlink %s: %v", name, err)
	}
	if _, err := wt.Add(name); err != nil {
		t.Fatalf("add %s: %v", name, err)
	}
}

// Standalone is a T for programs that serve repositories outside a test
// (the benchmarks): Fatal panics with a *FatalError, Cleanup collects
// functions that Close runs in reverse.
type Standalone struct{ cleanups []func() }

// FatalError is what Standalone's Fatal panics with.
type FatalError struct{ Err error }

func (e *FatalError) Error() string { return e.Err.Error() }

// RecoverFatal turns a Standalone's Fatal into the error of the function
// that defers it (defer testgit.RecoverFatal(&err)); other panics go on.
func RecoverFatal(err *error) {
	r := recover()
	if r == nil {
		return
	}
	fe, ok := r.(*FatalError)
	if !ok {
		panic(r)
	}
	*err = fe.Err
}

func (s *Standalone) Helper()                      {}
func (s *Standalone) Fatal(args ...any)            { panic(&FatalError{errors.New(fmt.Sprint(args...))}) }
func (s *Standalone) Fatalf(f string, args ...any) { panic(&FatalError{fmt.Errorf(f, args...)}) }
func (s *Standalone) Cleanup(f func())             { s.cleanups = append(s.cleanups, f) }
func (s *Standalone) TempDir() string {
	dir, err := os.MkdirTemp("", "configsync-git-")
	if err != nil {
		s.Fatal(err)
	}
	s.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// Close runs the clean-ups, newest first.
func (s *Standalone) Close() {
	for i := len(s.cleanups) - 1; i >= 0; i-- {
		s.cleanups[i]()
	}
	s.cleanups = nil
}
