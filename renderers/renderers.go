// Package renderers runs the render pipeline: an ordered list of steps, each
// a pure function from a file tree to a file tree. Renderers never reach the
// cluster, the network or the environment; what they need from outside (values
// read from ConfigMaps, decryption keys) comes in through Inputs.
package renderers

import (
	"context"
	"errors"
	"fmt"
	"time"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/filetree"
)

// Renderer is one render step.
type Renderer interface {
	Render(ctx context.Context, in filetree.Tree) (filetree.Tree, error)
}

// The step kinds, each a Renderer.
var _ = []Renderer{(*Sops)(nil), (*Template)(nil), (*Kustomize)(nil), (*Jsonnet)(nil), (*Helm)(nil)}

// Inputs are what render steps need from outside the tree, read by the
// reconciler (or the CLI) before the pipeline runs.
type Inputs struct {
	// Namespace is the ConfigSync's, helm's release namespace by default.
	Namespace string
	// KubeVersion and APIVersions describe the target cluster for helm's
	// Capabilities, when known.
	KubeVersion string
	APIVersions []string
	// Steps holds each step's own inputs, by the step's index.
	Steps map[int]StepInputs
	// AllowCloudKMS lets sops steps use cloud KMS and Vault keys with the
	// operator's ambient credentials (see Sops.AllowCloudKMS).
	AllowCloudKMS bool
	// Context is what template steps see of the ConfigSync and its source;
	// nil leaves it out.
	Context *Context
}

// StepInputs are one step's inputs from outside the tree.
type StepInputs struct {
	// ValuesFrom are a template step's valuesFrom, resolved, in order.
	ValuesFrom []map[string]any
	// AgeIdentities and PGPKeys are a sops step's decryption keys.
	AgeIdentities []string
	PGPKeys       [][]byte
	// Chart is a helm step's remote chart archive (.tgz), fetched and
	// verified by the caller; nil renders the chart folder of the tree.
	// Renderers stay offline: the bytes come in, nothing goes out.
	Chart []byte `json:"-"`
	// Dependencies are archives of the remote dependencies of a helm
	// step's chart, added to the chart as `helm dependency build` puts
	// them under charts/ (a subchart vendored in the tree wins).
	Dependencies [][]byte `json:"-"`
	// Charts pins what Chart and Dependencies were fetched as: what a
	// render cache key digests instead of the bytes.
	Charts []configsv1.PinnedChart
}

// StepError says which step of the pipeline failed.
type StepError struct {
	Index int // 1-based, as users count steps in their spec
	Kind  string
	Err   error
}

func (e *StepError) Error() string {
	return stepName(e.Index, e.Kind) + ": " + e.Err.Error()
}

// StepName names step i (0-based) of a pipeline as every message does:
// counted from 1, with its kind.
func StepName(i int, step configsv1.RenderStep) string { return stepName(i+1, KindOf(step)) }

func stepName(index int, kind string) string { return fmt.Sprintf("render step %d (%s)", index, kind) }

func (e *StepError) Unwrap() error { return e.Err }

// Run renders tree through steps in order. With no steps the tree passes
// through unchanged.
func Run(ctx context.Context, steps []configsv1.RenderStep, in Inputs, tree filetree.Tree) (filetree.Tree, error) {
	for i, step := range steps {
		kind := KindOf(step)
		r, err := New(i, step, in)
		if err != nil {
			return nil, &StepError{Index: i + 1, Kind: kind, Err: err}
		}
		tree, err = runStep(ctx, r, tree)
		if err != nil {
			return nil, &StepError{Index: i + 1, Kind: kind, Err: err}
		}
	}
	return tree, nil
}

// eachFile builds a step's output file by file, in path order, as f maps
// each file of in: to its new content, or to nothing when keep is false. It
// stops at f's first error, or when ctx is done.
func eachFile(ctx context.Context, in filetree.Tree, f func(name string, data []byte) (out []byte, keep bool, err error)) (filetree.Tree, error) {
	out := filetree.Tree{}
	for _, name := range in.Paths() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		data, keep, err := f(name, in[name])
		if err != nil {
			return nil, err
		}
		if keep {
			out[name] = data
		}
	}
	return out, nil
}

// StepTimeout bounds one render step.
var StepTimeout = 60 * time.Second

// runStep renders with a deadline and checks the output against the tree
// limits. A renderer that cannot be interrupted (Go templates, Jsonnet) is
// abandoned at the deadline; the limits on ranges, recursion and output size
// keep such a runaway short.
func runStep(ctx context.Context, r Renderer, in filetree.Tree) (filetree.Tree, error) {
	ctx, cancel := context.WithTimeout(ctx, StepTimeout)
	defer cancel()
	type result struct {
		tree filetree.Tree
		err  error
	}
	done := make(chan result, 1)
	go func() {
		t, err := r.Render(ctx, in)
		done <- result{t, err}
	}()
	select {
	case res := <-done:
		if res.err != nil {
			return nil, res.err
		}
		return res.tree, checkLimits(res.tree, filetree.DefaultLimits)
	case <-ctx.Done():
		return nil, fmt.Errorf("stopped after %s: %w", StepTimeout, ctx.Err())
	}
}

func checkLimits(t filetree.Tree, limits filetree.Limits) error {
	if len(t) > limits.MaxFiles {
		return fmt.Errorf("the output has %d files, more than %d: %w", len(t), limits.MaxFiles, filetree.ErrTooLarge)
	}
	var total int64
	for _, data := range t {
		total += int64(len(data))
	}
	if total > limits.MaxTotalBytes {
		return fmt.Errorf("the output has %d bytes, more than %d: %w", total, limits.MaxTotalBytes, filetree.ErrTooLarge)
	}
	return nil
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

// New builds the Renderer for step i of a pipeline.
func New(i int, step configsv1.RenderStep, in Inputs) (Renderer, error) {
	own := in.Steps[i]
	switch {
	case step.Sops != nil:
		return &Sops{AgeIdentities: own.AgeIdentities, PGPKeys: own.PGPKeys, AllowCloudKMS: in.AllowCloudKMS}, nil
	case step.Template != nil:
		return &Template{Step: *step.Template, ValuesFrom: own.ValuesFrom, Context: in.Context}, nil
	case step.Kustomize != nil:
		return &Kustomize{Step: *step.Kustomize}, nil
	case step.Jsonnet != nil:
		return &Jsonnet{Step: *step.Jsonnet}, nil
	case step.Helm != nil:
		return &Helm{Step: *step.Helm, Namespace: in.Namespace, KubeVersion: in.KubeVersion, APIVersions: in.APIVersions,
			Archive: own.Chart, Dependencies: own.Dependencies}, nil
	}
	return nil, errors.New("the step sets none of sops, template, kustomize, jsonnet, helm")
}
