package renderers_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/configsync/configsync/internal/filetree"
	"github.com/configsync/configsync/renderers"
)

// serialize prints a tree as the golden files hold it: each file under a
// header line naming it.
func serialize(tree filetree.Tree) string {
	var b strings.Builder
	for _, name := range tree.Paths() {
		b.WriteString("# ==> " + name + " <==\n")
		b.Write(tree[name])
		if n := len(tree[name]); n > 0 && tree[name][n-1] != '\n' {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// TestGolden renders every case under testdata/renderers and compares the
// output with expected.yaml (go test ./renderers -update rewrites them), or
// checks that the error names the step, file and line as the case says.
func TestGolden(t *testing.T) {
	for _, name := range goldenCases(t) {
		t.Run(name, func(t *testing.T) {
			c, in, tree := loadCase(t, name)
			out, err := renderers.Run(context.Background(), c.Render, in, tree)
			if c.WantError != "" {
				if err == nil || !strings.Contains(err.Error(), c.WantError) {
					t.Fatalf("error %v, want one containing %q", err, c.WantError)
				}
				t.Logf("error: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			got := serialize(out)
			golden := filepath.Join(goldenDir, name, "expected.yaml")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want := string(readFile(t, golden))
			if got != want {
				t.Fatalf("output differs from %s (rerun with -update if the change is intended):\n--- got\n%s\n--- want\n%s", golden, got, want)
			}
		})
	}
}
