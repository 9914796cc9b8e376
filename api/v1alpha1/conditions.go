package v1alpha1

// Condition types. Ready, Reconciling and Stalled follow kstatus so that
// generic tools (kubectl wait, Flux, Argo CD health) understand them;
// Available and Degraded come from the product's requirements.
const (
	ConditionReady       = "Ready"
	ConditionAvailable   = "Available"
	ConditionDegraded    = "Degraded"
	ConditionReconciling = "Reconciling"
	ConditionStalled     = "Stalled"
)

// Condition reasons, for machines to switch on.
const (
	ReasonSucceeded   = "Succeeded"
	ReasonProgressing = "Progressing"
	ReasonSuspended   = "Suspended"
	ReasonFetchFailed = "FetchFailed"
	// The source's reasons (the source package takes its values from here).
	ReasonAuthenticationFailed = "AuthenticationFailed"
	ReasonSourceUnreachable    = "SourceUnreachable"
	ReasonRevisionNotFound     = "RevisionNotFound"
	ReasonSourceTooLarge       = "SourceTooLarge"
	ReasonInvalidPath          = "InvalidPath"
	ReasonPathNotFound         = "PathNotFound"
	ReasonRenderFailed         = "RenderFailed"
	ReasonInvalidManifest      = "InvalidManifest"
	ReasonDryRunFailed         = "DryRunFailed"
	ReasonApplyFailed          = "ApplyFailed"
	ReasonPruneFailed          = "PruneFailed"
	ReasonHealthCheckFailed    = "HealthCheckFailed"
	ReasonRolledBack           = "RolledBack"
	// ReasonAccessDenied: the spec reaches outside what the operator allows
	// this ConfigSync (--no-cross-namespace-refs).
	ReasonAccessDenied = "AccessDenied"
	// ReasonStatusWriteFailed: the operator could not write the
	// ConfigSync's status (a progress report mid-sync); the sync is retried.
	ReasonStatusWriteFailed = "StatusWriteFailed"
	// ReasonReconciliationFailed: a failure no stage classified, which is a
	// bug of the operator's to report; it is retried.
	ReasonReconciliationFailed = "ReconciliationFailed"
)

// Labels and annotations the operator sets or reads.
const (
	// LabelName and LabelNamespace mark every object a ConfigSync applied.
	LabelName      = "configs.example.io/name"
	LabelNamespace = "configs.example.io/namespace"

	// AnnotationReconcileRequestedAt asks for an immediate reconcile when its
	// value changes.
	AnnotationReconcileRequestedAt = "configs.example.io/reconcile-at"

	// LabelShardKey assigns a ConfigSync to one operator instance when
	// ConfigSyncs are sharded with --watch-label-selector (the convention of
	// Flux's sharding: the main instance watches "!<key>", each shard "<key>=<shard>").
	LabelShardKey = "sharding.configs.example.io/key"

	// Finalizer guards the deletion of a ConfigSync so its objects can be pruned.
	Finalizer = "configs.example.io/finalizer"
)
