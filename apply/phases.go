package apply

// AnnotationSyncPhase puts an object in a phase of its set's apply: "pre"
// objects are applied (and waited for) before the rest, "post" objects
// after it, "pre,post" ones in the first and kept through the second. The
// helm step sets it on the chart's install and upgrade hooks; any renderer
// or manifest may set it. Such an object is a hook: see runHooks.
const AnnotationSyncPhase = "configs.example.io/sync-phase"

// The phases AnnotationSyncPhase names.
const (
	PhasePre  = "pre"
	PhasePost = "post"
)
