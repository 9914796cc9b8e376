package apply_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/configsync/configsync/apply"
	"github.com/configsync/configsync/internal/filetree"
)

func TestDecode(t *testing.T) {
	const cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n"
	tests := []struct {
		name    string
		tree    filetree.Tree
		want    []string // Kind/name in order
		wantErr string   // substring; empty means no error
	}{
		{
			name: "multi-document file with empty and comment-only documents",
			tree: filetree.Tree{"all.yaml": []byte("---\n# just a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: b}\n")},
			want: []string{"ConfigMap/a", "Secret/b"},
		},
		{
			name: "files in path order, non-manifests ignored",
			tree: filetree.Tree{
				"b.yml":     []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n"),
				"a/x.json":  []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}`),
				"README.md": []byte("# not yaml: {"),
				"notes.txt": []byte("---"),
				"c.YAML":    []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"),
			},
			want: []string{"ConfigMap/x", "ConfigMap/b", "ConfigMap/c"},
		},
		{
			name: "a List is expanded",
			tree: filetree.Tree{"list.yaml": []byte("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: one}\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: two}\n")},
			want: []string{"ConfigMap/one", "ConfigMap/two"},
		},
		{
			name: "plain data files are not manifests",
			tree: filetree.Tree{"app.yaml": []byte("color: blue\nsize: 3\n"), "list.yaml": []byte("- a\n- b\n"), "cm.yaml": []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")},
			want: []string{"ConfigMap/c"},
		},
		{name: "missing kind", tree: filetree.Tree{"x.yaml": []byte("apiVersion: v1\nmetadata: {name: a}\n")}, wantErr: "x.yaml (document 1): kind is missing"},
		{name: "missing apiVersion", tree: filetree.Tree{"x.yaml": []byte("kind: ConfigMap\nmetadata: {name: a}\n")}, wantErr: "apiVersion is missing"},
		{name: "missing name", tree: filetree.Tree{"x.yaml": []byte("apiVersion: v1\nkind: ConfigMap\n")}, wantErr: "has no metadata.name"},
		{name: "generateName", tree: filetree.Tree{"x.yaml": []byte("apiVersion: v1\nkind: Pod\nmetadata: {generateName: p-}\n")}, wantErr: "generateName"},
		{name: "duplicate keys", tree: filetree.Tree{"x.yaml": []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: 1, k: 2}\n")}, wantErr: "x.yaml (document 1)"},
		{name: "a scalar document in a manifest", tree: filetree.Tree{"x.yaml": []byte(strings.Replace(cm, "%s", "a", 1) + "---\njust a string\n")}, wantErr: "x.yaml (document 2): a document must be an object"},
		{name: "invalid YAML", tree: filetree.Tree{"x.yaml": []byte("apiVersion: v1\nkind: [\n")}, wantErr: "x.yaml (document 1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := apply.Decode(tt.tree)
			if tt.wantErr != "" {
				var me *apply.ManifestError
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, &me) {
					t.Fatalf("error %v, want a ManifestError containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range objs {
				got = append(got, o.GetKind()+"/"+o.GetName())
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}
