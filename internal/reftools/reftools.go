// Package reftools finds the reference CLIs (helm, kustomize, jsonnet, sops,
// age) that fidelity tests compare the renderers with. They are built from
// the Go module proxy at the library versions by hack/reference-tools.sh
// and cached outside the clone; CONFIGSYNC_REFERENCE_TOOLS names a folder
// of them instead.
package reftools

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

var (
	once sync.Once
	dir  string
	err  error
)

// Dir is the folder of the reference CLIs, built on first use.
func Dir(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		if d := os.Getenv("CONFIGSYNC_REFERENCE_TOOLS"); d != "" {
			dir = d
			return
		}
		_, file, _, _ := runtime.Caller(0)
		cmd := exec.Command("bash", filepath.Join(filepath.Dir(file), "..", "..", "hack", "reference-tools.sh"))
		cmd.Stderr = os.Stderr
		var out []byte
		out, err = cmd.Output()
		dir = strings.TrimSpace(string(out))
	})
	if err != nil {
		t.Fatalf("build the reference tools: %v", err)
	}
	return dir
}

// Path is the path of the reference CLI name.
func Path(t testing.TB, name string) string {
	t.Helper()
	return filepath.Join(Dir(t), name)
}
