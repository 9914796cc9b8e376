package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/filetree"
	"github.com/configsync/configsync/renderers"
	"github.com/configsync/configsync/renderers/sandbox"
)

// The manager binary is its own render sandbox: started by a Runner, it
// renders before it parses a flag or reads a kubeconfig.
func TestTheManagerBinaryServesItsRenderSandbox(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "manager")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("build the manager: %v", err)
	}
	tree := filetree.Tree{"main.jsonnet": []byte(`{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "cm" } }`)}
	steps := []configsv1.RenderStep{{Jsonnet: &configsv1.JsonnetStep{Entrypoint: "main.jsonnet"}}}
	got, err := (&sandbox.Runner{Executable: bin}).Run(context.Background(), steps, renderers.Inputs{}, tree)
	if err != nil {
		t.Fatalf("render through the manager binary: %v", err)
	}
	want, err := renderers.Run(context.Background(), steps, renderers.Inputs{}, tree)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("rendered %d files, want %d", len(got), len(want))
	}
	for name, data := range want {
		if string(got[name]) != string(data) {
			t.Errorf("%s: got %q, want %q", name, got[name], data)
		}
	}
}
