package apply

import (
	"testing"

	"github.com/configsync/configsync/internal/filetree"
)

// FuzzDecode feeds any bytes to the manifest decoder as a YAML file: it
// never panics, and every object it accepts names an apiVersion, a kind
// and a name, so nothing half-formed reaches the apiserver.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v}\n",
		"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: b}\n",
		"a: &a [*a]\n",
		"---\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {x: y}\n",
		"color: blue\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nmetadata: {name: b}\n",
		"{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"j\"}}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := Decode(filetree.Tree{"f.yaml": data})
		if err != nil {
			return
		}
		for _, o := range objs {
			if o.GetAPIVersion() == "" || o.GetKind() == "" || o.GetName() == "" {
				t.Fatalf("accepted an object without apiVersion, kind or name: %v", o.Object)
			}
		}
	})
}
