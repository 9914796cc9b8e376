// Package source fetches configuration from Git into immutable local
// artifacts, one folder per repository, credentials and commit, shared by
// every ConfigSync of the process.
package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"
	"golang.org/x/crypto/ssh/knownhosts"
	"golang.org/x/sync/singleflight"

	"github.com/configsync/configsync/internal/failure"
)

// Request says what to fetch.
type Request struct {
	// URL of the repository.
	URL string
	// Branch to follow; empty means the remote's HEAD.
	Branch string
	// Revision pins a commit (full or short SHA) or a tag; it wins over Branch.
	Revision string
	// Auth holds credentials; nil means none.
	Auth *Auth
	// Timeout bounds the whole fetch; zero means DefaultTimeout.
	Timeout time.Duration
	// NotBefore: the refs must come from a listing that started at or after
	// this time, such as when a push was announced; the last finished
	// listing of the repository serves if it did. Zero lets the fetch share
	// a listing already under way, and never a finished one.
	NotBefore time.Time
	// BeforeDownload, when set, is called once the fetch knows the commit
	// is not cached and must be downloaded: the one slow step of a fetch,
	// worth telling a user about.
	BeforeDownload func()
}

// DefaultTimeout bounds a fetch whose Request sets none.
const DefaultTimeout = 60 * time.Second

// Fetcher fetches a Request into an Artifact.
type Fetcher interface {
	Fetch(ctx context.Context, req Request) (*Artifact, error)
}

// GitFetcher fetches with go-git into a cache shared by every ConfigSync. It
// lists the remote's refs first and downloads nothing when the commit is
// already cached; concurrent fetches of one repository share one listing and
// one download.
type GitFetcher struct {
	// MaxArtifacts bounds the commits kept in memory; zero means DefaultMaxArtifacts.
	MaxArtifacts int
	// MaxCacheBytes bounds the file contents of the commits kept; zero
	// means DefaultMaxCacheBytes.
	MaxCacheBytes int64
	// MaxBytes bounds the uncompressed objects of one download; zero means DefaultMaxBytes.
	MaxBytes int64
	// AllowPlainHTTPCredentials sends credentials (authMethod https, or a
	// user name or password in the URL) over plain http://. Off, such a
	// fetch fails with AuthenticationFailed before any connection: anyone
	// on the path would read them. The manager's
	// --git-allow-plain-http-credentials turns it on; tests serve Git over
	// plain HTTP on loopback.
	AllowPlainHTTPCredentials bool

	group    singleflight.Group
	branches branchChecks
	listings refListings
	cache    artifactCache
	kept     keptClones
}

var _ Fetcher = (*GitFetcher)(nil)

// Fetch resolves req to a commit and returns its artifact. The caller must
// Release the artifact when done reading it.
func (f *GitFetcher) Fetch(ctx context.Context, req Request) (art *Artifact, err error) {
	start := time.Now()
	host := Host(req.URL)
	defer func() {
		result := "Success"
		if err != nil {
			result = failure.ReasonOf(err)
		}
		FetchDuration.WithLabelValues(host, result).Observe(time.Since(start).Seconds())
	}()

	timeout := req.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	if !f.AllowPlainHTTPCredentials {
		if err := refuseCleartext(req.URL, req.Auth); err != nil {
			return nil, &Error{Reason: ReasonAuthenticationFailed, Err: err}
		}
	}
	auth, err := req.Auth.transportAuth(req.URL)
	if err != nil {
		return nil, &Error{Reason: ReasonAuthenticationFailed, Err: redact(err, req.URL, req.Auth)}
	}
	c := conn{url: req.URL, auth: auth, secrets: req.Auth}
	if req.Auth != nil {
		c.caBundle = req.Auth.CABundle
	}
	key := cacheKey(req.URL, req.Auth)

	refs, err := f.listRefs(ctx, key, c, req.NotBefore)
	if err != nil {
		return nil, err
	}
	target, err := resolve(refs, req)
	if err != nil {
		return nil, err
	}
	if target.onBranch != "" {
		if target.commit, err = f.onBranch(ctx, key, c, target, req.Revision); err != nil {
			return nil, err
		}
	}
	if target.commit != "" {
		if art := f.cache.acquire(artifactID(key, target.commit), target.commit, target.name()); art != nil {
			ArtifactLookups.WithLabelValues(host, "hit").Inc()
			return art, nil
		}
	}
	ArtifactLookups.WithLabelValues(host, "miss").Inc()
	if req.BeforeDownload != nil {
		req.BeforeDownload()
	}

	want := target.commit
	if want == "" {
		want = req.Revision
	}
	sha, err, _ := f.group.Do("fetch/"+key+"/"+want, func() (any, error) {
		// Another download of this commit may have finished between the
		// miss above and this flight (its flight was over, so there was
		// none to join): the cache holds the commit then, and a second
		// download would be waste. Checked inside the flight, where no
		// other download of the commit can start meanwhile.
		if target.commit != "" && f.cache.contains(artifactID(key, target.commit)) {
			return target.commit, nil
		}
		return f.download(ctx, key, c, target, want)
	})
	if err != nil {
		return nil, err
	}
	art = f.cache.acquire(artifactID(key, sha.(string)), sha.(string), target.name())
	if art == nil {
		return nil, fmt.Errorf("artifact of %s left the cache before use", sha)
	}
	return art, nil
}

// conn is what every network call of one fetch needs.
type conn struct {
	url      string
	auth     transport.AuthMethod
	caBundle []byte
	secrets  *Auth
}

// cacheKey separates repositories and credentials: a repository fetched with
// one identity is never served to another.
func cacheKey(url string, auth *Auth) string {
	sum := sha256.Sum256([]byte(url + "\x00" + auth.identity()))
	return hex.EncodeToString(sum[:8])
}

func artifactID(key, commit string) string { return key + "/" + commit }

// listRefs lists the remote's refs; concurrent callers on one repository and
// credentials share one request (see refListings).
func (f *GitFetcher) listRefs(ctx context.Context, key string, c conn, notBefore time.Time) ([]*plumbing.Reference, error) {
	return f.listings.list(ctx, key, notBefore, func() ([]*plumbing.Reference, error) {
		remote := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{c.url}})
		refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: c.auth, CABundle: c.caBundle})
		if err != nil {
			return nil, classify(c, err)
		}
		return refs, nil
	})
}

// download fetches the target and caches its commit's snapshot; it returns
// the commit SHA. A branch or tag updates the repository's kept clone when
// there is one; a fresh clone serves otherwise, and when the update fails or
// leaves the commit incomplete (a commit older than the kept one, which the
// server believes the clone already has).
func (f *GitFetcher) download(ctx context.Context, key string, c conn, t target, want string) (string, error) {
	maxBytes := f.MaxCacheBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxCacheBytes
	}
	kc, commit, files, err := f.fetchSnapshot(ctx, key, c, t, want)
	if err != nil {
		return "", err
	}
	maxArtifacts := f.MaxArtifacts
	if maxArtifacts <= 0 {
		maxArtifacts = DefaultMaxArtifacts
	}
	sha := commit.Hash.String()
	f.cache.add(artifactID(key, sha), files, maxArtifacts, maxBytes)
	if shallow(t) {
		f.kept.put(key, kc, maxBytes/2) // half the cache's budget again, at most
	}
	return sha, nil
}

// fetchSnapshot returns the clone that holds the wanted commit, and the
// commit's snapshot read from it: the kept clone updated if that works,
// a fresh clone otherwise.
func (f *GitFetcher) fetchSnapshot(ctx context.Context, key string, c conn, t target, want string) (*keptClone, *object.Commit, *snapshot, error) {
	if kc := f.takeKept(key, t); kc != nil {
		if err := update(ctx, kc, c, t); err == nil {
			if commit, files, err := snapshotIn(kc, t, want); err == nil {
				Downloads.WithLabelValues(Host(c.url), "update").Inc()
				return kc, commit, files, nil
			}
		}
	}
	max := f.MaxBytes
	if max <= 0 {
		max = DefaultMaxBytes
	}
	kc := &keptClone{storage: newLimitedStorage(max)}
	var err error
	if kc.repo, err = clone(ctx, c, t, kc.storage); err != nil {
		return nil, nil, nil, err
	}
	Downloads.WithLabelValues(Host(c.url), "clone").Inc()
	commit, files, err := snapshotIn(kc, t, want)
	return kc, commit, files, err
}

// takeKept hands out the repository's kept clone for a branch or tag; a
// bare SHA clones with history and leaves the kept clone where it is.
func (f *GitFetcher) takeKept(key string, t target) *keptClone {
	if !shallow(t) {
		return nil
	}
	return f.kept.take(key)
}

// snapshotIn reads the wanted commit out of a clone.
func snapshotIn(kc *keptClone, t target, want string) (*object.Commit, *snapshot, error) {
	commit, err := commitOf(kc.repo, want)
	if err != nil && t.ref.IsBranch() {
		// The branch moved between the listing and the fetch (a push in
		// between), and the fetch brought its new head: that is what a
		// follower of the branch wants anyway.
		commit, err = commitOf(kc.repo, trackingRef(t.ref).String())
	}
	if err != nil {
		return nil, nil, err
	}
	files, err := snapshotOf(commit)
	if err != nil {
		return nil, nil, err
	}
	return commit, files, nil
}

// shallow tells a branch or tag, fetched shallow, from a bare SHA, which
// needs the history to find it.
func shallow(t target) bool { return t.ref != "" && t.ref != plumbing.HEAD }

// clone fetches into memory: the artifact is read from the commit's tree,
// so no .git folder ever reaches a renderer. A branch or tag is fetched
// shallow; a bare SHA needs the history to find it.
func clone(ctx context.Context, c conn, t target, storage *limitedStorage) (*git.Repository, error) {
	if shallow(t) && !t.ref.IsBranch() && !t.ref.IsTag() {
		return fetchRef(ctx, c, t, storage)
	}
	opts := &git.CloneOptions{URL: c.url, Auth: c.auth, CABundle: c.caBundle, NoCheckout: true, Tags: git.NoTags}
	if shallow(t) {
		opts.ReferenceName = t.ref
		opts.SingleBranch = true
		opts.Depth = 1
	}
	repo, err := git.CloneContext(ctx, storage, nil, opts)
	if err != nil {
		return nil, classify(c, err)
	}
	return repo, nil
}

// fetchRef fetches a ref that is neither a branch nor a tag (a pull
// request's refs/pull/1/head, say) shallow into an empty repository: go-git's
// clone knows only branches and tags.
func fetchRef(ctx context.Context, c conn, t target, storage *limitedStorage) (*git.Repository, error) {
	repo, err := git.Init(storage, nil)
	if err != nil {
		return nil, fmt.Errorf("init a clone of %s: %w", RedactURL(c.url), err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{c.url}}); err != nil {
		return nil, fmt.Errorf("init a clone of %s: %w", RedactURL(c.url), err)
	}
	spec := config.RefSpec(fmt.Sprintf("+%s:%s", t.ref, trackingRef(t.ref)))
	err = repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: "origin", RefSpecs: []config.RefSpec{spec},
		Auth: c.auth, CABundle: c.caBundle, Tags: git.NoTags, Depth: 1,
	})
	if err != nil {
		return nil, classify(c, err)
	}
	return repo, nil
}

func commitOf(repo *git.Repository, want string) (*object.Commit, error) {
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

func classify(c conn, err error) error {
	safe := RedactURL(c.url)
	var reason string
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed),
		errors.Is(err, transport.ErrInvalidAuthMethod), isSSHAuthError(err):
		reason = ReasonAuthenticationFailed
	case errors.Is(err, transport.ErrRepositoryNotFound):
		reason = ReasonRevisionNotFound
	case errors.Is(err, errTooLarge):
		reason = ReasonSourceTooLarge
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return &Error{Reason: ReasonRevisionNotFound, Err: fmt.Errorf("fetch %s: the repository has no commits", safe)}
	default:
		reason = ReasonSourceUnreachable
	}
	return &Error{Reason: reason, Err: redact(fmt.Errorf("fetch %s: %w", c.url, err), c.url, c.secrets)}
}

// isSSHAuthError tells a refused host key, or a server that refused our
// key, from a network failure: both are the user's to fix.
func isSSHAuthError(err error) bool {
	var keyErr *knownhosts.KeyError
	if errors.As(err, &keyErr) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "ssh: handshake failed") || strings.Contains(msg, "unable to authenticate")
}

// target is what a Request resolved to against the remote's refs: a ref
// (full name) and its commit, or a commit alone (a SHA). commit is empty
// when only a clone can tell (a short SHA). onBranch, when set, is the
// branch the commit must be on (spec sets both branch and revision).
type target struct {
	ref      plumbing.ReferenceName
	commit   string
	onBranch plumbing.ReferenceName
	// branchHead is onBranch's commit in the listing.
	branchHead string
}

// name is how the artifact says where its commit came from: the full ref
// name, or empty for a commit named by its SHA.
func (t target) name() string {
	if t.ref == "" {
		return ""
	}
	return t.ref.String()
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
		t, err := resolveRevision(rev, hashOf)
		if err != nil || req.Branch == "" {
			return t, err
		}
		t.onBranch = plumbing.NewBranchReferenceName(req.Branch)
		head, ok := hashOf(t.onBranch)
		if !ok {
			return target{}, fail(ReasonRevisionNotFound, "branch %q not found on the remote", req.Branch)
		}
		t.branchHead = head
		return t, nil
	}

	if req.Branch != "" {
		ref := plumbing.NewBranchReferenceName(req.Branch)
		sha, ok := hashOf(ref)
		if !ok {
			return target{}, fail(ReasonRevisionNotFound, "branch %q not found on the remote", req.Branch)
		}
		return target{ref: ref, commit: sha}, nil
	}

	head, ok := byName[plumbing.HEAD]
	if !ok {
		return target{}, fail(ReasonRevisionNotFound, "the remote advertises no HEAD; set spec.source.git.branch")
	}
	sha, _ := hashOf(plumbing.HEAD)
	ref := plumbing.HEAD
	if head.Type() == plumbing.SymbolicReference {
		ref = head.Target()
	} else {
		// Without the symref capability, find the branch that HEAD points at.
		for _, r := range refs {
			if r.Name().IsBranch() && r.Hash() == head.Hash() {
				ref = r.Name()
				break
			}
		}
	}
	if sha == "" {
		return target{}, fail(ReasonRevisionNotFound, "the remote's HEAD points at nothing; set spec.source.git.branch")
	}
	return target{ref: ref, commit: sha}, nil
}

// resolveRevision resolves rev as git rev-parse does against a remote's
// refs: a full 40-hex SHA is a commit; any other name is looked up as
// written (refs/pull/1/head, HEAD), then under refs/, refs/tags/ and
// refs/heads/, so a tag wins over a branch of the same name, and a ref over
// a short SHA that looks like its name; a short SHA (7 to 39 hex digits)
// is left for the clone to find.
func resolveRevision(rev string, hashOf func(plumbing.ReferenceName) (string, bool)) (target, error) {
	if len(rev) == 40 && isHex(rev) {
		return target{commit: rev}, nil
	}
	for _, name := range refCandidates(rev) {
		if sha, ok := hashOf(name); ok {
			return target{ref: name, commit: sha}, nil
		}
	}
	if isHex(rev) && len(rev) >= 7 && len(rev) < 40 {
		return target{}, nil
	}
	return target{}, fail(ReasonRevisionNotFound, "revision %q is neither a commit SHA nor a tag, branch or ref of the remote", rev)
}

// refCandidates are the full ref names git tries for a short name, in
// git's order (gitrevisions(7)).
func refCandidates(rev string) []plumbing.ReferenceName {
	var names []plumbing.ReferenceName
	if strings.HasPrefix(rev, "refs/") || rev == "HEAD" {
		names = append(names, plumbing.ReferenceName(rev))
	}
	return append(names,
		plumbing.ReferenceName("refs/"+rev),
		plumbing.NewTagReferenceName(rev),
		plumbing.NewBranchReferenceName(rev))
}

func isHex(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}
