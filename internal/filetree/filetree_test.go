package filetree_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/configsync/configsync/internal/filetree"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"config/app.yaml":      "a",
		"config/sub/more.yaml": "b",
		"config/.git/HEAD":     "ref",
		"other.yaml":           "c",
	})
	outside := t.TempDir()
	writeFiles(t, outside, map[string]string{"secret": "s"})
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "config", "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../other.yaml", filepath.Join(dir, "config", "inside")); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()

	tests := []struct {
		name    string
		path    string
		limits  filetree.Limits
		want    map[string]string
		wantErr error
	}{
		{name: "a file", path: "config/app.yaml", limits: filetree.DefaultLimits, want: map[string]string{"app.yaml": "a"}},
		{name: "missing", path: "nope", limits: filetree.DefaultLimits, wantErr: filetree.ErrNotFound},
		{name: "a file at the root", path: "other.yaml", limits: filetree.DefaultLimits, want: map[string]string{"other.yaml": "c"}},
		{name: "too many files", path: "config/sub", limits: filetree.Limits{MaxFiles: 0, MaxTotalBytes: 100}, wantErr: filetree.ErrTooLarge},
		{name: "too many bytes", path: "config/app.yaml", limits: filetree.Limits{MaxFiles: 10, MaxTotalBytes: 0}, wantErr: filetree.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := filetree.Load(root.FS(), tt.path, tt.limits)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			assertTree(t, got, tt.want)
		})
	}

	// A folder with a symlink that leaves the root is refused, not followed.
	if _, err := filetree.Load(root.FS(), "config", filetree.DefaultLimits); err == nil {
		t.Fatal("a symlink out of the repository was followed")
	}
	if err := os.Remove(filepath.Join(dir, "config", "escape")); err != nil {
		t.Fatal(err)
	}
	got, err := filetree.Load(root.FS(), "config", filetree.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	assertTree(t, got, map[string]string{"app.yaml": "a", "sub/more.yaml": "b", "inside": "c"})
}

func assertTree(t *testing.T, got filetree.Tree, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d files %v, want %v", len(got), got.Paths(), want)
	}
	for name, content := range want {
		if string(got[name]) != content {
			t.Errorf("%s = %q, want %q", name, got[name], content)
		}
	}
}

func TestDigestIsStableAndSeesRenames(t *testing.T) {
	a := filetree.Tree{"x": []byte("1"), "y": []byte("2")}
	b := filetree.Tree{"y": []byte("2"), "x": []byte("1")}
	c := filetree.Tree{"x": []byte("12")}
	if a.Digest() != b.Digest() {
		t.Fatal("digest depends on map order")
	}
	if a.Digest() == c.Digest() {
		t.Fatal("digest does not separate paths from contents")
	}
}
