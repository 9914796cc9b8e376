package renderers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"text/template"
	"unicode/utf8"

	"github.com/Masterminds/sprig/v3"
	"sigs.k8s.io/yaml"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/filetree"
)

// ValuesFile and the environment overlay values-<environment>.yaml, at the
// root of the tree, hold the template step's values. They are read, not
// rendered, and do not appear in the step's output.
const ValuesFile = "values.yaml"

// maxRange bounds the lists that until, untilStep and seq build, so that a
// template cannot allocate the operator's memory away.
const maxRange = 10000

// Bounds of sprig's string builders, for the same reason: repeat's result,
// the random strings' and bytes' lengths, indent's padding.
const (
	maxRepeatBytes = 16 << 20
	maxRandom      = 64 << 10
	maxIndent      = 1024
)

// Template renders every text file of the tree as a Go text/template with
// sprig functions. Values merge, lowest first: values.yaml, then
// values-<environment>.yaml, then valuesFrom in order, then spec values; maps
// merge deeply, any other value (lists included) is replaced.
type Template struct {
	Step       configsv1.TemplateStep
	ValuesFrom []map[string]any
	// Context, when set, is given to every file as .ConfigSync, .Source,
	// .Targets and .Target beside the values.
	Context *Context
	// MaxOutputBytes bounds what one file may render to.
	MaxOutputBytes int64
}

// Render renders the tree.
func (t *Template) Render(ctx context.Context, in filetree.Tree) (filetree.Tree, error) {
	values, err := t.values(in)
	if err != nil {
		return nil, err
	}
	return eachFile(ctx, in, func(name string, data []byte) ([]byte, bool, error) {
		switch {
		case t.isValuesFile(name):
			return nil, false, nil
		case t.excluded(name) || !isText(data):
			return data, true, nil
		}
		rendered, err := t.renderFile(ctx, name, data, values)
		return rendered, err == nil, err
	})
}

func (t *Template) isValuesFile(name string) bool {
	return name == ValuesFile || (t.Step.Environment != "" && name == envValuesFile(t.Step.Environment))
}

func envValuesFile(env string) string { return "values-" + env + ".yaml" }

func (t *Template) excluded(name string) bool {
	for _, glob := range t.Step.Exclude {
		if ok, _ := path.Match(glob, name); ok {
			return true
		}
		if ok, _ := path.Match(glob, path.Base(name)); ok {
			return true
		}
	}
	return false
}

// isText says whether data is a template: valid UTF-8 without NUL bytes.
// Anything else (images, archives) passes through untouched.
func isText(data []byte) bool {
	return utf8.Valid(data) && !bytes.ContainsRune(data, 0)
}

func (t *Template) values(in filetree.Tree) (map[string]any, error) {
	layers := []struct {
		name string
		data []byte
	}{{ValuesFile, in[ValuesFile]}}
	if env := t.Step.Environment; env != "" {
		data, ok := in[envValuesFile(env)]
		if !ok {
			return nil, fmt.Errorf("environment %q: %s not found at the root of the tree", env, envValuesFile(env))
		}
		layers = append(layers, struct {
			name string
			data []byte
		}{envValuesFile(env), data})
	}
	values := map[string]any{}
	var err error
	for _, l := range layers {
		if values, err = mergeYAML(values, l.name, l.data); err != nil {
			return nil, err
		}
	}
	for _, m := range t.ValuesFrom {
		values = MergeValues(values, m)
	}
	if t.Step.Values != nil {
		if values, err = mergeYAML(values, "spec values", t.Step.Values.Raw); err != nil {
			return nil, err
		}
	}
	if err := t.Context.addTo(values); err != nil {
		return nil, err
	}
	return values, nil
}

func (t *Template) renderFile(ctx context.Context, name string, data []byte, values map[string]any) ([]byte, error) {
	tmpl, err := template.New(name).Option("missingkey=error").Funcs(funcMap()).Parse(string(data))
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err) // text/template says template: <file>:<line>: ...
	}
	limit := t.MaxOutputBytes
	if limit <= 0 {
		limit = 64 << 20
	}
	w := &limitedBuffer{limit: limit, ctx: ctx}
	if err := tmpl.Execute(w, values); err != nil {
		if errors.Is(err, errOutputTooLarge) {
			return nil, fmt.Errorf("%s: output exceeds %d bytes", name, limit)
		}
		return nil, fmt.Errorf("execute: %w", err) // text/template says template: <file>:<line>:<col>: ...
	}
	return w.Bytes(), nil
}

// funcMap is sprig's text functions without those that read the operator's
// environment or reach the network, with bounded list builders, plus the
// YAML helpers users know from Helm.
func funcMap() template.FuncMap {
	fm := sprig.TxtFuncMap()
	for _, name := range []string{"env", "expandenv", "getHostByName"} {
		delete(fm, name)
	}
	// Guard sprig's list builders with a size check, then call them, so
	// their results stay exactly sprig's.
	until, untilStep, seq := fm["until"].(func(int) []int), fm["untilStep"].(func(int, int, int) []int), fm["seq"].(func(...int) string)
	fm["until"] = func(n int) ([]int, error) {
		if err := checkRange(0, n, 1); err != nil {
			return nil, err
		}
		return until(n), nil
	}
	fm["untilStep"] = func(start, stop, step int) ([]int, error) {
		if err := checkRange(start, stop, step); err != nil {
			return nil, err
		}
		return untilStep(start, stop, step), nil
	}
	fm["seq"] = func(params ...int) (string, error) {
		lo, hi, step := 1, 0, 1
		switch len(params) {
		case 1:
			hi = params[0]
		case 2:
			lo, hi = params[0], params[1]
		case 3:
			lo, step, hi = params[0], params[1], params[2]
		}
		if err := checkRange(lo, hi, step); err != nil {
			return "", err
		}
		return seq(params...), nil
	}
	repeat := fm["repeat"].(func(int, string) string)
	fm["repeat"] = func(count int, str string) (string, error) {
		if count < 0 || len(str) > 0 && count > maxRepeatBytes/len(str) {
			return "", fmt.Errorf("repeat of %d times %d bytes exceeds the limit of %d bytes", count, len(str), maxRepeatBytes)
		}
		return repeat(count, str), nil
	}
	for _, name := range []string{"randAlphaNum", "randAlpha", "randNumeric", "randAscii"} {
		random := fm[name].(func(int) string)
		fm[name] = func(count int) (string, error) {
			if err := checkCount(name, count, maxRandom); err != nil {
				return "", err
			}
			return random(count), nil
		}
	}
	randBytes := fm["randBytes"].(func(int) (string, error))
	fm["randBytes"] = func(count int) (string, error) {
		if err := checkCount("randBytes", count, maxRandom); err != nil {
			return "", err
		}
		return randBytes(count)
	}
	for _, name := range []string{"indent", "nindent"} {
		indent := fm[name].(func(int, string) string)
		fm[name] = func(spaces int, v string) (string, error) {
			if err := checkCount(name, spaces, maxIndent); err != nil {
				return "", err
			}
			return indent(spaces, v), nil
		}
	}
	fm["toYaml"] = func(v any) (string, error) {
		out, err := yaml.Marshal(v)
		return strings.TrimSuffix(string(out), "\n"), err
	}
	fm["fromYaml"] = func(s string) (map[string]any, error) {
		m := map[string]any{}
		err := yaml.Unmarshal([]byte(s), &m)
		return m, err
	}
	fm["required"] = func(msg string, v any) (any, error) {
		if v == nil || v == "" {
			return nil, errors.New(msg)
		}
		return v, nil
	}
	return fm
}

// checkCount refuses a negative count or one over max.
func checkCount(name string, count, max int) error {
	if count < 0 || count > max {
		return fmt.Errorf("%s %d: the count must be between 0 and %d", name, count, max)
	}
	return nil
}

// checkRange refuses ranges of more than maxRange items, either direction.
func checkRange(start, stop, step int) error {
	if step == 0 {
		step = 1
	}
	n := (stop - start) / step
	if n < 0 {
		n = -n
	}
	if n > maxRange {
		return fmt.Errorf("a range of %d items exceeds the limit of %d", n, maxRange)
	}
	return nil
}

var errOutputTooLarge = errors.New("output too large")

// limitedBuffer fails writes beyond limit, which stops template execution.
type limitedBuffer struct {
	bytes.Buffer
	limit int64
	// ctx stops the template at its next write once the step has timed
	// out: text/template cannot be interrupted otherwise, and a template
	// left running would go on using the operator's CPU and memory.
	ctx context.Context
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.ctx != nil {
		if err := b.ctx.Err(); err != nil {
			return 0, err
		}
	}
	if int64(b.Len()+len(p)) > b.limit {
		return 0, errOutputTooLarge
	}
	return b.Buffer.Write(p)
}
