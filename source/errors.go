package source

import (
	"errors"
	"fmt"
)

// Reason classifies a fetch failure so the reconciler can pick a condition
// reason and a retry policy without matching strings.
type Reason string

const (
	ReasonAuthenticationFailed Reason = "AuthenticationFailed"
	ReasonSourceUnreachable    Reason = "SourceUnreachable"
	ReasonRevisionNotFound     Reason = "RevisionNotFound"
	ReasonPathNotFound         Reason = "PathNotFound"
	ReasonInvalidPath          Reason = "InvalidPath"
	ReasonSourceTooLarge       Reason = "SourceTooLarge"
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
