package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// snapshot is one commit's files, read once from the clone's objects and
// kept in memory. Renderers read a ConfigSync's path from it through fs.FS.
// It replaced a checkout on disk: writing every file of a commit cost a few
// syscalls per file at each new commit (about 1.4 s for a repository of
// 10,000 files here, in the push's path), for ConfigSyncs that read one
// folder each. A snapshot is never written after it is built, so any number
// of readers may share it.
type snapshot struct {
	nodes map[string]*node // by slash-separated path; "." is the root
	size  int64            // bytes of file contents held (a blob once, however many paths share it)
}

type node struct {
	mode     fs.FileMode // fs.ModeDir, fs.ModeSymlink, or a regular file's permissions
	data     []byte      // a file's contents; a symlink's target
	children []string    // a folder's entries, sorted
}

// errEscapes is what os.Root says of a symlink that leads out of it.
var errEscapes = errors.New("path escapes from parent")

// maxLinkHops bounds symlinks followed in one lookup, as the kernel does.
const maxLinkHops = 40

// snapshotOf reads every file of commit. Submodules are left out, as a
// checkout without --recurse-submodules leaves them empty.
func snapshotOf(commit *object.Commit) (*snapshot, error) {
	tree, err := commit.Tree()
	if err != nil {
		return nil, fmt.Errorf("read tree of %s: %w", commit.Hash, err)
	}
	s := &snapshot{nodes: map[string]*node{".": {mode: fs.ModeDir}}}
	// Git stores a blob once however many paths name it, and so does the
	// snapshot: a commit of 2,000 paths to one 1 MiB blob is 1 MiB of
	// objects (what --max-fetch-bytes bounds) and would be 2 GiB read path
	// by path. Files are never written, so paths may share their bytes.
	blobs := map[plumbing.Hash][]byte{}
	err = tree.Files().ForEach(func(f *object.File) error {
		data, seen := blobs[f.Hash]
		if !seen {
			var err error
			if data, err = readBlob(f); err != nil {
				return fmt.Errorf("read %s: %w", f.Name, err)
			}
			blobs[f.Hash] = data
			s.size += int64(len(data))
		}
		return s.add(f.Name, f.Mode, data)
	})
	if err != nil {
		return nil, fmt.Errorf("read files of %s: %w", commit.Hash, err)
	}
	for _, n := range s.nodes {
		sort.Strings(n.children)
	}
	return s, nil
}

// readBlob reads a file into a slice of its exact size: io.ReadAll's
// growing buffer would keep at least 512 bytes for each small file of the
// cached commit.
func readBlob(f *object.File) ([]byte, error) {
	r, err := f.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data := make([]byte, f.Size)
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, err
	}
	return data, nil
}

func (s *snapshot) add(name string, mode filemode.FileMode, data []byte) error {
	if !fs.ValidPath(name) || name == "." {
		return fmt.Errorf("%s: path leaves the repository", name)
	}
	if len(s.nodes) >= maxSnapshotEntries {
		return fail(ReasonSourceTooLarge, "the commit has more than %d files and folders", maxSnapshotEntries)
	}
	n := &node{mode: 0o644, data: data}
	switch mode {
	case filemode.Symlink:
		n.mode = fs.ModeSymlink
	case filemode.Executable:
		n.mode = 0o755
	}
	s.nodes[name] = n
	// Register the file in its folder, creating folders up to the root.
	for child := name; child != "."; {
		dir := path.Dir(child)
		parent, ok := s.nodes[dir]
		if !ok {
			parent = &node{mode: fs.ModeDir}
			s.nodes[dir] = parent
		}
		parent.children = append(parent.children, path.Base(child))
		if ok {
			break // its ancestors are registered already
		}
		child = dir
	}
	return nil
}

// resolve finds name, following symlinks in every element but the last
// (and the last too when follow is set), as os.Root does: a link may lead
// anywhere inside the repository and nowhere outside it.
func (s *snapshot) resolve(op, name string, follow bool) (string, *node, error) {
	if !fs.ValidPath(name) {
		return "", nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	rest := split(name)
	cur, hops := ".", 0
	for len(rest) > 0 {
		next := path.Join(cur, rest[0])
		n, ok := s.nodes[next]
		if !ok {
			return "", nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		if n.mode&fs.ModeSymlink == 0 || (len(rest) == 1 && !follow) {
			cur, rest = next, rest[1:]
			continue
		}
		if hops++; hops > maxLinkHops {
			return "", nil, &fs.PathError{Op: op, Path: name, Err: errors.New("too many levels of symbolic links")}
		}
		target := string(n.data)
		if path.IsAbs(target) {
			return "", nil, &fs.PathError{Op: op, Path: name, Err: errEscapes}
		}
		joined := path.Join(path.Dir(next), target)
		if joined == ".." || strings.HasPrefix(joined, "../") {
			return "", nil, &fs.PathError{Op: op, Path: name, Err: errEscapes}
		}
		cur, rest = ".", append(split(joined), rest[1:]...)
	}
	return cur, s.nodes[cur], nil
}

func split(name string) []string {
	if name == "." {
		return nil
	}
	return strings.Split(name, "/")
}

// Open implements fs.FS.
func (s *snapshot) Open(name string) (fs.File, error) {
	at, n, err := s.resolve("open", name, true)
	if err != nil {
		return nil, err
	}
	return &openNode{s: s, name: at, node: n, r: bytes.NewReader(n.data)}, nil
}

// ReadDir implements fs.ReadDirFS, for fs.WalkDir.
func (s *snapshot) ReadDir(name string) ([]fs.DirEntry, error) {
	at, n, err := s.resolve("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if !n.mode.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	entries := make([]fs.DirEntry, 0, len(n.children))
	for _, c := range n.children {
		entries = append(entries, fs.FileInfoToDirEntry(info{name: c, node: s.nodes[path.Join(at, c)]}))
	}
	return entries, nil
}

// Stat implements fs.StatFS.
func (s *snapshot) Stat(name string) (fs.FileInfo, error) {
	at, n, err := s.resolve("stat", name, true)
	if err != nil {
		return nil, err
	}
	return info{name: path.Base(at), node: n}, nil
}

// Lstat implements fs.ReadLinkFS: a symlink itself, not what it leads to.
func (s *snapshot) Lstat(name string) (fs.FileInfo, error) {
	at, n, err := s.resolve("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return info{name: path.Base(at), node: n}, nil
}

// ReadLink implements fs.ReadLinkFS.
func (s *snapshot) ReadLink(name string) (string, error) {
	_, n, err := s.resolve("readlink", name, false)
	if err != nil {
		return "", err
	}
	if n.mode&fs.ModeSymlink == 0 {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return string(n.data), nil
}

type openNode struct {
	s    *snapshot
	name string
	node *node
	r    *bytes.Reader
	read int // entries ReadDir returned so far
}

func (f *openNode) Stat() (fs.FileInfo, error) {
	return info{name: path.Base(f.name), node: f.node}, nil
}
func (f *openNode) Close() error { return nil }

func (f *openNode) Read(p []byte) (int, error) {
	if f.node.mode.IsDir() {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: errors.New("is a directory")}
	}
	return f.r.Read(p)
}

// ReadDir implements fs.ReadDirFile, for callers that open a folder.
func (f *openNode) ReadDir(n int) ([]fs.DirEntry, error) {
	all, err := f.s.ReadDir(f.name)
	if err != nil {
		return nil, err
	}
	all = all[f.read:]
	if n <= 0 {
		f.read += len(all)
		return all, nil
	}
	if len(all) == 0 {
		return nil, io.EOF
	}
	all = all[:min(n, len(all))]
	f.read += len(all)
	return all, nil
}

type info struct {
	name string
	node *node
}

func (i info) Name() string       { return i.name }
func (i info) Size() int64        { return int64(len(i.node.data)) }
func (i info) Mode() fs.FileMode  { return i.node.mode }
func (i info) ModTime() time.Time { return time.Time{} }
func (i info) IsDir() bool        { return i.node.mode.IsDir() }
func (i info) Sys() any           { return nil }
