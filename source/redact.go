package source

import (
	"net/url"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

// redacted stands in for a credential in a URL or a message.
const redacted = "xxxxx"

// RedactURL hides the credentials a URL may carry, which users sometimes
// put in repoURL, so it can be logged and shown in status. Over HTTP(S) both
// the password and the user name are hidden: hosts take a token as either
// (`https://TOKEN@host/...`, `https://TOKEN:x-oauth-basic@host/...`). Over
// SSH the user name is an account (`git`), never a secret, and stays.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return redactAuthority(raw)
	}
	if u.User == nil {
		return raw
	}
	if sshScheme(u.Scheme) {
		if _, ok := u.User.Password(); ok {
			return u.Redacted()
		}
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(redacted, redacted)
	} else {
		u.User = url.User(redacted)
	}
	return u.String()
}

// redactAuthority hides everything before the last '@' of the authority of
// a URL that net/url cannot parse (a bad port, say), so that an unparsable
// URL with a token in it is not shown whole either.
func redactAuthority(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw // scp-like git@host:path: the user is an SSH account
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return raw
	}
	return scheme + "://" + redacted + rest[at:]
}

func sshScheme(scheme string) bool {
	switch strings.ToLower(scheme) {
	case "ssh", "git+ssh", "ssh+git":
		return true
	}
	return false
}

// urlSecrets lists the credentials of a URL's user info, as given and
// escaped, for scrubbing messages that quote the URL in another form.
func urlSecrets(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return nil
	}
	var out []string
	add := func(s string) {
		if s != "" {
			out = append(out, s, url.QueryEscape(s), url.PathEscape(s))
		}
	}
	if pw, ok := u.User.Password(); ok {
		add(pw)
	}
	// A user name of eight characters or more over HTTP(S) may be a token;
	// shorter ones (git, oauth2) would scrub ordinary words.
	if name := u.User.Username(); !sshScheme(u.Scheme) && len(name) >= 8 {
		add(name)
	}
	return out
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

// redact scrubs the repository URL's credentials and every credential value
// out of err's message. go-git's HTTP errors quote the URL they were given.
func redact(err error, rawURL string, auth *Auth) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if safe := RedactURL(rawURL); safe != rawURL {
		msg = strings.ReplaceAll(msg, rawURL, safe)
		for _, s := range urlSecrets(rawURL) {
			msg = strings.ReplaceAll(msg, s, redacted)
		}
	}
	for _, s := range auth.secrets() {
		msg = strings.ReplaceAll(msg, s, redacted)
	}
	// Scrubbed first, cut after: a cut never leaves part of a secret.
	return &redactedError{msg: truncateMessage(msg, maxMessageBytes), err: err}
}
