package source

import (
	"net/url"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

// RedactURL hides the password of a URL with user info, which users
// sometimes put in repoURL, so it can be logged and shown in status.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		return u.Redacted()
	}
	return raw
}

// Host returns the host of a repository URL, scp-like forms included, for
// metric labels.
func Host(raw string) string {
	ep, err := transport.NewEndpoint(raw)
	if err != nil || ep.Host == "" {
		return "unknown"
	}
	return strings.ToLower(ep.Host)
}

// redactedError shows a scrubbed message but keeps the original error for
// errors.Is, so the classification still works.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redact scrubs the repository URL's password and every credential value out
// of err's message. go-git's HTTP errors quote the URL they were given.
func redact(err error, rawURL string, auth *Auth) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if safe := RedactURL(rawURL); safe != rawURL {
		msg = strings.ReplaceAll(msg, rawURL, safe)
		if u, perr := url.Parse(rawURL); perr == nil {
			if pw, ok := u.User.Password(); ok && pw != "" {
				msg = strings.ReplaceAll(msg, pw, "xxxxx")
				msg = strings.ReplaceAll(msg, url.QueryEscape(pw), "xxxxx")
			}
		}
	}
	for _, s := range auth.secrets() {
		msg = strings.ReplaceAll(msg, s, "xxxxx")
	}
	return &redactedError{msg: msg, err: err}
}
