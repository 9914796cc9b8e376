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
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/configsync/configsync/renderers"
)

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
