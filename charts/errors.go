package charts

import (
	"fmt"
)

// Condition reasons of a chart failure, as the ConfigSync's Ready/Stalled
// conditions and Events carry them.
const (
	ReasonChartNotFound        = "ChartNotFound"
	ReasonChartVersionNotFound = "ChartVersionNotFound"
	ReasonChartAuthFailed      = "ChartAuthFailed"
	ReasonChartUnreachable     = "ChartUnreachable"
	ReasonChartDigestMismatch  = "ChartDigestMismatch"
	ReasonChartHostNotAllowed  = "ChartHostNotAllowed"
	ReasonChartTooLarge        = "ChartTooLarge"
	ReasonRemoteChartsDisabled = "RemoteChartsDisabled"
	// ReasonChartInvalid: the reference, the index, the archive or a
	// Chart.lock cannot be used as written (a malformed repoURL, an index
	// that is not YAML, a lock out of sync with Chart.yaml).
	ReasonChartInvalid = "ChartInvalid"
	// ReasonChartVerificationFailed: a provenance check was asked for and the
	// chart's .prov is missing, not signed by a key of the keyring, or does
	// not name the archive's digest.
	ReasonChartVerificationFailed = "ChartVerificationFailed"
)

// Error is every failure of this package; Reason is the ConfigSync
// condition reason and Chart names the chart (repoURL and name, with any
// credentials in the URL redacted). Error() never contains credentials:
// URLs in it are redacted and credentials are never formatted into it.
type Error struct {
	Reason string
	Chart  string
	Err    error
}

func (e *Error) Error() string {
	if e.Chart == "" {
		return e.Err.Error()
	}
	return fmt.Sprintf("chart %s: %v", e.Chart, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ConditionReason and Transient make an Error a failure.Error. Only an
// unreachable host may come back; a missing chart, a refused host or a
// wrong password will not.
func (e *Error) ConditionReason() string { return e.Reason }
func (e *Error) Transient() bool         { return e.Reason == ReasonChartUnreachable }

func fail(reason, chart string, format string, args ...any) error {
	return &Error{Reason: reason, Chart: chart, Err: fmt.Errorf(format, args...)}
}
