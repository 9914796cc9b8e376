package renderers

import (
	"fmt"
	"strings"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
)

// Context is what a template sees of where it renders, beside its values:
// .ConfigSync, .Source, .Targets, and .Target when the ConfigSync has
// exactly one target (the plain "this file into that ConfigMap" case of the
// requirements' render_template(data, target)).
type Context struct {
	ConfigSync ConfigSyncInfo
	Source     SourceInfo
	Targets    []configsv1.Target
}

// ConfigSyncInfo is the ConfigSync a render is for.
type ConfigSyncInfo struct {
	Name, Namespace string
	// Labels and Annotations are maps of any, as sprig's dict functions
	// (hasKey, get, pick) take them.
	Labels, Annotations map[string]any
}

// SourceInfo is the commit a render reads.
type SourceInfo struct {
	// RepoURL is the repository's URL, credentials removed.
	RepoURL string
	// Ref is the full ref name the commit came from, empty for a SHA.
	Ref string
	// Commit is the 40-hex commit SHA.
	Commit string
	// Path is the path inside the repository.
	Path string
}

// contextNames are the value names a template's context takes; values may
// not set them.
var contextNames = []string{"ConfigSync", "Source", "Targets", "Target"}

// ContextOf is the context of cs rendering commit (from ref) of repoURL,
// which the caller has stripped of credentials. The operator's own
// annotations (configs.example.io/...) and kubectl's last-applied copy are
// left out: they change without the configuration changing, and would
// make every reconcile request render again.
func ContextOf(cs *configsv1.ConfigSync, repoURL, ref, commit string) *Context {
	annotations := map[string]any{}
	for k, v := range cs.Annotations {
		if strings.HasPrefix(k, configsv1.GroupVersion.Group+"/") || k == "kubectl.kubernetes.io/last-applied-configuration" {
			continue
		}
		annotations[k] = v
	}
	labels := map[string]any{}
	for k, v := range cs.Labels {
		labels[k] = v
	}
	return &Context{
		ConfigSync: ConfigSyncInfo{Name: cs.Name, Namespace: cs.Namespace, Labels: labels, Annotations: annotations},
		Source:     SourceInfo{RepoURL: repoURL, Ref: ref, Commit: commit, Path: cs.Spec.Source.Git.Path},
		Targets:    cs.Spec.Targets,
	}
}

// addTo puts the context into a template's values.
func (c *Context) addTo(values map[string]any) error {
	if c == nil {
		return nil
	}
	for _, name := range contextNames {
		if _, ok := values[name]; ok {
			return fmt.Errorf("values set %q, a name the template's context takes (%s)", name, strings.Join(contextNames, ", "))
		}
	}
	values["ConfigSync"] = c.ConfigSync
	values["Source"] = c.Source
	targets := c.Targets
	if targets == nil {
		targets = []configsv1.Target{}
	}
	values["Targets"] = targets
	if len(c.Targets) == 1 {
		values["Target"] = c.Targets[0]
	}
	return nil
}
