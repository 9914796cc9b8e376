// Package filetree holds the in-memory file tree that flows from the source
// through the render pipeline to the manifest parser. Keeping it in memory
// means renderers never touch the disk, so they are pure functions of their
// input and can be golden-file tested and reused by the CLI.
package filetree

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
)

// Limits bound what a tree may hold, so that a hostile repository cannot
// exhaust the operator's memory.
type Limits struct {
	MaxFiles      int
	MaxTotalBytes int64
}

// DefaultLimits are generous for configuration and small for a denial of service.
var DefaultLimits = Limits{MaxFiles: 10000, MaxTotalBytes: 256 << 20}

// ErrNotFound says the requested path does not exist in the source.
var ErrNotFound = errors.New("path not found")

// ErrTooLarge says a tree exceeds its Limits.
var ErrTooLarge = errors.New("tree too large")

// Tree maps slash-separated relative paths to file contents.
type Tree map[string][]byte

// Paths returns the tree's paths in lexical order, so that every consumer
// sees files in the same order and renders are deterministic.
func (t Tree) Paths() []string {
	paths := make([]string, 0, len(t))
	for p := range t {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}

// Digest is a sha256 over paths and contents, stable across runs.
func (t Tree) Digest() string {
	h := sha256.New()
	for _, p := range t.Paths() {
		fmt.Fprintf(h, "%d:%s%d:", len(p), p, len(t[p]))
		h.Write(t[p])
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// Load reads root (a file or a folder of fsys) into a Tree. A file becomes a
// tree holding that one file under its base name; a folder becomes a tree of
// every regular file below it, relative to it. Folders named .git are skipped.
// fsys is expected to be jailed (an os.Root's FS), so that symlinks cannot
// lead out of the repository.
func Load(fsys fs.FS, root string, limits Limits) (Tree, error) {
	root = path.Clean(root)
	info, err := fs.Stat(fsys, root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", root, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", root, err)
	}
	t := Tree{}
	var total int64
	add := func(name, rel string) error {
		if len(t) >= limits.MaxFiles {
			return fmt.Errorf("more than %d files: %w", limits.MaxFiles, ErrTooLarge)
		}
		data, err := readLimited(fsys, name, limits.MaxTotalBytes-total, limits.MaxTotalBytes)
		if err != nil {
			return err
		}
		total += int64(len(data))
		t[rel] = data
		return nil
	}
	if !info.IsDir() {
		return t, add(root, path.Base(root))
	}
	err = fs.WalkDir(fsys, root, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walk %s: %w", name, err)
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return fs.SkipDir
			}
			return nil
		}
		rel := name
		if root != "." {
			rel = name[len(root)+1:]
		}
		return add(name, rel)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

func readLimited(fsys fs.FS, name string, budget, limit int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, budget+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(data)) > budget {
		return nil, fmt.Errorf("%s: files exceed %d bytes in all: %w", name, limit, ErrTooLarge)
	}
	return data, nil
}
