package renderers_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/filetree"
	"github.com/configsync/configsync/renderers"
)

// runReference runs a reference CLI and returns its output or its error
// (runTool fails the test instead).
func runReference(t *testing.T, dir string, env []string, name string, args ...string) ([]byte, error) {
	t.Helper()
	out, stderr, err := execReference(t, dir, env, name, args...)
	if err != nil {
		return nil, errors.New(strings.TrimSpace(stderr))
	}
	return out, nil
}

func kustomizeStep(dir string) []configsv1.RenderStep {
	return []configsv1.RenderStep{{Kustomize: &configsv1.KustomizeStep{Path: dir}}}
}

// kustomizationDirs lists the folders of tree holding a kustomization.
func kustomizationDirs(tree filetree.Tree) []string {
	seen := map[string]bool{}
	for _, name := range tree.Paths() {
		switch path.Base(name) {
		case "kustomization.yaml", "kustomization.yml", "Kustomization":
			seen[path.Dir(name)] = true
		}
	}
	dirs := make([]string, 0, len(seen))
	for d := range seen {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	return dirs
}

func writeTree(t *testing.T, dir string, tree filetree.Tree) {
	t.Helper()
	for name, data := range tree {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestKustomizeMonorepoCorpus builds every kustomization of a monorepo shaped
// like public ones (fluxcd/flux2-kustomize-helm-example's clusters/,
// infrastructure/ and apps/base+overlays; argoproj/argocd-example-apps'
// kustomize-guestbook and app of apps; kubernetes-sigs/kustomize's examples:
// helloWorld, components, configGeneration, multibases, patchMultipleObjects,
// replacements) with odd but valid shapes (an inline strategic-merge patch,
// kustomization.yml and Kustomization file names, the deprecated bases and
// patchesJson6902, YAML anchors, a field name in another case, builtin
// transformers inline and from a file, generators from a folder) and five
// broken folders. Every folder renders as `kustomize build <folder>` does,
// except that what reaches the network is refused, and no request reaches
// the listener standing in for the network.
func TestKustomizeMonorepoCorpus(t *testing.T) {
	host, requests := attackerListener(t)
	_, _, tree := loadCase(t, "kustomize-monorepo")
	for name, data := range tree {
		tree[name] = bytes.ReplaceAll(data, []byte("LISTENER"), []byte(host))
	}
	dir := t.TempDir()
	writeTree(t, dir, tree)

	refused := map[string]string{
		"broken/remote-base":      `remote resources[0] "http://` + host + `/org/platform//deploy?ref=v1.2.0" refused`,
		"broken/remote-generator": `remote configMapGenerator[0].files[0] "role=http://` + host + `/latest/meta-data/iam/security-credentials/node" refused`,
		"broken/remote-patch":     `remote patches[0].path "http://` + host + `/patches/replicas.yaml" refused`,
		"broken/remote-openapi":   `remote openapi.path "http://` + host + `/openapi/schema.json" refused`,
	}
	dirs := kustomizationDirs(tree)
	if len(dirs) < 50 {
		t.Fatalf("the corpus holds %d kustomizations, want at least 50", len(dirs))
	}
	var identical, failedAlike int
	for _, d := range dirs {
		t.Run(d, func(t *testing.T) {
			requests.Store(0)
			out, err := renderers.Run(context.Background(), kustomizeStep(d), renderers.Inputs{}, tree)
			if n := requests.Load(); n != 0 {
				t.Fatalf("%d requests reached the network", n)
			}
			if want, ok := refused[d]; ok {
				if err == nil || !errors.Is(err, renderers.ErrRemoteRefused) || !strings.Contains(err.Error(), want) {
					t.Fatalf("error %v, want a refusal containing %q", err, want)
				}
				t.Logf("refused: %v", err)
				// The case is real: the reference CLI does reach the network here.
				_, _ = runReference(t, dir, []string{"GIT_TERMINAL_PROMPT=0"}, "kustomize", "build", d)
				if requests.Load() == 0 {
					t.Fatalf("kustomize build %s sent no request: the case proves nothing", d)
				}
				return
			}
			want, refErr := runReference(t, dir, nil, "kustomize", "build", d)
			if refErr != nil {
				if err == nil {
					t.Fatalf("kustomize build fails (%v), the render succeeds", refErr)
				}
				failedAlike++
				t.Logf("fails as kustomize build does: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("render: %v (kustomize build succeeds)", err)
			}
			assertSameObjects(t, out[renderers.KustomizeOutput], want)
			identical++
		})
	}
	t.Logf("%d kustomizations: %d identical to kustomize build, %d refused, %d failing as kustomize build fails", len(dirs), identical, len(refused), failedAlike)
	if identical < 45 {
		t.Fatalf("only %d builds compared identical", identical)
	}
}

// TestKustomizeNeverReachesTheNetwork names a remote location in every
// field kustomize loads from; each build is refused with the field named and
// no request reaches the listener (kustomize itself would fetch over HTTP or
// run git clone).
func TestKustomizeNeverReachesTheNetwork(t *testing.T) {
	host, requests := attackerListener(t)
	url := "http://" + host
	deployment := []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n")
	cases := []struct {
		name          string
		kustomization string
		files         filetree.Tree
		want          string
	}{
		{"resources file URL", "resources:\n- " + url + "/cm.yaml\n", nil, `remote resources[0]`},
		{"resources git over http", "resources:\n- " + url + "/org/repo//deploy?ref=v1\n", nil, `remote resources[0]`},
		{"resources git:: prefix", "resources:\n- git::" + url + "/org/repo//deploy\n", nil, `remote resources[0]`},
		{"resources file:// clone of the operator's disk", "resources:\n- file:///etc/kubernetes//manifests\n", nil, `remote resources[0]`},
		{"bases scp-like", "bases:\n- git@github.com:org/repo.git//deploy?ref=main\n", nil, `remote bases[0]`},
		{"components github.com", "resources:\n- deployment.yaml\ncomponents:\n- github.com/org/repo/component?ref=v1\n", nil, `remote components[0]`},
		{"field name in another case", "Resources:\n- " + url + "/cm.yaml\n", nil, `remote resources[0]`},
		// encoding/json, which kustomize decodes kustomizations with, folds
		// U+017F (long s) to s and U+212A (Kelvin sign) to k.
		{"field name folded from long s", "re\u017fources:\n- git::" + url + "/org/repo//deploy\n", nil, `remote resources[0]`},
		{"components folded from long s", "resources:\n- deployment.yaml\ncomponent\u017f:\n- git::" + url + "/org/repo//c\n", nil, `remote components[0]`},
		{"generator files folded from long s", "configMapGenerator:\n- name: c\n  file\u017f:\n  - role=" + url + "/latest/meta-data/iam/security-credentials/node\n", nil, `remote configMapGenerator[0].files[0]`},
		{"field name folded from the Kelvin sign", "\u212aind: Kustomization\nresources:\n- deployment.yaml\ncomponents:\n- github.com/org/repo/c\n", nil, `remote components[0]`},
		{"crds", "crds:\n- " + url + "/crd.yaml\nresources:\n- deployment.yaml\n", nil, `remote crds[0]`},
		{"configurations", "configurations:\n- " + url + "/config.yaml\nresources:\n- deployment.yaml\n", nil, `remote configurations[0]`},
		{"configMapGenerator files", "configMapGenerator:\n- name: c\n  files:\n  - " + url + "/latest/meta-data/iam\n", nil, `remote configMapGenerator[0].files[0]`},
		{"configMapGenerator envs", "configMapGenerator:\n- name: c\n  envs:\n  - " + url + "/app.env\n", nil, `remote configMapGenerator[0].envs[0]`},
		{"secretGenerator env", "secretGenerator:\n- name: s\n  env: " + url + "/app.env\n", nil, `remote secretGenerator[0].env`},
		{"secretGenerator key=file", "secretGenerator:\n- name: s\n  files:\n  - token=" + url + "/token\n", nil, `remote secretGenerator[0].files[0]`},
		{"patches path", "resources:\n- deployment.yaml\npatches:\n- path: " + url + "/patch.yaml\n", nil, `remote patches[0].path`},
		{"patchesStrategicMerge", "resources:\n- deployment.yaml\npatchesStrategicMerge:\n- " + url + "/patch.yaml\n", nil, `remote patchesStrategicMerge[0]`},
		{"patchesJson6902 path", "resources:\n- deployment.yaml\npatchesJson6902:\n- target: {group: apps, version: v1, kind: Deployment, name: web}\n  path: " + url + "/ops.yaml\n", nil, `remote patchesJson6902[0].path`},
		{"replacements path", "resources:\n- deployment.yaml\nreplacements:\n- path: " + url + "/replacement.yaml\n", nil, `remote replacements[0].path`},
		{"openapi path", "resources:\n- deployment.yaml\nopenapi:\n  path: " + url + "/schema.json\n", nil, `remote openapi.path`},
		{"inline PatchTransformer", "resources:\n- deployment.yaml\ntransformers:\n- |-\n  apiVersion: builtin\n  kind: PatchTransformer\n  metadata: {name: p}\n  path: " + url + "/patch.yaml\n", nil, `app/kustomization.yaml transformers[0]: remote PatchTransformer.path`},
		{"transformer config file", "resources:\n- deployment.yaml\ntransformers:\n- replace.yaml\n",
			filetree.Tree{"replace.yaml": []byte("apiVersion: builtin\nkind: ReplacementTransformer\nmetadata: {name: r}\nreplacements:\n- path: " + url + "/r.yaml\n")},
			`replace.yaml: remote ReplacementTransformer.replacements[0].path`},
		// kustomize's plugin loader: builtin is group "" and version "builtin".
		{"transformer apiVersion /builtin", "resources:\n- deployment.yaml\ntransformers:\n- t.yaml\n",
			filetree.Tree{"t.yaml": []byte("apiVersion: /builtin\nkind: PatchTransformer\nmetadata: {name: p}\npath: " + url + "/patch.yaml\n")},
			`t.yaml: remote PatchTransformer.path`},
		{"inline transformer apiVersion /builtin", "resources:\n- deployment.yaml\ntransformers:\n- |-\n  apiVersion: /builtin\n  kind: PatchTransformer\n  metadata: {name: p}\n  path: " + url + "/patch.yaml\n", nil,
			`app/kustomization.yaml transformers[0]: remote PatchTransformer.path`},
		// kustomize unpacks any kind ending in List that has items.
		{"transformer in a FooList", "resources:\n- deployment.yaml\ntransformers:\n- t.yaml\n",
			filetree.Tree{"t.yaml": []byte("apiVersion: v1\nkind: ConfigList\nitems:\n- apiVersion: builtin\n  kind: PatchTransformer\n  metadata: {name: p}\n  path: " + url + "/patch.yaml\n")},
			`t.yaml: remote PatchTransformer.path`},
		{"inline transformer in a FooList", "resources:\n- deployment.yaml\ntransformers:\n- |-\n  apiVersion: v1\n  kind: ConfigList\n  items:\n  - apiVersion: builtin\n    kind: PatchTransformer\n    metadata: {name: p}\n    path: " + url + "/patch.yaml\n", nil,
			`transformers[0]: remote PatchTransformer.path`},
		{"transformer apiVersion escaped in YAML", "resources:\n- deployment.yaml\ntransformers:\n- t.yaml\n",
			filetree.Tree{"t.yaml": []byte("apiVersion: \"\\x62uiltin\"\nkind: PatchTransformer\nmetadata: {name: p}\npath: " + url + "/patch.yaml\n")},
			`t.yaml: remote PatchTransformer.path`},
		{"transformer in a file named kustomization.yaml", "resources:\n- deployment.yaml\ntransformers:\n- t/kustomization.yaml\n",
			filetree.Tree{"t/kustomization.yaml": []byte("apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: p}\npath: " + url + "/patch.yaml\n")},
			`t/kustomization.yaml: remote PatchTransformer.path`},
		// kustomize clones whenever reading the entry as a file fails, for
		// any reason.
		{"git URL shadowed by a malformed tree file", "resources:\n- git::" + url + "/org/repo\n",
			filetree.Tree{"git::http:/" + host + "/org/repo": []byte("x: [\n")}, `remote resources[0]`},
		{"git URL shadowed by a duplicate resource", "resources:\n- deployment.yaml\n- git::" + url + "/org/repo\n",
			filetree.Tree{"git::http:/" + host + "/org/repo": deployment}, `remote resources[1]`},
		// A folder built into plugin configurations could rewrite their paths.
		{"patch in a transformers folder", "resources:\n- deployment.yaml\ntransformers:\n- tdir\n",
			filetree.Tree{
				"tdir/kustomization.yaml": []byte("resources:\n- t.yaml\npatches:\n- target: {kind: PatchTransformer}\n  patch: |-\n    - op: replace\n      path: /path\n      value: " + url + "/patch.yaml\n"),
				"tdir/t.yaml":             []byte("apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: p}\npath: local.yaml\n"),
			},
			`tdir/kustomization.yaml: patches in a folder read as generator, transformer or validator configurations`},
		{"replacement in a base of a transformers folder", "resources:\n- deployment.yaml\ntransformers:\n- tdir\n",
			filetree.Tree{
				"tdir/kustomization.yaml":      []byte("resources:\n- base\n"),
				"tdir/base/kustomization.yaml": []byte("resources:\n- t.yaml\n- cm.yaml\nreplacements:\n- source: {kind: ConfigMap, name: u, fieldPath: data.u}\n  targets:\n  - select: {kind: PatchTransformer}\n    fieldPaths: [path]\n"),
				"tdir/base/t.yaml":             []byte("apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: p}\npath: local.yaml\n"),
				"tdir/base/cm.yaml":            []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: u}\ndata: {u: '" + url + "/patch.yaml'}\n"),
			},
			`tdir/base/kustomization.yaml: replacements in a folder`},
		{"generator from a kustomization folder", "generators:\n- gen\n",
			filetree.Tree{
				"gen/kustomization.yaml": []byte("resources:\n- cm.yaml\n"),
				"gen/cm.yaml":            []byte("apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata: {name: g}\nfiles:\n- " + url + "/latest/meta-data/iam\n"),
			},
			`gen/cm.yaml: remote ConfigMapGenerator.files[0]`},
		{"from a base the build reaches", "resources:\n- base\n",
			filetree.Tree{"base/kustomization.yaml": []byte("configMapGenerator:\n- name: c\n  files:\n  - " + url + "/latest/meta-data/iam\n")},
			`base/kustomization.yaml: remote configMapGenerator[0].files[0]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tree := filetree.Tree{"app/kustomization.yaml": []byte(tc.kustomization), "app/deployment.yaml": deployment}
			for name, data := range tc.files {
				tree["app/"+name] = data
			}
			requests.Store(0)
			_, err := renderers.Run(context.Background(), kustomizeStep("app"), renderers.Inputs{}, tree)
			if n := requests.Load(); n != 0 {
				t.Fatalf("%d requests reached the network", n)
			}
			if err == nil || !errors.Is(err, renderers.ErrRemoteRefused) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want a refusal containing %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "refused: renders may not reach the network; vendor it into the repository") {
				t.Fatalf("error %q does not say why", err)
			}
		})
	}
}

// TestKustomizeURLsAsDataStillBuild: URLs kustomize never loads (labels and
// annotations, literals, inline patches, a remote base named by a folder the
// build does not reach) are not refused.
func TestKustomizeURLsAsDataStillBuild(t *testing.T) {
	host, requests := attackerListener(t)
	url := "http://" + host
	tree := filetree.Tree{
		"app/kustomization.yaml": []byte(`resources:
- deployment.yaml
commonAnnotations:
  docs: ` + url + `/docs
configMapGenerator:
- name: c
  literals:
  - ENDPOINT=` + url + `/api
patches:
- target: {kind: Deployment}
  patch: |-
    - op: add
      path: /metadata/annotations/webhook
      value: ` + url + `/hook
`),
		"app/deployment.yaml":          []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"),
		"unrelated/kustomization.yaml": []byte("resources:\n- " + url + "/org/repo//x?ref=v1\n"),
		"broken/kustomization.yaml":    []byte("resources: [\n"),
	}
	out, err := renderers.Run(context.Background(), kustomizeStep("app"), renderers.Inputs{}, tree)
	if err != nil {
		t.Fatal(err)
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("%d requests reached the network", n)
	}
	for _, want := range []string{"docs: " + url + "/docs", "ENDPOINT: " + url + "/api", "webhook: " + url + "/hook"} {
		if !strings.Contains(string(out[renderers.KustomizeOutput]), want) {
			t.Errorf("output lacks %q:\n%s", want, out[renderers.KustomizeOutput])
		}
	}
}

// TestKustomizeBuildsAtTheRoot: the CRD's default path (".", so also an
// empty step) and its spellings build the kustomization at the tree's root,
// as `kustomize build .` does.
func TestKustomizeBuildsAtTheRoot(t *testing.T) {
	_, _, tree := loadCase(t, "kustomize-root")
	dir, err := filepath.Abs(filepath.Join(goldenDir, "kustomize-root", "input"))
	if err != nil {
		t.Fatal(err)
	}
	want := runTool(t, dir, nil, "kustomize", "build", ".")
	for _, p := range []string{"", ".", "./", "base/.."} {
		t.Run("path="+p, func(t *testing.T) {
			out, err := renderers.Run(context.Background(), kustomizeStep(p), renderers.Inputs{}, tree)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			assertSameObjects(t, out[renderers.KustomizeOutput], want)
		})
	}
	for _, p := range []string{"..", "../x", "/etc"} {
		t.Run("path="+p, func(t *testing.T) {
			if _, err := renderers.Run(context.Background(), kustomizeStep(p), renderers.Inputs{}, tree); err == nil || !strings.Contains(err.Error(), "must be a folder inside the tree") {
				t.Fatalf("error %v, want a refusal of a path outside the tree", err)
			}
		})
	}
}
