package source

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/configsync/configsync/internal/filetree"
)

// DefaultMaxArtifacts bounds the commits kept when a GitFetcher sets no limit.
const DefaultMaxArtifacts = 64

// DefaultMaxCacheBytes bounds the file contents of the commits kept when a
// GitFetcher sets no limit: a quarter of the Deployment's memory limit.
// Commits in use stay whatever their size.
const DefaultMaxCacheBytes int64 = 128 << 20

// Artifact is an immutable snapshot of one commit, shared by every
// ConfigSync on that repository, credentials and commit.
type Artifact struct {
	// Commit is the full commit SHA.
	Commit string
	// Ref is the full name of the ref the commit came from
	// (refs/heads/main, refs/tags/v1.0.0, refs/pull/1/head), or empty when
	// the commit was named by its SHA.
	Ref string

	files   fs.FS  // the commit's snapshot
	dir     string // or a folder on disk (see DirArtifact)
	release func()
	once    sync.Once
}

// DirArtifact serves a folder on disk as an artifact, for the CLI's local
// sources. Reads go through an os.Root, with the same limits as a commit's.
func DirArtifact(dir, ref string) *Artifact { return &Artifact{dir: dir, Ref: ref} }

// Revision names the artifact for people: <short ref>@<commit>, the
// commit alone when it was named by its SHA, the ref alone for a folder.
func (a *Artifact) Revision() string {
	ref := plumbing.ReferenceName(a.Ref).Short()
	switch {
	case a.Commit == "":
		return ref
	case ref == "":
		return a.Commit
	default:
		return ref + "@" + a.Commit
	}
}

// Release lets the cache evict the artifact. Safe to call more than once.
func (a *Artifact) Release() {
	if a.release != nil {
		a.once.Do(a.release)
	}
}

// Load reads path (a file or a folder of the commit) into a tree. Symlinks
// are followed inside the repository only, so "..", absolute paths and
// symlinks that lead out of it are refused with ReasonInvalidPath.
func (a *Artifact) Load(p string, limits filetree.Limits) (filetree.Tree, error) {
	if p == "" {
		p = "."
	}
	if path.IsAbs(p) || strings.HasPrefix(path.Clean(p), "..") {
		return nil, fail(ReasonInvalidPath, "path %q leaves the repository", p)
	}
	files := a.files
	if a.dir != "" {
		root, err := os.OpenRoot(a.dir)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", a.dir, err)
		}
		defer root.Close()
		files = root.FS()
	}
	tree, err := filetree.Load(files, p, limits)
	switch {
	case errors.Is(err, filetree.ErrNotFound):
		return nil, fail(ReasonPathNotFound, "path %q not found at %s", p, a.Revision())
	case errors.Is(err, filetree.ErrTooLarge):
		return nil, fail(ReasonSourceTooLarge, "path %q at %s: %w", p, a.Revision(), err)
	case err != nil:
		// A symlink out of the repository, a loop of them, and the like.
		return nil, fail(ReasonInvalidPath, "path %q at %s: %w", p, a.Revision(), err)
	}
	return tree, nil
}

// artifactCache keeps commits' snapshots in memory and evicts the least
// recently used ones that nobody holds.
type artifactCache struct {
	mu      sync.Mutex
	entries map[string]*cacheEntry // by repository key and commit
	size    int64                  // of every entry's snapshot
}

type cacheEntry struct {
	files    *snapshot
	lastUsed time.Time
	holders  int
}

// acquire returns the artifact of id if it is cached, held until Release.
func (c *artifactCache) acquire(id, commit, ref string) *Artifact {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	if !ok {
		return nil
	}
	e.holders++
	e.lastUsed = time.Now()
	return &Artifact{files: e.files, Commit: commit, Ref: ref, release: func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		e.holders--
		e.lastUsed = time.Now()
	}}
}

// contains tells whether id is cached.
func (c *artifactCache) contains(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.entries[id]
	return ok
}

// add caches a new snapshot and evicts beyond maxEntries or maxBytes.
func (c *artifactCache) add(id string, files *snapshot, maxEntries int, maxBytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]*cacheEntry{}
	}
	if _, ok := c.entries[id]; !ok {
		c.entries[id] = &cacheEntry{files: files, lastUsed: time.Now()}
		c.size += files.size
	}
	full := func() bool { return len(c.entries) > maxEntries || c.size > maxBytes }
	if !full() {
		return
	}
	ids := make([]string, 0, len(c.entries))
	for k := range c.entries {
		ids = append(ids, k)
	}
	sort.Slice(ids, func(i, j int) bool { return c.entries[ids[i]].lastUsed.Before(c.entries[ids[j]].lastUsed) })
	for _, k := range ids {
		if !full() {
			return
		}
		if k == id || c.entries[k].holders > 0 {
			continue
		}
		c.size -= c.entries[k].files.size
		delete(c.entries, k)
	}
}
