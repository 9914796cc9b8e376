package receiver

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Push is what a push event says: which repository (every URL form the
// provider gives for it) and which branches moved.
type Push struct {
	RepoURLs []string
	Branches []string
}

// provider verifies a request's secret and reads a push out of its body.
type provider struct {
	// verify checks the request against the shared secret, in constant time.
	verify func(h http.Header, body, secret []byte) bool
	// event returns the push, or errIgnored for events that are not pushes.
	event func(h http.Header, body []byte) (*Push, error)
}

// errIgnored marks a well-formed event that is not a push (ping, issue...).
var errIgnored = errors.New("not a push event")

// errMalformed marks a push whose body cannot be read.
type errMalformed struct{ err error }

func (e errMalformed) Error() string { return "malformed payload: " + e.err.Error() }

var providers = map[string]provider{
	"github":    {verify: hmacHeader("X-Hub-Signature-256", "sha256="), event: githubPushEvent("X-GitHub-Event")},
	"gitea":     {verify: hmacHeader("X-Gitea-Signature", ""), event: githubPushEvent("X-Gitea-Event")},
	"gitlab":    {verify: tokenHeader("X-Gitlab-Token"), event: gitlabEvent},
	"bitbucket": {verify: hmacHeader("X-Hub-Signature", "sha256="), event: bitbucketEvent},
	"generic":   {verify: hmacHeader("X-Signature", "sha256="), event: genericEvent},
}

// hmacHeader verifies an HMAC-SHA256 of the body, hex-encoded after prefix.
func hmacHeader(name, prefix string) func(http.Header, []byte, []byte) bool {
	return func(h http.Header, body, secret []byte) bool {
		got, ok := strings.CutPrefix(h.Get(name), prefix)
		if !ok {
			return false
		}
		sig, err := hex.DecodeString(got)
		if err != nil {
			return false
		}
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		return hmac.Equal(sig, mac.Sum(nil))
	}
}

// tokenHeader verifies a header that carries the secret itself (GitLab).
func tokenHeader(name string) func(http.Header, []byte, []byte) bool {
	return func(h http.Header, _, secret []byte) bool {
		got := h.Get(name)
		return got != "" && subtle.ConstantTimeCompare([]byte(got), secret) == 1
	}
}

// Sign returns the signature header a provider would send for body; tests
// and the generic provider's clients use it.
func Sign(providerName string, body, secret []byte) (header, value string, err error) {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	sum := hex.EncodeToString(mac.Sum(nil))
	switch providerName {
	case "github":
		return "X-Hub-Signature-256", "sha256=" + sum, nil
	case "gitea":
		return "X-Gitea-Signature", sum, nil
	case "gitlab":
		return "X-Gitlab-Token", string(secret), nil
	case "bitbucket":
		return "X-Hub-Signature", "sha256=" + sum, nil
	case "generic":
		return "X-Signature", "sha256=" + sum, nil
	}
	return "", "", fmt.Errorf("unknown provider %q", providerName)
}

func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return errMalformed{err}
	}
	return nil
}

func branchOf(ref string) []string {
	if b, ok := strings.CutPrefix(ref, "refs/heads/"); ok && b != "" {
		return []string{b}
	}
	return nil
}

// GitHub and Gitea send the same push shape.
type githubPush struct {
	Ref        string `json:"ref"`
	Repository struct {
		CloneURL string `json:"clone_url"`
		SSHURL   string `json:"ssh_url"`
		GitURL   string `json:"git_url"`
		HTMLURL  string `json:"html_url"`
	} `json:"repository"`
}

func (p *githubPush) push() (*Push, error) {
	r := p.Repository
	if p.Ref == "" || r.CloneURL == "" && r.SSHURL == "" && r.HTMLURL == "" {
		return nil, errMalformed{errors.New("push without ref or repository URL")}
	}
	branches := branchOf(p.Ref)
	if branches == nil {
		return nil, errIgnored // a tag push: no branch moved
	}
	return &Push{RepoURLs: nonEmpty(r.CloneURL, r.SSHURL, r.GitURL, r.HTMLURL), Branches: branches}, nil
}

// githubPushEvent reads a GitHub-shaped push, the event the header name
// says is "push".
func githubPushEvent(name string) func(http.Header, []byte) (*Push, error) {
	return func(h http.Header, body []byte) (*Push, error) {
		if h.Get(name) != "push" {
			return nil, errIgnored
		}
		var p githubPush
		if err := decode(body, &p); err != nil {
			return nil, err
		}
		return p.push()
	}
}

func gitlabEvent(h http.Header, body []byte) (*Push, error) {
	if h.Get("X-Gitlab-Event") != "Push Hook" {
		return nil, errIgnored
	}
	var p struct {
		Ref     string `json:"ref"`
		Project struct {
			HTTPURL string `json:"git_http_url"`
			SSHURL  string `json:"git_ssh_url"`
			WebURL  string `json:"web_url"`
		} `json:"project"`
		Repository struct {
			HTTPURL string `json:"git_http_url"`
			SSHURL  string `json:"git_ssh_url"`
		} `json:"repository"`
	}
	if err := decode(body, &p); err != nil {
		return nil, err
	}
	urls := nonEmpty(p.Project.HTTPURL, p.Project.SSHURL, p.Project.WebURL, p.Repository.HTTPURL, p.Repository.SSHURL)
	if p.Ref == "" || len(urls) == 0 {
		return nil, errMalformed{errors.New("push without ref or repository URL")}
	}
	return &Push{RepoURLs: urls, Branches: branchOf(p.Ref)}, nil
}

// bitbucketEvent reads Bitbucket Cloud's repo:push and Bitbucket Data
// Center's repo:refs_changed.
func bitbucketEvent(h http.Header, body []byte) (*Push, error) {
	switch h.Get("X-Event-Key") {
	case "repo:push":
		return bitbucketCloudPush(body)
	case "repo:refs_changed":
		return bitbucketDataCenterPush(body)
	}
	return nil, errIgnored
}

// bitbucketLink is a link of a Bitbucket repository payload.
type bitbucketLink struct {
	Href string `json:"href"`
}

func bitbucketCloudPush(body []byte) (*Push, error) {
	var p struct {
		Push struct {
			Changes []struct {
				New *struct {
					Type string `json:"type"`
					Name string `json:"name"`
				} `json:"new"`
			} `json:"changes"`
		} `json:"push"`
		Repository struct {
			FullName string `json:"full_name"`
			Links    struct {
				HTML bitbucketLink `json:"html"`
			} `json:"links"`
		} `json:"repository"`
	}
	if err := decode(body, &p); err != nil {
		return nil, err
	}
	var branches []string
	for _, c := range p.Push.Changes {
		if c.New != nil && c.New.Type == "branch" && c.New.Name != "" {
			branches = append(branches, c.New.Name)
		}
	}
	urls := nonEmpty(p.Repository.Links.HTML.Href)
	if p.Repository.FullName != "" {
		urls = append(urls, "https://bitbucket.org/"+p.Repository.FullName, "git@bitbucket.org:"+p.Repository.FullName+".git")
	}
	if len(urls) == 0 {
		return nil, errMalformed{errors.New("push without repository")}
	}
	return &Push{RepoURLs: urls, Branches: branches}, nil
}

func bitbucketDataCenterPush(body []byte) (*Push, error) {
	var p struct {
		Changes []struct {
			RefID string `json:"refId"`
		} `json:"changes"`
		Repository struct {
			Links struct {
				Clone []bitbucketLink `json:"clone"`
			} `json:"links"`
		} `json:"repository"`
	}
	if err := decode(body, &p); err != nil {
		return nil, err
	}
	var urls, branches []string
	for _, c := range p.Repository.Links.Clone {
		urls = append(urls, c.Href)
	}
	for _, c := range p.Changes {
		branches = append(branches, branchOf(c.RefID)...)
	}
	urls = nonEmpty(urls...)
	if len(urls) == 0 {
		return nil, errMalformed{errors.New("push without repository clone links")}
	}
	return &Push{RepoURLs: urls, Branches: branches}, nil
}

// genericEvent reads {"repoURL": "...", "branch": "..."}; an empty branch
// means every branch.
func genericEvent(_ http.Header, body []byte) (*Push, error) {
	var p struct {
		RepoURL string `json:"repoURL"`
		Branch  string `json:"branch"`
	}
	if err := decode(body, &p); err != nil {
		return nil, err
	}
	if p.RepoURL == "" {
		return nil, errMalformed{errors.New("repoURL is required")}
	}
	push := &Push{RepoURLs: []string{p.RepoURL}}
	if p.Branch != "" {
		push.Branches = []string{p.Branch}
	}
	return push, nil
}

func nonEmpty(in ...string) []string {
	var out []string
	for _, s := range in {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
