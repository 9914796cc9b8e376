package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ConfigSync keeps Kubernetes objects in sync with configuration held in Git,
// rendered on the way through an ordered pipeline of render steps.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=csync,categories=all
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Ref",type=string,JSONPath=`.status.sourceRef`
// +kubebuilder:printcolumn:name="Revision",type=string,JSONPath=`.status.sourceRevision`
// +kubebuilder:printcolumn:name="Targets",type=integer,JSONPath=`.status.appliedTargets`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
type ConfigSync struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ConfigSyncSpec   `json:"spec"`
	Status ConfigSyncStatus `json:"status,omitempty"`
}

// ConfigSyncList is a list of ConfigSyncs.
//
// +kubebuilder:object:root=true
type ConfigSyncList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ConfigSync `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ConfigSync{}, &ConfigSyncList{})
}

// ConfigSyncSpec is what the user wants kept in sync.
//
// +kubebuilder:validation:XValidation:rule="!has(self.rollback) || !has(self.rollback.toRevision) || !has(self.historyLimit) || self.historyLimit > 0",message="rollback.toRevision needs historyLimit > 0"
type ConfigSyncSpec struct {
	// Source names where the configuration comes from.
	Source Source `json:"source"`

	// Render is an ordered list of render steps. Each step reads the files the
	// previous step wrote; the first reads the source's path. Without steps the
	// source files pass through unchanged.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	Render []RenderStep `json:"render,omitempty"`

	// Targets names the objects to keep in sync. Omitted: every object the
	// render produces.
	// +optional
	// +listType=atomic
	Targets []Target `json:"targets,omitempty"`

	// Prune deletes objects that this ConfigSync applied before and that left
	// the source. Only objects listed in this ConfigSync's inventory and still
	// carrying its ownership labels are ever deleted.
	// +optional
	// +kubebuilder:default=false
	Prune bool `json:"prune,omitempty"`

	// AllowEmpty lets a render that produces no object prune everything this
	// ConfigSync owns. Without it an empty render is an error, so that a
	// broken source cannot wipe the cluster.
	// +optional
	AllowEmpty bool `json:"allowEmpty,omitempty"`

	// Force takes ownership of fields that another field manager owns, instead
	// of reporting the conflict.
	// +optional
	Force bool `json:"force,omitempty"`

	// Wait makes a sync that changed objects wait until they are healthy
	// (kstatus: Deployments rolled out and available, Jobs complete, custom
	// resources Ready) before it reports Ready. A timeout fails the sync
	// with HealthCheckFailed. rollback.onFailure turns the wait on too.
	// +optional
	Wait bool `json:"wait,omitempty"`

	// HealthTimeout bounds the wait for health. Default 5m, at most 1h.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('1h')",message="healthTimeout must be at most 1h"
	HealthTimeout *metav1.Duration `json:"healthTimeout,omitempty"`

	// RefreshInterval is how often the source is checked and drift corrected.
	// At least 1s.
	// +optional
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s')",message="refreshInterval must be at least 1s"
	RefreshInterval *metav1.Duration `json:"refreshInterval,omitempty"`

	// Suspend stops reconciliation; objects already applied stay as they are.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// HistoryLimit is how many applied revisions status.history keeps, and so
	// how far back a rollback can reach.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	HistoryLimit *int32 `json:"historyLimit,omitempty"`

	// Rollback pins the sync to a revision from history, or rolls back
	// automatically when a revision fails.
	// +optional
	Rollback *Rollback `json:"rollback,omitempty"`

	// ServiceAccountName is a ServiceAccount in the ConfigSync's namespace to
	// impersonate when applying, pruning and dry-running, and when reading
	// the Secrets and ConfigMaps this spec names (tenancy).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// KubeConfigSecretRef names a Secret in the ConfigSync's namespace holding
	// a kubeconfig of another cluster to apply to (multi-cluster).
	// +optional
	KubeConfigSecretRef *SecretKeyReference `json:"kubeConfigSecretRef,omitempty"`
}

// Source names where the configuration comes from.
type Source struct {
	// Git is a Git repository.
	Git GitSource `json:"git"`
}

// AuthMethod says how to authenticate to a Git server.
// +kubebuilder:validation:Enum=none;https;ssh
type AuthMethod string

const (
	AuthNone  AuthMethod = "none"  // a public repository
	AuthHTTPS AuthMethod = "https" // username and password (or token) from the Secret
	AuthSSH   AuthMethod = "ssh"   // private key and known_hosts from the Secret
)

// GitSource is a path in a Git repository at a branch, tag or commit.
//
// +kubebuilder:validation:XValidation:rule="self.authMethod == 'none' || has(self.authSecretRef)",message="authSecretRef is required when authMethod is https or ssh"
// +kubebuilder:validation:XValidation:rule="has(self.repoURL) != has(self.repo)",message="set exactly one of repoURL and repo"
type GitSource struct {
	// RepoURL is the repository's URL: https://, http://, ssh:// or the
	// scp-like git@host:org/repo.git. Exactly one of repoURL and repo is set.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^(https?://|ssh://|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:)\S+$`
	RepoURL string `json:"repoURL,omitempty"`

	// Repo is another name for repoURL, as the requirements' example spells
	// it. Code reads the URL through URL(), never this field.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^(https?://|ssh://|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:)\S+$`
	Repo string `json:"repo,omitempty"`

	// Path is a file or folder inside the repository. It can never point
	// outside the repository.
	// +optional
	// +kubebuilder:default="."
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('/') && !self.split('/').exists(p, p == '..')",message="path must be relative and stay inside the repository"
	Path string `json:"path,omitempty"`

	// Branch to follow. Default: the remote's HEAD.
	// +optional
	// +kubebuilder:validation:MaxLength=255
	Branch string `json:"branch,omitempty"`

	// Revision pins the sync to what git would take: a full or short commit
	// SHA, a tag, a branch, or a full ref name (refs/pull/1/head). A name is
	// resolved as git rev-parse does: a tag wins over a branch of the same
	// name, and a ref over a short SHA that looks like its name. With Branch
	// also set, the revision must be on that branch.
	// +optional
	// +kubebuilder:validation:MaxLength=255
	Revision string `json:"revision,omitempty"`

	// AuthMethod is none, https or ssh.
	// +optional
	// +kubebuilder:default=none
	AuthMethod AuthMethod `json:"authMethod,omitempty"`

	// AuthSecretRef names a Secret in the ConfigSync's namespace. For https:
	// username and password, or bearerToken; optional caFile. For ssh:
	// identity (a private key, with password if it is encrypted) and
	// known_hosts.
	// +optional
	AuthSecretRef *LocalObjectReference `json:"authSecretRef,omitempty"`

	// InsecureSkipHostKeyVerification accepts any SSH host key. It is the
	// only way round known_hosts and is reported in status when used.
	// +optional
	InsecureSkipHostKeyVerification bool `json:"insecureSkipHostKeyVerification,omitempty"`

	// Timeout bounds one fetch. At most 1h.
	// +optional
	// +kubebuilder:default="60s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('1h')",message="timeout must be at most 1h"
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// LocalObjectReference names an object in the ConfigSync's namespace.
type LocalObjectReference struct {
	// Name of the object.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// SecretKeyReference names a key of a Secret in the ConfigSync's namespace.
type SecretKeyReference struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Key in the Secret. Default: "value", then "kubeconfig".
	// +optional
	Key string `json:"key,omitempty"`
}

// RenderStep is one step of the render pipeline. Exactly one field is set.
//
// +kubebuilder:validation:XValidation:rule="[has(self.sops), has(self.template), has(self.kustomize), has(self.jsonnet), has(self.helm)].filter(x, x).size() == 1",message="a render step sets exactly one of sops, template, kustomize, jsonnet, helm"
type RenderStep struct {
	// Sops decrypts SOPS-encrypted files in the tree.
	// +optional
	Sops *SopsStep `json:"sops,omitempty"`

	// Template renders Go text/template files with sprig functions.
	// +optional
	Template *TemplateStep `json:"template,omitempty"`

	// Kustomize builds a kustomization in the tree.
	// +optional
	Kustomize *KustomizeStep `json:"kustomize,omitempty"`

	// Jsonnet evaluates a Jsonnet program in the tree.
	// +optional
	Jsonnet *JsonnetStep `json:"jsonnet,omitempty"`

	// Helm renders a chart in the tree, as `helm template` does.
	// +optional
	Helm *HelmStep `json:"helm,omitempty"`
}

// SopsStep decrypts SOPS-encrypted files with age or PGP keys.
type SopsStep struct {
	// DecryptionSecretRef names a Secret whose keys ending in .agekey hold age
	// identities and whose keys ending in .asc hold armored PGP private keys.
	DecryptionSecretRef LocalObjectReference `json:"decryptionSecretRef"`
}

// TemplateStep renders files as Go text/template with sprig functions. A
// missing key is an error.
type TemplateStep struct {
	// Values are the template's values. They win over valuesFrom and over the
	// values files in the tree.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	Values *apiextensionsv1.JSON `json:"values,omitempty"`

	// ValuesFrom reads values from ConfigMaps and Secrets in the ConfigSync's
	// namespace, merged in order.
	// +optional
	ValuesFrom []ValuesReference `json:"valuesFrom,omitempty"`

	// Environment overlays values-<environment>.yaml on values.yaml.
	// +optional
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9._-]*$`
	Environment string `json:"environment,omitempty"`

	// Exclude lists globs of files that pass through untouched.
	// +optional
	Exclude []string `json:"exclude,omitempty"`
}

// ValuesReference names a key of a ConfigMap or Secret holding YAML values.
type ValuesReference struct {
	// Kind is ConfigMap or Secret.
	// +kubebuilder:validation:Enum=ConfigMap;Secret
	Kind string `json:"kind"`

	// Name of the object.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Key holding the values. Default: values.yaml.
	// +optional
	Key string `json:"key,omitempty"`

	// Optional makes a missing object or key an empty set of values instead
	// of an error.
	// +optional
	Optional bool `json:"optional,omitempty"`
}

// KustomizeStep builds a kustomization.
type KustomizeStep struct {
	// Path of the folder holding kustomization.yaml, inside the tree.
	// +optional
	// +kubebuilder:default="."
	Path string `json:"path,omitempty"`
}

// JsonnetStep evaluates a Jsonnet program.
type JsonnetStep struct {
	// Entrypoint is the file to evaluate, inside the tree.
	// +kubebuilder:validation:MinLength=1
	Entrypoint string `json:"entrypoint"`

	// ExtVars are external variables (std.extVar) as strings.
	// +optional
	ExtVars map[string]string `json:"extVars,omitempty"`

	// TLAs are top-level arguments as strings.
	// +optional
	TLAs map[string]string `json:"tlas,omitempty"`

	// JPath lists library folders inside the tree searched by imports.
	// +optional
	JPath []string `json:"jpath,omitempty"`
}

// HelmStep renders a chart, as `helm template` does: a chart folder in the
// tree, or a chart published to a Helm repository or an OCI registry
// (repoURL). Values files are read from the tree either way.
//
// +kubebuilder:validation:XValidation:rule="has(self.repoURL) || (!has(self.version) && !has(self.digest) && !has(self.authSecretRef))",message="version, digest and authSecretRef need repoURL (a chart in the tree has none)"
// +kubebuilder:validation:XValidation:rule="!has(self.repoURL) || !self.chart.contains('/')",message="with repoURL, chart is the chart's name, not a path"
// +kubebuilder:validation:XValidation:rule="!has(self.verify) || (has(self.repoURL) && !self.repoURL.startsWith('oci://'))",message="verify needs a Helm repository repoURL (https://): provenance of OCI charts is not verified"
type HelmStep struct {
	// RepoURL is where a remote chart is published: https://host/path, a
	// Helm repository serving index.yaml, or oci://host/path, an OCI
	// registry where the chart is the repository <repoURL>/<chart>. Empty:
	// the chart is a folder in the tree. http:// is refused unless the
	// manager allows plain HTTP.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.startsWith('https://') || self.startsWith('oci://') || self.startsWith('http://')",message="repoURL must start with https:// or oci://"
	RepoURL string `json:"repoURL,omitempty"`

	// Chart is the chart's folder inside the tree, or, with repoURL, the
	// chart's name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Chart string `json:"chart"`

	// Version of a remote chart: an exact version or a semver constraint
	// ("^1.2", ">=1.0 <2"). Empty: the newest version that is no
	// prerelease. Which version a sync used is recorded in status.charts
	// and status.history, and a rollback renders that one.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Version string `json:"version,omitempty"`

	// Digest pins a remote chart's bytes: sha256:<hex> of the .tgz for a
	// Helm repository, of the manifest for an OCI registry. A chart whose
	// bytes differ is refused (ChartDigestMismatch).
	// +optional
	// +kubebuilder:validation:Pattern=`^sha256:[a-f0-9]{64}$`
	Digest string `json:"digest,omitempty"`

	// AuthSecretRef names a Secret in the ConfigSync's namespace with the
	// repository's or registry's credentials: username and password (basic
	// auth), tls.crt and tls.key (a client certificate) and ca.crt, or a
	// kubernetes.io/dockerconfigjson Secret for an OCI registry.
	// +optional
	AuthSecretRef *LocalObjectReference `json:"authSecretRef,omitempty"`

	// Verify checks a Helm repository chart's provenance, as `helm pull
	// --verify` does: the .prov file beside the archive must be signed by
	// a key of the keyring and name the archive's digest; otherwise the
	// sync fails with ChartVerificationFailed and applies nothing.
	// +optional
	Verify *HelmVerify `json:"verify,omitempty"`

	// ReleaseName is the release name the chart sees.
	// +optional
	// +kubebuilder:validation:MaxLength=53
	ReleaseName string `json:"releaseName,omitempty"`

	// Namespace is the release namespace. Default: the ConfigSync's.
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// ValuesFiles are values files inside the tree, merged in order.
	// +optional
	ValuesFiles []string `json:"valuesFiles,omitempty"`

	// Values win over ValuesFiles.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	Values *apiextensionsv1.JSON `json:"values,omitempty"`

	// Hooks says what becomes of the chart's hooks. Apply (the default):
	// install and upgrade hooks are applied as ordinary objects, pre-*
	// hooks before the rest and post-* hooks after it, in hook-weight
	// order, and deleted as their hook-delete-policy says; test, delete
	// and rollback hooks are never applied. Skip: no hook is rendered, as
	// `helm template --no-hooks`.
	// +optional
	Hooks HelmHooks `json:"hooks,omitempty"`
}

// HelmVerify names the keyring a remote chart's provenance is checked with.
type HelmVerify struct {
	// KeyringSecretRef names a Secret in the ConfigSync's namespace whose
	// key "keyring" holds the GPG public keyring (binary, as `gpg --export`
	// writes it, or armored) of the keys that may sign the chart.
	KeyringSecretRef LocalObjectReference `json:"keyringSecretRef"`
}

// HelmHooks is a helm step's hook policy.
// +kubebuilder:validation:Enum=Apply;Skip
type HelmHooks string

const (
	HelmHooksApply HelmHooks = "Apply"
	HelmHooksSkip  HelmHooks = "Skip"
)

// TargetType is the kind of object a target is. A ConfigMap or Secret
// target that matches no rendered object is built from the tree's plain
// files. A workload target gets the config digest on its pod template, so
// that a change of the ConfigMap and Secret targets rolls its pods.
// +kubebuilder:validation:Enum=ConfigMap;Secret;Deployment;StatefulSet;DaemonSet;Object
type TargetType string

const (
	TargetConfigMap   TargetType = "ConfigMap"   // a v1 ConfigMap
	TargetSecret      TargetType = "Secret"      // a v1 Secret
	TargetDeployment  TargetType = "Deployment"  // an apps/v1 Deployment
	TargetStatefulSet TargetType = "StatefulSet" // an apps/v1 StatefulSet
	TargetDaemonSet   TargetType = "DaemonSet"   // an apps/v1 DaemonSet
	TargetObject      TargetType = "Object"      // any other kind, named by apiVersion and kind
)

// Target is one object to keep in sync.
//
// +kubebuilder:validation:XValidation:rule="self.type == 'Object' ? (has(self.apiVersion) && has(self.kind)) : (!has(self.apiVersion) && !has(self.kind))",message="apiVersion and kind are set exactly when type is Object"
type Target struct {
	// Type is ConfigMap, Secret, Deployment, StatefulSet, DaemonSet, or Object
	// for any other kind.
	Type TargetType `json:"type"`

	// APIVersion of an Object target, e.g. tekton.dev/v1.
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`

	// Kind of an Object target, e.g. Pipeline.
	// +optional
	Kind string `json:"kind,omitempty"`

	// Namespace of the object; it wins over the rendered object's. Default:
	// the ConfigSync's namespace.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`

	// Name of the object.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// Rollback pins or automates rollback to a revision in history.
type Rollback struct {
	// ToRevision is a commit SHA from status.history, or "previous". It holds
	// until removed: automatic syncs do not undo it.
	// +optional
	// +kubebuilder:validation:Pattern=`^(previous|[0-9a-f]{7,40})$`
	ToRevision string `json:"toRevision,omitempty"`

	// OnFailure rolls back to the last good revision when a revision fails to
	// apply or become healthy.
	// +optional
	OnFailure bool `json:"onFailure,omitempty"`
}

// ConfigSyncStatus is what the operator observed and did.
type ConfigSyncStatus struct {
	// ObservedGeneration is the generation last reconciled successfully.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// LastSyncedTime is when the last successful sync finished.
	// +optional
	LastSyncedTime *metav1.Time `json:"lastSyncedTime,omitempty"`

	// SourceRevision is the Git commit SHA (40 hex) last applied.
	// +optional
	SourceRevision string `json:"sourceRevision,omitempty"`

	// SourceRef is the full name of the ref SourceRevision came from
	// (refs/heads/main, refs/tags/v1.0.0), empty when the commit was named
	// by its SHA (a SHA in revision, a rollback).
	// +optional
	SourceRef string `json:"sourceRef,omitempty"`

	// LastAttemptedRevision is the commit SHA of the last sync, failed or not.
	// +optional
	LastAttemptedRevision string `json:"lastAttemptedRevision,omitempty"`

	// SourcePath is the path inside the repository that was applied.
	// +optional
	SourcePath string `json:"sourcePath,omitempty"`

	// AppliedTargets counts the targets applied successfully by the last sync.
	// +optional
	AppliedTargets int32 `json:"appliedTargets"`

	// Targets is the result of each target of the last sync, at most
	// 1,000 of them: those that failed or were not applied first, so that a
	// status stays within what the apiserver stores. AppliedTargets counts
	// them all.
	// +optional
	Targets []TargetStatus `json:"targets,omitempty"`

	// Inventory lists every object this ConfigSync applied and owns. A
	// render whose inventory would take more than 1 MiB is refused
	// (SourceTooLarge) before anything is applied.
	// +optional
	Inventory []ObjectReference `json:"inventory,omitempty"`

	// History lists applied revisions, newest first, up to historyLimit.
	// +optional
	History []HistoryEntry `json:"history,omitempty"`

	// RolledBackTo is the commit spec.rollback.toRevision resolved to. It
	// keeps "previous" pinned to one commit until the field is removed.
	// +optional
	RolledBackTo string `json:"rolledBackTo,omitempty"`

	// FailedRevision is the commit that rollback.onFailure rolled back from.
	// It is not tried again until a new commit, a spec change or a
	// reconcile request; meanwhile the last good revision stays applied.
	// +optional
	FailedRevision string `json:"failedRevision,omitempty"`

	// Charts are the remote charts the last successful sync rendered, each
	// at its exact version and digest: helm steps' charts from
	// repositories and registries, and remote dependencies of charts.
	// +optional
	Charts []PinnedChart `json:"charts,omitempty"`

	// RolledBackCharts are the charts of the history entry
	// spec.rollback.toRevision resolved to, rendered while it holds.
	// +optional
	RolledBackCharts []PinnedChart `json:"rolledBackCharts,omitempty"`

	// LastHandledReconcileAt is the last value of the
	// configs.example.io/reconcile-at annotation that was handled.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`

	// Conditions: Ready, Available, Degraded, Reconciling, Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// TargetResult is the outcome of one target.
// +kubebuilder:validation:Enum=Applied;Unchanged;Failed;Pending
type TargetResult string

const (
	TargetApplied   TargetResult = "Applied"   // created or changed by a sync, and not since
	TargetUnchanged TargetResult = "Unchanged" // already as the source says
	TargetFailed    TargetResult = "Failed"    // its apply failed; see the message
	TargetPending   TargetResult = "Pending"   // not applied: another object of the set failed
)

// TargetStatus is the result of one target, or of one rendered object when
// the spec names no targets.
type TargetStatus struct {
	// APIVersion of the object.
	APIVersion string `json:"apiVersion"`
	// Kind of the object.
	Kind string `json:"kind"`
	// Namespace of the object; empty for cluster-scoped objects.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// Name of the object.
	Name string `json:"name"`
	// Result of the last sync for this object.
	Result TargetResult `json:"result"`
	// Message explains a failure.
	// +optional
	Message string `json:"message,omitempty"`
}

// ObjectReference identifies an applied object.
type ObjectReference struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// +optional
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// HistoryResult is the outcome of one applied revision.
// +kubebuilder:validation:Enum=Succeeded;Failed;RolledBack
type HistoryResult string

const (
	HistorySucceeded  HistoryResult = "Succeeded"  // applied from its branch or revision
	HistoryFailed     HistoryResult = "Failed"     // applying it failed
	HistoryRolledBack HistoryResult = "RolledBack" // applied by a rollback
)

// HistoryEntry records one applied revision, with enough to re-apply it.
type HistoryEntry struct {
	// Revision is the Git commit SHA.
	Revision string `json:"revision"`
	// Digest is the sha256 of the rendered objects that were applied.
	Digest string `json:"digest"`
	// AppliedAt is when the revision was applied.
	AppliedAt metav1.Time `json:"appliedAt"`
	// Result of applying the revision.
	Result HistoryResult `json:"result"`
	// Duration of the sync that applied it.
	// +optional
	Duration *metav1.Duration `json:"duration,omitempty"`
	// Message explains a failure.
	// +optional
	Message string `json:"message,omitempty"`
	// Charts are the remote charts this revision was rendered with, at
	// their exact version and digest; a rollback to it renders them again.
	// +optional
	Charts []PinnedChart `json:"charts,omitempty"`
}

// PinnedChart is one remote chart exactly as a sync used it.
type PinnedChart struct {
	// Step is the helm step's position in spec.render, from 1.
	Step int32 `json:"step"`
	// Dependency is the key (alias or name) under which the step's chart
	// declares this chart in its Chart.yaml dependencies; empty for the
	// step's own chart.
	// +optional
	Dependency string `json:"dependency,omitempty"`
	// RepoURL is the repository or registry the chart came from.
	RepoURL string `json:"repoURL"`
	// Name is the chart's name.
	Name string `json:"name"`
	// Version is the exact version.
	Version string `json:"version"`
	// Digest is sha256 of the chart archive (Helm repositories) or of its
	// OCI manifest (registries).
	Digest string `json:"digest"`
}

// URL is the repository's URL, whichever of repoURL and repo spells it:
// the one place the two names become one.
func (g GitSource) URL() string {
	if g.RepoURL != "" {
		return g.RepoURL
	}
	return g.Repo
}
