// Package renderers runs the render pipeline: an ordered list of steps, each
// a pure function from a file tree to a file tree. Renderers never reach the
// cluster, the network or the environment; what they need from outside (values
// read from ConfigMaps, decryption keys) comes in through Inputs.
package renderers

import (
	"context"
	"errors"
	"fmt"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/filetree"
)

// Renderer is one render step.
type Renderer interface {
	Render(ctx context.Context, in filetree.Tree) (filetree.Tree, error)
}

// Inputs are what render steps need from outside the tree, read by the
// reconciler (or the CLI) before the pipeline runs.
type Inputs struct{}

// ErrNotImplemented says a render step is part of the API but not built yet.
var ErrNotImplemented = errors.New("not implemented yet")

// StepError says which step of the pipeline failed.
type StepError struct {
	Index int // 1-based, as users count steps in their spec
	Kind  string
	Err   error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("render step %d (%s): %v", e.Index, e.Kind, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// Run renders tree through steps in order. With no steps the tree passes
// through unchanged.
func Run(ctx context.Context, steps []configsv1.RenderStep, in Inputs, tree filetree.Tree) (filetree.Tree, error) {
	for i, step := range steps {
		kind := KindOf(step)
		r, err := New(step, in)
		if err != nil {
			return nil, &StepError{Index: i + 1, Kind: kind, Err: err}
		}
		tree, err = r.Render(ctx, tree)
		if err != nil {
			return nil, &StepError{Index: i + 1, Kind: kind, Err: err}
		}
	}
	return tree, nil
}

// KindOf names the field a step sets.
func KindOf(step configsv1.RenderStep) string {
	switch {
	case step.Sops != nil:
		return "sops"
	case step.Template != nil:
		return "template"
	case step.Kustomize != nil:
		return "kustomize"
	case step.Jsonnet != nil:
		return "jsonnet"
	case step.Helm != nil:
		return "helm"
	}
	return "empty"
}

// New builds the Renderer for one step.
func New(step configsv1.RenderStep, _ Inputs) (Renderer, error) {
	switch kind := KindOf(step); kind {
	case "empty":
		return nil, errors.New("the step sets none of sops, template, kustomize, jsonnet, helm")
	default:
		// The renderers themselves are the render-pipeline issue's work.
		return nil, fmt.Errorf("%s: %w", kind, ErrNotImplemented)
	}
}
