package renderers_test

import (
	"context"
	"errors"
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

func TestRunNamesTheFailingStep(t *testing.T) {
	steps := []configsv1.RenderStep{{Helm: &configsv1.HelmStep{Chart: "charts/app"}}}
	_, err := renderers.Run(context.Background(), steps, renderers.Inputs{}, filetree.Tree{})
	var se *renderers.StepError
	if !errors.As(err, &se) || se.Index != 1 || se.Kind != "helm" {
		t.Fatalf("got %v, want a StepError for step 1 (helm)", err)
	}
	if got, want := err.Error(), "render step 1 (helm): helm: not implemented yet"; got != want {
		t.Fatalf("message %q, want %q", got, want)
	}
}
