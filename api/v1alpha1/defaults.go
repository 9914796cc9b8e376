package v1alpha1

import "time"

// Defaults of optional fields. The CRD's +kubebuilder:default markers fill
// them in at admission; the getters below give the same values for an
// object stored before a default existed, or built in Go without the
// apiserver (the CLI, tests). Code reads these fields only through them.
const (
	DefaultRefreshInterval = 10 * time.Minute
	DefaultHealthTimeout   = 5 * time.Minute
	DefaultHistoryLimit    = 10
	DefaultFetchTimeout    = 60 * time.Second
)

// GetRefreshInterval is how often the source is checked and drift corrected.
func (cs *ConfigSync) GetRefreshInterval() time.Duration {
	if d := cs.Spec.RefreshInterval; d != nil && d.Duration > 0 {
		return d.Duration
	}
	return DefaultRefreshInterval
}

// GetHealthTimeout bounds the wait for health.
func (cs *ConfigSync) GetHealthTimeout() time.Duration {
	if d := cs.Spec.HealthTimeout; d != nil && d.Duration > 0 {
		return d.Duration
	}
	return DefaultHealthTimeout
}

// GetHistoryLimit is how many applied revisions status.history keeps.
func (cs *ConfigSync) GetHistoryLimit() int {
	if n := cs.Spec.HistoryLimit; n != nil {
		return int(*n)
	}
	return DefaultHistoryLimit
}

// RollsBackOnFailure says whether rollback.onFailure is set.
func (cs *ConfigSync) RollsBackOnFailure() bool {
	return cs.Spec.Rollback != nil && cs.Spec.Rollback.OnFailure
}

// GetRollbackTarget is rollback.toRevision, or "" when none is pinned.
func (cs *ConfigSync) GetRollbackTarget() string {
	if cs.Spec.Rollback == nil {
		return ""
	}
	return cs.Spec.Rollback.ToRevision
}

// GetTimeout bounds one fetch.
func (g *GitSource) GetTimeout() time.Duration {
	if g.Timeout != nil && g.Timeout.Duration > 0 {
		return g.Timeout.Duration
	}
	return DefaultFetchTimeout
}

// NeedsAuth says whether the fetch authenticates (authMethod https or ssh).
func (g *GitSource) NeedsAuth() bool {
	return g.AuthMethod != "" && g.AuthMethod != AuthNone
}

// OwnerLabels mark every object the ConfigSync namespace/name applied.
// Both are needed: a label copied onto an object by someone else must not
// make the object ours, so deletion also requires the inventory entry.
func OwnerLabels(namespace, name string) map[string]string {
	return map[string]string{LabelName: name, LabelNamespace: namespace}
}

// ShortRevision abbreviates a commit SHA for messages and tables.
func ShortRevision(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// ObjectReference names the object a target status is about.
func (t TargetStatus) ObjectReference() ObjectReference {
	return ObjectReference{APIVersion: t.APIVersion, Kind: t.Kind, Namespace: t.Namespace, Name: t.Name}
}

// RequestReconcile sets the reconcile-request annotation to the time now
// and returns its value: the operator reconciles at once, and records the
// value in status.lastHandledReconcileAt when it has.
func (cs *ConfigSync) RequestReconcile(now time.Time) string {
	if cs.Annotations == nil {
		cs.Annotations = map[string]string{}
	}
	at := now.UTC().Format(time.RFC3339Nano)
	cs.Annotations[AnnotationReconcileRequestedAt] = at
	return at
}
