package renderers_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/filetree"
	"github.com/configsync/configsync/renderers"
)

func TestRunWithoutStepsPassesTheTreeThrough(t *testing.T) {
	in := filetree.Tree{"a.yaml": []byte("a: 1\n"), "dir/b.txt": []byte("b")}
	out, err := renderers.Run(context.Background(), nil, renderers.Inputs{}, in)
	if err != nil {
		t.Fatal(err)
	}
	if out.Digest() != in.Digest() {
		t.Fatalf("tree changed: %v", out)
	}
}

// Every render step field of the API has an implementation: a step that
// sets only that field builds a Renderer. (kapp-controller declared steps it
// never implemented; this test makes that impossible here.)
func TestEveryRenderStepOfTheAPIHasARenderer(t *testing.T) {
	typ := reflect.TypeOf(configsv1.RenderStep{})
	if typ.NumField() == 0 {
		t.Fatal("RenderStep has no fields")
	}
	for i := range typ.NumField() {
		field := typ.Field(i)
		t.Run(field.Name, func(t *testing.T) {
			var step configsv1.RenderStep
			v := reflect.ValueOf(&step).Elem().Field(i)
			v.Set(reflect.New(field.Type.Elem()))
			r, err := renderers.New(0, step, renderers.Inputs{})
			if err != nil || r == nil {
				t.Fatalf("no renderer for %s: %v", field.Name, err)
			}
			if got := renderers.KindOf(step); got == "empty" || !strings.EqualFold(got, field.Name) {
				t.Fatalf("KindOf names %s as %q", field.Name, got)
			}
		})
	}
}

func TestRunNamesTheFailingStep(t *testing.T) {
	steps := []configsv1.RenderStep{
		{Template: &configsv1.TemplateStep{}},
		{Kustomize: &configsv1.KustomizeStep{Path: "overlays/prod"}},
	}
	_, err := renderers.Run(context.Background(), steps, renderers.Inputs{}, filetree.Tree{"a.yaml": []byte("a: 1\n")})
	var se *renderers.StepError
	if !errors.As(err, &se) || se.Index != 2 || se.Kind != "kustomize" {
		t.Fatalf("got %v, want a StepError for step 2 (kustomize)", err)
	}
	if !strings.HasPrefix(err.Error(), "render step 2 (kustomize): ") {
		t.Fatalf("message %q", err)
	}
}
