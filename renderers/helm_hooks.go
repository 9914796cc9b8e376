package renderers

import (
	"fmt"
	"strings"

	"helm.sh/helm/v3/pkg/release"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/apply"
)

// hookPhases maps a hook's events to the sync phases it is applied in, as
// Argo CD maps Helm hooks: pre-install and pre-upgrade → before the rest
// (apply.PhasePre), post-install and post-upgrade → after it
// (apply.PhasePost). Test, delete and rollback hooks belong to no phase:
// a sync neither installs a release's tests nor deletes or rolls it back.
// Helm 3 itself drops hooks it does not know (Helm 2's crd-install among
// them), so they never reach here.
func hookPhases(events []release.HookEvent) []string {
	var pre, post bool
	for _, e := range events {
		switch e {
		case release.HookPreInstall, release.HookPreUpgrade:
			pre = true
		case release.HookPostInstall, release.HookPostUpgrade:
			post = true
		}
	}
	var phases []string
	if pre {
		phases = append(phases, apply.PhasePre)
	}
	if post {
		phases = append(phases, apply.PhasePost)
	}
	return phases
}

// appendHooks adds to a release's manifest the hooks the policy applies, in
// the order and with the "# Source:" lines `helm template` prints them, each
// annotated with its phases (apply.AnnotationSyncPhase). Skip adds none.
func appendHooks(manifest string, hooks []*release.Hook, policy configsv1.HelmHooks) (string, error) {
	if policy == configsv1.HelmHooksSkip {
		return manifest, nil
	}
	var b strings.Builder
	b.WriteString(manifest)
	for _, h := range hooks {
		phases := hookPhases(h.Events)
		if len(phases) == 0 {
			continue
		}
		doc, err := annotate(h.Manifest, apply.AnnotationSyncPhase, strings.Join(phases, ","))
		if err != nil {
			return "", fmt.Errorf("hook %s in %s: %w", h.Name, h.Path, err)
		}
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "---\n# Source: %s\n%s", h.Path, doc)
	}
	return b.String(), nil
}

// annotate sets an annotation on the object of a YAML document. The
// document is re-encoded (keys sorted, comments dropped): the objects stay
// those helm renders, not the text.
func annotate(doc, key, value string) (string, error) {
	js, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		return "", err
	}
	var obj map[string]any
	if err := utiljson.Unmarshal(js, &obj); err != nil { // keeps integers as integers
		return "", err
	}
	if obj == nil {
		return "", fmt.Errorf("not an object")
	}
	meta, _ := obj["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		obj["metadata"] = meta
	}
	annotations, _ := meta["annotations"].(map[string]any)
	if annotations == nil {
		annotations = map[string]any{}
		meta["annotations"] = annotations
	}
	annotations[key] = value
	out, err := yaml.Marshal(obj)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}
