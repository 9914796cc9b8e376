// Package source fetches configuration from Git into immutable local
// artifacts, one folder per commit.
package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"
)

// Request says what to fetch.
type Request struct {
	// URL of the repository.
	URL string
	// Branch to follow; empty means the remote's HEAD.
	Branch string
	// Revision pins a commit (full or short SHA) or a tag; it wins over Branch.
	Revision string
	// Timeout bounds the whole fetch; zero means DefaultTimeout.
	Timeout time.Duration
}

// DefaultTimeout bounds a fetch whose Request sets none.
const DefaultTimeout = 60 * time.Second

// Artifact is an immutable checkout of one commit. Never write into Dir:
// other ConfigSyncs on the same commit share it.
type Artifact struct {
	// Dir is the root of the checked-out files; it holds no .git folder.
	Dir string
	// Commit is the full commit SHA.
	Commit string
	// Ref is what was asked for: a branch, a tag, or the pinned revision.
	Ref string
}

// Revision formats the artifact as <ref>@sha1:<commit>, the form Flux users know.
func (a *Artifact) Revision() string { return a.Ref + "@sha1:" + a.Commit }

// Fetcher fetches a Request into an Artifact.
type Fetcher interface {
	Fetch(ctx context.Context, req Request) (*Artifact, error)
}

// GitFetcher fetches with go-git into a folder per repository and commit
// under Dir. It lists the remote's refs first and skips the download when
// the commit is already there, so an unchanged resync costs one round trip.
type GitFetcher struct {
	Dir string
}

var _ Fetcher = (*GitFetcher)(nil)

// Fetch resolves req to a commit and returns its artifact.
func (f *GitFetcher) Fetch(ctx context.Context, req Request) (*Artifact, error) {
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	refs, err := listRefs(ctx, req.URL)
	if err != nil {
		return nil, err
	}
	target, err := resolve(refs, req)
	if err != nil {
		return nil, err
	}
	dir := f.artifactDir(req.URL, target.commit)
	if target.commit != "" && exists(dir) {
		return &Artifact{Dir: dir, Commit: target.commit, Ref: target.name}, nil
	}
	repo, err := clone(ctx, req.URL, target)
	if err != nil {
		return nil, err
	}
	commit, err := commitOf(repo, target, req.Revision)
	if err != nil {
		return nil, err
	}
	dir = f.artifactDir(req.URL, commit.Hash.String())
	if err := f.materialize(commit, dir); err != nil {
		return nil, err
	}
	return &Artifact{Dir: dir, Commit: commit.Hash.String(), Ref: target.name}, nil
}

// target is what a Request resolved to against the remote's refs. commit is
// empty when only a clone can tell (a short SHA).
type target struct {
	name   string
	ref    plumbing.ReferenceName
	commit string
}

func listRefs(ctx context.Context, url string) ([]*plumbing.Reference, error) {
	remote := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{url}})
	refs, err := remote.ListContext(ctx, &git.ListOptions{})
	if err != nil {
		return nil, classify(url, err)
	}
	return refs, nil
}

func resolve(refs []*plumbing.Reference, req Request) (target, error) {
	byName := make(map[plumbing.ReferenceName]*plumbing.Reference, len(refs))
	for _, r := range refs {
		byName[r.Name()] = r
	}
	hashOf := func(name plumbing.ReferenceName) (string, bool) {
		// Annotated tags advertise a peeled ^{} entry naming the commit.
		if r, ok := byName[name+"^{}"]; ok {
			return r.Hash().String(), true
		}
		r, ok := byName[name]
		if !ok {
			return "", false
		}
		if r.Type() == plumbing.SymbolicReference {
			r, ok = byName[r.Target()]
			if !ok {
				return "", false
			}
		}
		return r.Hash().String(), true
	}

	if rev := req.Revision; rev != "" {
		tag := plumbing.NewTagReferenceName(rev)
		if sha, ok := hashOf(tag); ok {
			return target{name: rev, ref: tag, commit: sha}, nil
		}
		if !isHex(rev) || len(rev) < 7 || len(rev) > 40 {
			return target{}, fail(ReasonRevisionNotFound, "revision %q is neither a tag of the remote nor a commit SHA", rev)
		}
		if len(rev) == 40 {
			return target{name: shortSHA(rev), commit: rev}, nil
		}
		return target{name: rev}, nil
	}

	if req.Branch != "" {
		ref := plumbing.NewBranchReferenceName(req.Branch)
		sha, ok := hashOf(ref)
		if !ok {
			return target{}, fail(ReasonRevisionNotFound, "branch %q not found on the remote", req.Branch)
		}
		return target{name: req.Branch, ref: ref, commit: sha}, nil
	}

	head, ok := byName[plumbing.HEAD]
	if !ok {
		return target{}, fail(ReasonRevisionNotFound, "the remote advertises no HEAD; set spec.source.git.branch")
	}
	sha, _ := hashOf(plumbing.HEAD)
	name := "HEAD"
	ref := plumbing.HEAD
	if head.Type() == plumbing.SymbolicReference {
		ref = head.Target()
		name = ref.Short()
	} else {
		// Without the symref capability, find the branch that HEAD points at.
		for _, r := range refs {
			if r.Name().IsBranch() && r.Hash() == head.Hash() {
				ref, name = r.Name(), r.Name().Short()
				break
			}
		}
	}
	if sha == "" {
		return target{}, fail(ReasonRevisionNotFound, "the remote's HEAD points at nothing; set spec.source.git.branch")
	}
	return target{name: name, ref: ref, commit: sha}, nil
}

// clone fetches into memory: the artifact is written from the commit's tree,
// so no .git folder ever reaches a renderer. A branch or tag is fetched
// shallow; a bare SHA needs the history to find it.
func clone(ctx context.Context, url string, t target) (*git.Repository, error) {
	opts := &git.CloneOptions{URL: url, NoCheckout: true, Tags: git.NoTags}
	if t.ref != "" && t.ref != plumbing.HEAD {
		opts.ReferenceName = t.ref
		opts.SingleBranch = true
		opts.Depth = 1
	}
	repo, err := git.CloneContext(ctx, memory.NewStorage(), nil, opts)
	if err != nil {
		return nil, classify(url, err)
	}
	return repo, nil
}

func commitOf(repo *git.Repository, t target, revision string) (*object.Commit, error) {
	want := t.commit
	if want == "" {
		want = revision
	}
	hash, err := repo.ResolveRevision(plumbing.Revision(want))
	if err != nil {
		return nil, fail(ReasonRevisionNotFound, "revision %q: %w", want, err)
	}
	commit, err := repo.CommitObject(*hash)
	if err != nil {
		return nil, fail(ReasonRevisionNotFound, "commit %s: %w", hash, err)
	}
	return commit, nil
}

// materialize writes the commit's files to dir, atomically: a concurrent
// fetch of the same commit either sees the whole folder or none of it.
func (f *GitFetcher) materialize(commit *object.Commit, dir string) error {
	if exists(dir) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("create cache folder: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".tmp-")
	if err != nil {
		return fmt.Errorf("create cache folder: %w", err)
	}
	defer os.RemoveAll(tmp)
	tree, err := commit.Tree()
	if err != nil {
		return fmt.Errorf("read tree of %s: %w", commit.Hash, err)
	}
	if err := tree.Files().ForEach(func(file *object.File) error { return writeFile(tmp, file) }); err != nil {
		return fmt.Errorf("write files of %s: %w", commit.Hash, err)
	}
	if err := os.Rename(tmp, dir); err != nil && !exists(dir) {
		return fmt.Errorf("publish %s: %w", dir, err)
	}
	return nil
}

// writeFile writes one blob. Symlinks are kept as symlinks: readers open the
// tree through an os.Root, which refuses links that lead outside it.
func writeFile(root string, file *object.File) error {
	name := filepath.Join(root, filepath.FromSlash(file.Name))
	if !strings.HasPrefix(name, root+string(filepath.Separator)) {
		return fmt.Errorf("%s: path leaves the repository", file.Name)
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	r, err := file.Reader()
	if err != nil {
		return err
	}
	defer r.Close()
	if file.Mode == filemode.Symlink {
		dest, err := io.ReadAll(io.LimitReader(r, 4096))
		if err != nil {
			return err
		}
		return os.Symlink(string(dest), name)
	}
	perm := os.FileMode(0o644)
	if file.Mode == filemode.Executable {
		perm = 0o755
	}
	out, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func (f *GitFetcher) artifactDir(url, commit string) string {
	sum := sha256.Sum256([]byte(url))
	return filepath.Join(f.Dir, hex.EncodeToString(sum[:8]), commit)
}

func classify(url string, err error) error {
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed),
		errors.Is(err, transport.ErrInvalidAuthMethod):
		return &Error{Reason: ReasonAuthenticationFailed, Err: fmt.Errorf("fetch %s: %w", url, err)}
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return &Error{Reason: ReasonRevisionNotFound, Err: fmt.Errorf("fetch %s: %w", url, err)}
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return &Error{Reason: ReasonRevisionNotFound, Err: fmt.Errorf("fetch %s: the repository has no commits", url)}
	default:
		return &Error{Reason: ReasonSourceUnreachable, Err: fmt.Errorf("fetch %s: %w", url, err)}
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func isHex(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

func shortSHA(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
