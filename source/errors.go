package source

import (
	"errors"
	"fmt"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
)

// Reason classifies a fetch failure so the reconciler can pick a condition
// reason and a retry policy without matching strings.
type Reason string

// They are the ConfigSync's condition reasons, named once in the API.
const (
	ReasonAuthenticationFailed Reason = configsv1.ReasonAuthenticationFailed
	ReasonSourceUnreachable    Reason = configsv1.ReasonSourceUnreachable
	ReasonRevisionNotFound     Reason = configsv1.ReasonRevisionNotFound
	ReasonPathNotFound         Reason = configsv1.ReasonPathNotFound
	ReasonInvalidPath          Reason = configsv1.ReasonInvalidPath
	ReasonSourceTooLarge       Reason = configsv1.ReasonSourceTooLarge
)

// Error is a fetch failure with its Reason.
type Error struct {
	Reason Reason
	Err    error
}

// Error is the message alone: the reason is a field, which callers put
// where reasons go (a condition's reason, an Event's), so a message never
// says it twice.
func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Transient says whether retrying the same request may succeed without the
// user changing anything.
func (e *Error) Transient() bool { return e.Reason == ReasonSourceUnreachable }

// ReasonOf returns the Reason of err, or "" when err is not a source Error.
func ReasonOf(err error) Reason {
	var se *Error
	if errors.As(err, &se) {
		return se.Reason
	}
	return ""
}

func fail(reason Reason, format string, args ...any) error {
	return &Error{Reason: reason, Err: fmt.Errorf(format, args...)}
}
