// Package failure is how errors carry the ConfigSync condition reason they
// are reported under, and whether retrying may help, across packages: the
// source's fetch errors, the chart fetcher's, the reconciler's stage errors.
// Callers decide on the reason without matching strings.
package failure

import "errors"

// Error is an error classified for a ConfigSync's conditions.
type Error interface {
	error
	// ConditionReason is the condition reason the error is reported under.
	ConditionReason() string
	// Transient says whether retrying the same request may succeed without
	// the user changing anything.
	Transient() bool
}

// ReasonOf returns the condition reason of the first classified error in
// err's chain, or "" when there is none.
func ReasonOf(err error) string {
	var e Error
	if errors.As(err, &e) {
		return e.ConditionReason()
	}
	return ""
}
