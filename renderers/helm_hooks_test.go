package renderers_test

import (
	"context"
	"testing"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/apply"
	"github.com/configsync/configsync/renderers"
)

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
