package renderers_test

import (
	"context"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/apply"
	"github.com/configsync/configsync/renderers"
)

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

// The phase annotation the fidelity check writes out is the one the apply
// stage reads.
func TestHelmHookPhaseAnnotation(t *testing.T) {
	if apply.AnnotationSyncPhase != "configs.example.io/sync-phase" || apply.PhasePre != "pre" || apply.PhasePost != "post" {
		t.Fatalf("the sync-phase annotation changed: update helmHooksAsApplied and docs/renderers/helm.md")
	}
}

// Hooks: Skip renders what it rendered before hooks were applied (no hook at
// all); Apply (and the empty default) adds the install and upgrade hooks
// with their phases, never the test Pod or the pre-delete Job.
func TestHelmHooksPolicy(t *testing.T) {
	_, in, tree := loadCase(t, "helm-hooks")
	render := func(policy configsv1.HelmHooks) map[string]string {
		t.Helper()
		step := configsv1.HelmStep{Chart: "chart", ReleaseName: "ingress", Namespace: "ingress-nginx", Hooks: policy}
		out, err := renderers.Run(context.Background(), []configsv1.RenderStep{{Helm: &step}}, in, tree)
		if err != nil {
			t.Fatal(err)
		}
		phases := map[string]string{}
		for _, obj := range objectsOf(t, out[renderers.HelmOutput]) {
			meta := obj["metadata"].(map[string]any)
			annotations, _ := meta["annotations"].(map[string]any)
			phase, _ := annotations[apply.AnnotationSyncPhase].(string)
			phases[obj["kind"].(string)+"/"+meta["name"].(string)] = phase
		}
		return phases
	}
	skip := render(configsv1.HelmHooksSkip)
	want := map[string]string{
		"Service/ingress-ingress-nginx-controller-admission":             "",
		"Deployment/ingress-ingress-nginx-controller":                    "",
		"ValidatingWebhookConfiguration/ingress-ingress-nginx-admission": "",
	}
	if !equal(skip, want) {
		t.Fatalf("Skip rendered %v, want %v", skip, want)
	}
	want["ServiceAccount/ingress-ingress-nginx-admission"] = "pre,post"
	want["Role/ingress-ingress-nginx-admission"] = "pre,post"
	want["RoleBinding/ingress-ingress-nginx-admission"] = "pre,post"
	want["Job/ingress-ingress-nginx-admission-create"] = "pre"
	want["Job/ingress-ingress-nginx-admission-patch"] = "post"
	for _, policy := range []configsv1.HelmHooks{"", configsv1.HelmHooksApply} {
		if got := render(policy); !equal(got, want) {
			t.Fatalf("%q rendered %v, want %v", policy, got, want)
		}
	}
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
