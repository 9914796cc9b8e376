package source

import (
	"fmt"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
)

// The reasons of a fetch failure (failure.ReasonOf reads them), which the
// reconciler reports and picks a retry policy by: the ConfigSync's
// condition reasons, named once in the API.
const (
	ReasonAuthenticationFailed = configsv1.ReasonAuthenticationFailed
	ReasonSourceUnreachable    = configsv1.ReasonSourceUnreachable
	ReasonRevisionNotFound     = configsv1.ReasonRevisionNotFound
	ReasonPathNotFound         = configsv1.ReasonPathNotFound
	ReasonInvalidPath          = configsv1.ReasonInvalidPath
	ReasonSourceTooLarge       = configsv1.ReasonSourceTooLarge
)

// Error is a fetch failure with its reason, one of the above.
type Error struct {
	Reason string
	Err    error
}

// Error is the message alone: the reason is a field, which callers put
// where reasons go (a condition's reason, an Event's), so a message never
// says it twice.
func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ConditionReason and Transient make an Error a failure.Error: only an
// unreachable server may answer a retry differently.
func (e *Error) ConditionReason() string { return e.Reason }
func (e *Error) Transient() bool         { return e.Reason == ReasonSourceUnreachable }

func fail(reason string, format string, args ...any) error {
	return &Error{Reason: reason, Err: fmt.Errorf(format, args...)}
}
