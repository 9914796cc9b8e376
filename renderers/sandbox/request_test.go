package sandbox

import (
	"bytes"
	"encoding/gob"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/filetree"
	"github.com/configsync/configsync/renderers"
)

// Every field of a render's inputs and steps, present and future, reaches
// the child as the manager holds it: a field gob cannot carry (a func, a
// channel, an interface of an unregistered type) fails here, not in a
// tenant's sync.
func TestEveryInputCrossesIntoTheSandbox(t *testing.T) {
	var in renderers.Inputs
	fill(reflect.ValueOf(&in).Elem(), 0)
	var step configsv1.RenderStep
	fill(reflect.ValueOf(&step).Elem(), 0)
	req := requestHeader{Steps: []configsv1.RenderStep{step}, Inputs: in, StepTimeout: time.Second, MemoryLimit: 1, Files: 1}
	tree := filetree.Tree{"a.yaml": []byte("a: 1\n")}
	var buf bytes.Buffer
	if err := writeRequest(&buf, req, tree); err != nil {
		t.Fatalf("encode: %v", err)
	}
	dec := gob.NewDecoder(&buf)
	var got requestHeader
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if diff := cmp.Diff(req, got); diff != "" {
		t.Errorf("the child would see other inputs (-manager +child):\n%s", diff)
	}
	gotTree, err := readFiles(dec, got.Files, filetree.DefaultLimits)
	if err != nil || !cmp.Equal(tree, gotTree) {
		t.Errorf("the child would read the tree %v (%v), want %v", gotTree, err, tree)
	}
}

// fill sets every settable field of v to a non-zero value; values held in
// interfaces are what YAML and JSON decoding produce.
func fill(v reflect.Value, depth int) {
	if depth > 6 {
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("s")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), depth+1)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(s.Index(0), depth+1)
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, depth+1)
		fill(e, depth+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Interface:
		v.Set(reflect.ValueOf(map[string]any{"list": []any{1.5, "two", true, nil, map[string]any{"k": "v"}}}))
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), depth+1)
			}
		}
	}
}
