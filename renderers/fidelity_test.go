package renderers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/apply"
	"github.com/configsync/configsync/internal/filetree"
	"github.com/configsync/configsync/internal/reftools"
	"github.com/configsync/configsync/renderers"
)

func runTool(t testing.TB, dir string, env []string, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(reftools.Path(t, name), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
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

// TestFidelity renders every single-step golden case with the reference tool
// too, and requires the same objects (or, for sops, the same bytes).
func TestFidelity(t *testing.T) {
	compared := 0
	for _, name := range goldenCases(t) {
		c, in, tree := loadCase(t, name)
		if c.WantError != "" || len(c.Render) != 1 || c.Render[0].Template != nil {
			continue // templates have no reference CLI: Go text/template is the reference
		}
		compared++
		t.Run(name, func(t *testing.T) {
			dir, err := filepath.Abs(filepath.Join(goldenDir, name, "input"))
			if err != nil {
				t.Fatal(err)
			}
			out, err := renderers.Run(context.Background(), c.Render, in, tree)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			step := c.Render[0]
			for _, cmd := range referenceCommands(t, c, name, tree, out) {
				want := runTool(t, dir, cmd.env, cmd.tool, cmd.args...)
				switch {
				case step.Helm != nil:
					assertSameObjects(t, out[renderers.HelmOutput], helmHooksAsApplied(t, want, step.Helm.Hooks))
				case step.Kustomize != nil:
					assertSameObjects(t, out[renderers.KustomizeOutput], want)
				case step.Jsonnet != nil:
					got, err := (&renderers.Jsonnet{Step: *step.Jsonnet}).Evaluate(tree)
					if err != nil {
						t.Fatal(err)
					}
					assertSameJSON(t, []byte(got), want)
				case step.Sops != nil:
					if !bytes.Equal(out[cmd.file], want) {
						t.Fatalf("%s differs from sops -d:\n--- ours\n%s\n--- sops -d\n%s", cmd.file, out[cmd.file], want)
					}
				}
			}
		})
	}
	if compared < 5 {
		t.Fatalf("only %d cases compared with a reference tool", compared)
	}
}

// capabilitiesFile, beside a helm case's case.yaml, lists target clusters to
// render the case for as well (TestGolden and TestFidelity render it with
// Helm's defaults): each is given to the step as the operator gives what
// discovery found, and to `helm template` as --kube-version and
// --api-versions.
const capabilitiesFile = "capabilities.yaml"

type capabilities struct {
	KubeVersion string   `json:"kubeVersion,omitempty"`
	APIVersions []string `json:"apiVersions,omitempty"`
}

// TestFidelityCapabilities renders the helm cases that list capabilities
// once per target cluster, and requires the objects `helm template
// --kube-version --api-versions` renders, and other objects than the
// default render (so that the case does branch on them).
func TestFidelityCapabilities(t *testing.T) {
	cases := 0
	for _, name := range goldenCases(t) {
		raw, err := os.ReadFile(filepath.Join(goldenDir, name, capabilitiesFile))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		var targets []capabilities
		if err := yaml.UnmarshalStrict(raw, &targets); err != nil {
			t.Fatalf("%s/%s: %v", name, capabilitiesFile, err)
		}
		c, in, tree := loadCase(t, name)
		if c.WantError != "" || len(c.Render) != 1 || c.Render[0].Helm == nil || len(targets) == 0 {
			t.Fatalf("%s: %s needs a case of one helm step that renders, and at least one target", name, capabilitiesFile)
		}
		dir, err := filepath.Abs(filepath.Join(goldenDir, name, "input"))
		if err != nil {
			t.Fatal(err)
		}
		def, err := renderers.Run(context.Background(), c.Render, in, tree)
		if err != nil {
			t.Fatalf("%s: render: %v", name, err)
		}
		cases++
		for i, target := range targets {
			t.Run(fmt.Sprintf("%s/%d-%s", name, i, target.KubeVersion), func(t *testing.T) {
				in := in
				in.KubeVersion, in.APIVersions = target.KubeVersion, target.APIVersions
				out, err := renderers.Run(context.Background(), c.Render, in, tree)
				if err != nil {
					t.Fatalf("render: %v", err)
				}
				cmd := referenceCommands(t, c, name, tree, out)[0]
				if target.KubeVersion != "" {
					cmd.args = append(cmd.args, "--kube-version", target.KubeVersion)
				}
				for _, v := range target.APIVersions {
					cmd.args = append(cmd.args, "--api-versions", v)
				}
				want := runTool(t, dir, cmd.env, cmd.tool, cmd.args...)
				assertSameObjects(t, out[renderers.HelmOutput], helmHooksAsApplied(t, want, c.Render[0].Helm.Hooks))
				if reflect.DeepEqual(objectsOf(t, out[renderers.HelmOutput]), objectsOf(t, def[renderers.HelmOutput])) {
					t.Fatalf("the render for %+v is the default one: the chart does not branch on it", target)
				}
			})
		}
	}
	if cases == 0 {
		t.Fatalf("no helm case lists targets in %s", capabilitiesFile)
	}
}

// referenceCommand is one run of a reference CLI on a case's input folder.
type referenceCommand struct {
	tool string
	args []string
	env  []string
	file string // sops: the file it decrypts
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

// sopsEnv points sops at the case's keys: an age key file, or a throwaway
// GnuPG home holding the PGP key.
func sopsEnv(t testing.TB, c goldenCase, name string) []string {
	t.Helper()
	dir, _ := filepath.Abs(filepath.Join(goldenDir, name))
	var env []string
	if c.AgeKeyFile != "" {
		env = append(env, "SOPS_AGE_KEY_FILE="+filepath.Join(dir, c.AgeKeyFile))
	}
	if c.PGPKeyFile != "" {
		home := t.TempDir()
		cmd := exec.Command("gpg", "--batch", "--import", filepath.Join(dir, c.PGPKeyFile))
		cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("gpg --import: %v\n%s", err, out)
		}
		env = append(env, "GNUPGHOME="+home)
	}
	return env
}

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

func assertSameJSON(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("JSON differs from jsonnet:\n--- ours\n%s\n--- jsonnet\n%s", got, want)
	}
}
