package main

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the examples' expected.yaml from what render prints")

// renderArgs is the `configsync render` command line that renders an
// example folder, as the docs show it: the key and values files the cluster
// would hold come from files beside it.
func renderArgs(dir string) []string {
	args := []string{"render", "-f", filepath.Join(dir, "configsync.yaml"), "--source", filepath.Join(dir, "repo")}
	if _, err := os.Stat(filepath.Join(dir, "age.agekey")); err == nil {
		args = append(args, "--age-key-file", filepath.Join(dir, "age.agekey"))
	}
	if _, err := os.Stat(filepath.Join(dir, "shared-values.yaml")); err == nil {
		args = append(args, "--values-from", "ConfigMap/shared-values="+filepath.Join(dir, "shared-values.yaml"))
	}
	return args
}

// Every folder under examples/ renders with `configsync render` to exactly
// its committed expected.yaml (go test ./cmd/configsync -run TestExamples -update
// rewrites them).
func TestExamplesRenderAsCommitted(t *testing.T) {
	dirs, err := filepath.Glob("../../examples/*/configsync.yaml")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, cs := range dirs {
		dir := filepath.Dir(cs)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			out, err := runCLI(t, renderArgs(dir)...)
			if err != nil {
				t.Fatalf("configsync %v: %v", renderArgs(dir), err)
			}
			golden := filepath.Join(dir, "expected.yaml")
			if *update {
				if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if string(want) != out {
				t.Errorf("render of %s differs from expected.yaml; got:\n%s", dir, out)
			}
		})
	}
}
