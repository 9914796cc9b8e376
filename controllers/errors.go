package controllers

import (
	"errors"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/failure"
	"github.com/configsync/configsync/renderers/inputs"
)

// stageError carries the condition reason of a failed stage and whether a
// retry may succeed without the user changing anything (a failure.Error).
// Every error a stage returns is one; reasonOf is where they are read.
type stageError struct {
	reason    string
	transient bool
	err       error
}

func (e *stageError) Error() string           { return e.err.Error() }
func (e *stageError) Unwrap() error           { return e.err }
func (e *stageError) ConditionReason() string { return e.reason }
func (e *stageError) Transient() bool         { return e.transient }

func transientErr(reason string, err error) error {
	return &stageError{reason: reason, transient: true, err: err}
}
func configErr(reason string, err error) error { return &stageError{reason: reason, err: err} }

// reasonOf maps an error to a condition reason and whether it is
// transient. An error no stage classified is a bug of this operator: it is
// reported as ReconciliationFailed and retried.
func reasonOf(err error) (string, bool) {
	var f failure.Error
	if errors.As(err, &f) {
		return f.ConditionReason(), f.Transient()
	}
	return configsv1.ReasonReconciliationFailed, true
}

// hasStageReason says whether err already carries the reason a stage
// reports it under (an AccessDenied from readInput, say), which a stage
// passes on unchanged.
func hasStageReason(err error) bool {
	var se *stageError
	return errors.As(err, &se)
}

// withReason keeps the reason err's own package gave it (failure.ReasonOf:
// the source's, the chart fetcher's), or makes it a transient failure of
// fallback. (reasonOf would read either; the fallback is what differs from
// stage to stage.)
func withReason(err error, fallback string) error {
	if failure.ReasonOf(err) != "" {
		return err
	}
	return transientErr(fallback, err)
}

// sourceErr maps a source error to its condition reason and retry policy.
func sourceErr(err error) error { return withReason(err, configsv1.ReasonFetchFailed) }

// chartErr maps a chart failure to its condition reason and retry policy:
// an unreachable host, or a Secret not there yet, is retried with backoff;
// anything else waits for the user (Stalled).
func chartErr(err error) error {
	if hasStageReason(err) {
		return err
	}
	var re *inputs.ReadError
	if errors.As(err, &re) {
		return transientErr(re.Reason, err)
	}
	return withReason(err, configsv1.ReasonRenderFailed)
}

// eventReason groups condition reasons into the few Event reasons users
// filter on; the Event's note starts with the precise condition reason.
func eventReason(conditionReason string) string {
	switch conditionReason {
	case configsv1.ReasonRenderFailed, configsv1.ReasonPruneFailed, configsv1.ReasonHealthCheckFailed:
		return conditionReason
	case configsv1.ReasonInvalidManifest, configsv1.ReasonDryRunFailed, configsv1.ReasonApplyFailed, configsv1.ReasonAccessDenied:
		return configsv1.ReasonApplyFailed
	case configsv1.ReasonStatusWriteFailed, configsv1.ReasonReconciliationFailed:
		return conditionReason // the operator's own trouble, not the source's
	default: // the source's and the chart fetcher's reasons
		return configsv1.ReasonFetchFailed
	}
}
