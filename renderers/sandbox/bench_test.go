package sandbox_test

import (
	"context"
	"testing"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/filetree"
	"github.com/configsync/configsync/renderers"
	"github.com/configsync/configsync/renderers/sandbox"
)

// What the sandbox costs a render, against the same render in-process in
// the same run: a process start of this (test) binary, and the tree
// streamed both ways.
func BenchmarkSandbox(b *testing.B) {
	tree := filetree.Tree{
		"chart/Chart.yaml":        []byte(chartYAML),
		"chart/templates/cm.yaml": []byte("{{- range $i := until 50 }}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{{ $i }}\ndata:\n  x: {{ $.Values.x | quote }}\n{{- end }}\n"),
		"chart/values.yaml":       []byte("x: 1\n"),
	}
	steps := []configsv1.RenderStep{{Helm: &configsv1.HelmStep{Chart: "chart"}}}
	for _, tc := range []struct {
		name   string
		render func(context.Context, []configsv1.RenderStep, renderers.Inputs, filetree.Tree) (filetree.Tree, error)
	}{
		{"in-process", renderers.Run},
		{"sandbox", (&sandbox.Runner{}).Run},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := tc.render(context.Background(), steps, renderers.Inputs{}, tree); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
