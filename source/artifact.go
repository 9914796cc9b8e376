package source

import (
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/configsync/configsync/internal/filetree"
)

// DefaultMaxArtifacts bounds the commits kept on disk when a GitFetcher sets no limit.
const DefaultMaxArtifacts = 64

// Artifact is an immutable checkout of one commit, shared by every
// ConfigSync on that repository, credentials and commit. Never write into Dir.
type Artifact struct {
	// Dir is the root of the checked-out files; it holds no .git folder.
	Dir string
	// Commit is the full commit SHA.
	Commit string
	// Ref is what was asked for: a branch, a tag, or the pinned revision.
	Ref string

	release func()
	once    sync.Once
}

// Revision formats the artifact as <ref>@sha1:<commit>, the form Flux users know.
func (a *Artifact) Revision() string { return a.Ref + "@sha1:" + a.Commit }

// Release lets the cache evict the artifact. Safe to call more than once.
func (a *Artifact) Release() {
	if a.release != nil {
		a.once.Do(a.release)
	}
}

// Load reads path (a file or a folder of the checkout) into a tree. The path
// is resolved through an os.Root, so "..", absolute paths and symlinks that
// lead out of the repository are refused with ReasonInvalidPath.
func (a *Artifact) Load(p string, limits filetree.Limits) (filetree.Tree, error) {
	if p == "" {
		p = "."
	}
	if path.IsAbs(p) || strings.HasPrefix(path.Clean(p), "..") {
		return nil, fail(ReasonInvalidPath, "path %q leaves the repository", p)
	}
	root, err := os.OpenRoot(a.Dir)
	if err != nil {
		return nil, fmt.Errorf("open artifact %s: %w", a.Commit, err)
	}
	defer root.Close()
	tree, err := filetree.Load(root.FS(), p, limits)
	switch {
	case errors.Is(err, filetree.ErrNotFound):
		return nil, fail(ReasonPathNotFound, "path %q not found at %s", p, a.Revision())
	case errors.Is(err, filetree.ErrTooLarge):
		return nil, fail(ReasonSourceTooLarge, "path %q at %s: %w", p, a.Revision(), err)
	case err != nil:
		// os.Root's "path escapes from parent" and the like.
		return nil, fail(ReasonInvalidPath, "path %q at %s: %w", p, a.Revision(), err)
	}
	return tree, nil
}

// artifactCache tracks which artifact folders are in use and evicts the
// least recently used ones that are not.
type artifactCache struct {
	mu      sync.Mutex
	entries map[string]*cacheEntry // by folder
}

type cacheEntry struct {
	lastUsed time.Time
	holders  int
}

// acquire returns the artifact in dir if it is on disk, held until Release.
func (c *artifactCache) acquire(dir, commit, ref string) *Artifact {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !exists(dir) {
		return nil
	}
	if c.entries == nil {
		c.entries = map[string]*cacheEntry{}
	}
	e, ok := c.entries[dir]
	if !ok {
		e = &cacheEntry{} // left by an earlier process
		c.entries[dir] = e
	}
	e.holders++
	e.lastUsed = time.Now()
	return &Artifact{Dir: dir, Commit: commit, Ref: ref, release: func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		e.holders--
		e.lastUsed = time.Now()
	}}
}

// add registers a new artifact folder and evicts beyond max.
func (c *artifactCache) add(dir string, max int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]*cacheEntry{}
	}
	if _, ok := c.entries[dir]; !ok {
		c.entries[dir] = &cacheEntry{lastUsed: time.Now()}
	}
	if len(c.entries) <= max {
		return
	}
	dirs := make([]string, 0, len(c.entries))
	for d := range c.entries {
		dirs = append(dirs, d)
	}
	sort.Slice(dirs, func(i, j int) bool { return c.entries[dirs[i]].lastUsed.Before(c.entries[dirs[j]].lastUsed) })
	for _, d := range dirs {
		if len(c.entries) <= max {
			return
		}
		if d == dir || c.entries[d].holders > 0 {
			continue
		}
		if err := os.RemoveAll(d); err == nil {
			delete(c.entries, d)
		}
	}
}
