package source

import (
	"net/url"
	"regexp"
	"strings"
)

// scpLike matches Git's scp-like SSH form: [user@]host:path, where the part
// before the colon has no slash.
var scpLike = regexp.MustCompile(`^(?:[^@/]+@)?([A-Za-z0-9._-]+):(.+)$`)

var defaultPorts = map[string]string{"http": "80", "https": "443", "ssh": "22", "git": "9418"}

// NormalizeURL reduces a repository URL to host[:port]/path, so that the
// forms a Git host and a push event use for one repository compare equal:
// the scheme and user are dropped, the host is lowercased, a default port and
// a trailing ".git" or "/" are removed, and the scp-like form
// git@host:org/repo.git becomes host/org/repo. The path keeps its case, as
// generic Git servers are case-sensitive. It returns "" for what is not a
// repository URL.
func NormalizeURL(raw string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return ""
	}
	var host, path string
	if !strings.Contains(raw, "://") {
		m := scpLike.FindStringSubmatch(raw)
		if m == nil {
			return ""
		}
		host, path = m[1], m[2]
	} else {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme == "" || u.Hostname() == "" {
			return ""
		}
		host = u.Hostname()
		if strings.Contains(host, ":") { // IPv6 literal
			host = "[" + host + "]"
		}
		if port := u.Port(); port != "" && port != defaultPorts[strings.ToLower(u.Scheme)] {
			host += ":" + port
		}
		path = u.Path
	}
	path = strings.Trim(path, "/")
	path = strings.TrimSuffix(path, ".git")
	path = strings.TrimSuffix(path, "/")
	if path == "" || strings.Contains(path, "://") { // no repository is named like a URL
		return ""
	}
	return strings.ToLower(host) + "/" + path
}
