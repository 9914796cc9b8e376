package renderers

import (
	"context"
	"testing"
	"time"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/filetree"
)

// FuzzTemplate renders any template text with fixed values: no panic, no
// hang past the step's deadline, and output within the size limit. (A
// template is user input: it comes from Git.)
func FuzzTemplate(f *testing.F) {
	for _, seed := range []string{
		"name: {{ .app }}\n",
		"{{ range until 3 }}- {{ . }}\n{{ end }}",
		`{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}`,
		"{{ .missing.key }}",
		`{{ repeat 100 "x" }}`,
		"{{ toYaml .db | indent 2 }}",
		"{{",
	} {
		f.Add(seed)
	}
	steps := []configsv1.RenderStep{{Template: &configsv1.TemplateStep{}}}
	f.Fuzz(func(t *testing.T, text string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tree := filetree.Tree{"values.yaml": []byte("app: billing\ndb: {host: h, port: 5432}\n"), "t.yaml": []byte(text)}
		out, err := Run(ctx, steps, Inputs{Namespace: "fuzz", Steps: map[int]StepInputs{}}, tree)
		if err != nil {
			return
		}
		if len(out["t.yaml"]) > 64<<20 {
			t.Fatalf("output of %d bytes passed the limit", len(out["t.yaml"]))
		}
	})
}
