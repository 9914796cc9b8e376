// Helpers that several test files of the package share.
package renderers_test

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"sigs.k8s.io/yaml"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/apply"
	"github.com/configsync/configsync/internal/filetree"
	"github.com/configsync/configsync/internal/reftools"
	"github.com/configsync/configsync/renderers"
	"github.com/configsync/configsync/renderers/inputs"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/renderers from the current renderers")

// goldenCase is testdata/renderers/<case>/case.yaml: the render steps, the
// objects of the cluster they name, and either the rendered output
// (expected.yaml beside it) or an error the output must contain.
type goldenCase struct {
	Render    []configsv1.RenderStep `json:"render"`
	Namespace string                 `json:"namespace,omitempty"`
	// Objects are the ConfigMaps and Secrets the steps name (valuesFrom),
	// by "Kind/name": their keys and values, read as the reconciler reads
	// them from the cluster (package inputs).
	Objects map[string]map[string]string `json:"objects,omitempty"`
	// AgeKeyFile and PGPKeyFile name key files beside case.yaml: the keys
	// of every sops step's decryption Secret, and what the reference sops
	// gets.
	AgeKeyFile string `json:"ageKeyFile,omitempty"`
	PGPKeyFile string `json:"pgpKeyFile,omitempty"`
	WantError  string `json:"wantError,omitempty"`
	// ConfigSync and Source, when set, give template steps their context
	// (.ConfigSync, .Source, .Targets, .Target) as the reconciler does.
	ConfigSync *configsv1.ConfigSync `json:"configSync,omitempty"`
	Source     renderers.SourceInfo  `json:"source,omitempty"`
}

// goldenDir holds a folder per golden case: case.yaml, input/ and the
// expected output.
const goldenDir = "../testdata/renderers"

// loadCase reads golden case name: its case.yaml, the render inputs it
// names and its input tree.
func loadCase(t testing.TB, name string) (goldenCase, renderers.Inputs, filetree.Tree) {
	t.Helper()
	dir := filepath.Join(goldenDir, name)
	raw, err := os.ReadFile(filepath.Join(dir, "case.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c goldenCase
	if err := yaml.UnmarshalStrict(raw, &c); err != nil {
		t.Fatalf("case.yaml: %v", err)
	}
	objs := inputs.Objects{}
	for ref, data := range c.Objects {
		kind, name, _ := strings.Cut(ref, "/")
		for k, v := range data {
			objs.Put(kind, name, k, []byte(v))
		}
	}
	for _, step := range c.Render {
		if step.Sops == nil {
			continue
		}
		for key, file := range map[string]string{"case.agekey": c.AgeKeyFile, "case.asc": c.PGPKeyFile} {
			if file != "" {
				objs.Put("Secret", step.Sops.DecryptionSecretRef.Name, key, readFile(t, filepath.Join(dir, file)))
			}
		}
	}
	in, err := inputs.Resolve(context.Background(), c.Namespace, c.Render, objs, inputs.Options{})
	if err != nil {
		t.Fatalf("inputs: %v", err)
	}
	if c.ConfigSync != nil {
		in.Context = renderers.ContextOf(c.ConfigSync, c.Source.RepoURL, c.Source.Ref, c.Source.Commit)
	}
	tree, err := filetree.Load(os.DirFS(filepath.Join(dir, "input")), ".", filetree.DefaultLimits)
	if err != nil {
		t.Fatalf("load input: %v", err)
	}
	return c, in, tree
}

// readFile reads file name, failing the test on error.
func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// goldenCases are the names of the golden cases, sorted.
func goldenCases(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir(goldenDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		t.Fatal("no golden cases")
	}
	return names
}

// runTool runs a reference CLI in dir and returns its output; it fails the
// test, with the CLI's stderr, if the CLI fails.
func runTool(t testing.TB, dir string, env []string, name string, args ...string) []byte {
	t.Helper()
	out, stderr, err := execReference(t, dir, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr)
	}
	return out
}

// objectsOf parses multi-document YAML into objects, in order.
func objectsOf(t *testing.T, data []byte) []map[string]any {
	t.Helper()
	objs, err := apply.Decode(filetree.Tree{"out.yaml": data})
	if err != nil {
		t.Fatalf("parse output: %v", err)
	}
	out := make([]map[string]any, len(objs))
	for i, o := range objs {
		out[i] = o.Object
	}
	return out
}

// referenceCommands are the CLI runs that render what the case's single step
// renders in-process: helm template, kustomize build, jsonnet, or one sops -d
// per encrypted file (out is our render, to tell which files were encrypted).
func referenceCommands(t testing.TB, c goldenCase, name string, tree, out filetree.Tree) []referenceCommand {
	t.Helper()
	step := c.Render[0]
	switch {
	case step.Helm != nil:
		args := []string{"template", step.Helm.ReleaseName, step.Helm.Chart, "--include-crds", "--no-hooks"}
		if step.Helm.Hooks != configsv1.HelmHooksSkip {
			// Hooks printed, tests left out; helmHooksAsApplied drops the
			// delete and rollback hooks and adds the phase annotations.
			args = []string{"template", step.Helm.ReleaseName, step.Helm.Chart, "--include-crds", "--skip-tests"}
		}
		if step.Helm.Namespace != "" {
			args = append(args, "--namespace", step.Helm.Namespace)
		}
		for _, f := range step.Helm.ValuesFiles {
			args = append(args, "-f", f)
		}
		if step.Helm.Values != nil {
			vals := filepath.Join(t.TempDir(), "values.json")
			if err := os.WriteFile(vals, step.Helm.Values.Raw, 0o644); err != nil {
				t.Fatal(err)
			}
			args = append(args, "-f", vals)
		}
		return []referenceCommand{{tool: "helm", args: args}}
	case step.Kustomize != nil:
		dir := step.Kustomize.Path
		if dir == "" {
			dir = "." // the CRD's default
		}
		return []referenceCommand{{tool: "kustomize", args: []string{"build", dir}}}
	case step.Jsonnet != nil:
		var args []string
		for _, p := range step.Jsonnet.JPath {
			args = append(args, "-J", p)
		}
		for k, v := range step.Jsonnet.ExtVars {
			args = append(args, "--ext-str", k+"="+v)
		}
		for k, v := range step.Jsonnet.TLAs {
			args = append(args, "--tla-str", k+"="+v)
		}
		return []referenceCommand{{tool: "jsonnet", args: append(args, step.Jsonnet.Entrypoint)}}
	case step.Sops != nil:
		env := sopsEnv(t, c, name)
		var cmds []referenceCommand
		for _, file := range tree.Paths() {
			if bytes.Equal(out[file], tree[file]) {
				continue // not encrypted: passed through, and sops -d refuses it
			}
			cmds = append(cmds, referenceCommand{tool: "sops", args: []string{"--decrypt", file}, env: env, file: file})
		}
		return cmds
	}
	t.Fatalf("no reference tool for step %s", renderers.KindOf(step))
	return nil
}

// assertSameObjects asserts that got and want hold the same objects, in
// order: what we rendered and what the reference tool did.
func assertSameObjects(t *testing.T, got, want []byte) {
	t.Helper()
	g, w := objectsOf(t, got), objectsOf(t, want)
	if len(w) == 0 {
		t.Fatal("the reference tool rendered nothing")
	}
	if !reflect.DeepEqual(g, w) {
		gy, _ := yaml.Marshal(g)
		wy, _ := yaml.Marshal(w)
		t.Fatalf("objects differ from the reference tool:\n--- ours\n%s\n--- reference\n%s", gy, wy)
	}
	t.Logf("%d objects identical", len(w))
}

// attackerListener stands in for every address a render must never reach
// (a metadata endpoint, a Git host, a schema server, a KMS): it counts the
// requests it receives, and answers the metadata path as a cloud would.
func attackerListener(t *testing.T) (host string, requests *atomic.Int64) {
	t.Helper()
	requests = &atomic.Int64{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if strings.Contains(r.URL.Path, "/meta-data/") {
			_, _ = io.WriteString(w, `{"AccessKeyId":"ASIA-NOT-A-REAL-KEY","SecretAccessKey":"not-a-real-secret"}`)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), requests
}

// helmHooksAsApplied turns `helm template --skip-tests` output into what
// the helm step renders under the policy: with Skip, `--no-hooks` was run
// and the output stands; with Apply, each hook keeps its place, a hook with
// no install or upgrade event (delete, rollback) is dropped, and the others
// get the phases of their events (the mapping written out again here, from
// Argo CD's: pre-* → pre, post-* → post).
func helmHooksAsApplied(t *testing.T, reference []byte, policy configsv1.HelmHooks) []byte {
	t.Helper()
	if policy == configsv1.HelmHooksSkip {
		return reference
	}
	var docs []string
	for _, obj := range objectsOf(t, reference) {
		meta, _ := obj["metadata"].(map[string]any)
		annotations, _ := meta["annotations"].(map[string]any)
		if events, ok := annotations["helm.sh/hook"].(string); ok {
			var phases []string
			for _, p := range []struct{ phase, install, upgrade string }{
				{"pre", "pre-install", "pre-upgrade"}, {"post", "post-install", "post-upgrade"},
			} {
				for _, e := range strings.Split(events, ",") {
					if e = strings.TrimSpace(e); e == p.install || e == p.upgrade {
						phases = append(phases, p.phase)
						break
					}
				}
			}
			if len(phases) == 0 {
				continue
			}
			annotations["configs.example.io/sync-phase"] = strings.Join(phases, ",")
		}
		doc, err := yaml.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(doc))
	}
	return []byte(strings.Join(docs, "---\n"))
}

// execReference runs the reference CLI name in dir with env added to this
// process's environment.
func execReference(t testing.TB, dir string, env []string, name string, args ...string) (out []byte, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(reftools.Path(t, name), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	out, err = cmd.Output()
	return out, errOut.String(), err
}
