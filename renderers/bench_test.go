package renderers_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/configsync/configsync/renderers"
)

// BenchmarkRender renders each fixture that has a reference CLI twice in the
// same run: in-process (what the operator does) and with the reference CLI
// as a process (helm template, kustomize build, jsonnet, sops -d; what a tool
// that shells out does). The ratio of the two ns/op is the figure.
func BenchmarkRender(b *testing.B) {
	for _, name := range goldenCases(b) {
		c, in, tree := loadCase(b, name)
		if c.WantError != "" || len(c.Render) != 1 || c.Render[0].Template != nil {
			continue
		}
		dir, err := filepath.Abs(filepath.Join(goldenDir, name, "input"))
		if err != nil {
			b.Fatal(err)
		}
		out, err := renderers.Run(context.Background(), c.Render, in, tree)
		if err != nil {
			b.Fatal(err)
		}
		cmds := referenceCommands(b, c, name, tree, out)
		b.Run(name+"/in-process", func(b *testing.B) {
			for b.Loop() {
				if _, err := renderers.Run(context.Background(), c.Render, in, tree); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/reference-cli", func(b *testing.B) {
			for b.Loop() {
				for _, cmd := range cmds {
					runTool(b, dir, cmd.env, cmd.tool, cmd.args...)
				}
			}
		})
	}
}
