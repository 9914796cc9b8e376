package renderers_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/filetree"
	"github.com/configsync/configsync/renderers"
	"github.com/configsync/configsync/renderers/inputs"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/renderers from the current renderers")

// goldenCase is testdata/renderers/<case>/case.yaml: the render steps, the
// objects of the cluster they name, and either the rendered output
// (expected.yaml beside it) or an error the output must contain.
type goldenCase struct {
	Render    []configsv1.RenderStep `json:"render"`
	Namespace string                 `json:"namespace,omitempty"`
	// Objects are the ConfigMaps and Secrets the steps name (valuesFrom),
	// by "Kind/name": their keys and values, read as the reconciler reads
	// them from the cluster (package inputs).
	Objects map[string]map[string]string `json:"objects,omitempty"`
	// AgeKeyFile and PGPKeyFile name key files beside case.yaml: the keys
	// of every sops step's decryption Secret, and what the reference sops
	// gets.
	AgeKeyFile string `json:"ageKeyFile,omitempty"`
	PGPKeyFile string `json:"pgpKeyFile,omitempty"`
	WantError  string `json:"wantError,omitempty"`
	// ConfigSync and Source, when set, give template steps their context
	// (.ConfigSync, .Source, .Targets, .Target) as the reconciler does.
	ConfigSync *configsv1.ConfigSync `json:"configSync,omitempty"`
	Source     renderers.SourceInfo  `json:"source,omitempty"`
}

const goldenDir = "../testdata/renderers"

func loadCase(t testing.TB, name string) (goldenCase, renderers.Inputs, filetree.Tree) {
	t.Helper()
	dir := filepath.Join(goldenDir, name)
	raw, err := os.ReadFile(filepath.Join(dir, "case.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c goldenCase
	if err := yaml.UnmarshalStrict(raw, &c); err != nil {
		t.Fatalf("case.yaml: %v", err)
	}
	objs := inputs.Objects{}
	for ref, data := range c.Objects {
		kind, name, _ := strings.Cut(ref, "/")
		for k, v := range data {
			objs.Put(kind, name, k, []byte(v))
		}
	}
	for _, step := range c.Render {
		if step.Sops == nil {
			continue
		}
		for key, file := range map[string]string{"case.agekey": c.AgeKeyFile, "case.asc": c.PGPKeyFile} {
			if file != "" {
				objs.Put("Secret", step.Sops.DecryptionSecretRef.Name, key, readFile(t, filepath.Join(dir, file)))
			}
		}
	}
	in, err := inputs.Resolve(context.Background(), c.Namespace, c.Render, objs, inputs.Options{})
	if err != nil {
		t.Fatalf("inputs: %v", err)
	}
	if c.ConfigSync != nil {
		in.Context = renderers.ContextOf(c.ConfigSync, c.Source.RepoURL, c.Source.Ref, c.Source.Commit)
	}
	tree, err := filetree.Load(os.DirFS(filepath.Join(dir, "input")), ".", filetree.DefaultLimits)
	if err != nil {
		t.Fatalf("load input: %v", err)
	}
	return c, in, tree
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func goldenCases(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir(goldenDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		t.Fatal("no golden cases")
	}
	return names
}

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
