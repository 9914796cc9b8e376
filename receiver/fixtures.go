package receiver

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// Fixture is a recorded push event of one provider, for tests and
// benchmarks: its file under testdata/webhooks and the headers the provider
// sends with it.
type Fixture struct {
	Provider string
	File     string
	Headers  map[string]string
}

// Fixtures lists one recorded push per provider shape.
var Fixtures = []Fixture{
	{"github", "github-push.json", map[string]string{"X-GitHub-Event": "push"}},
	{"gitea", "gitea-push.json", map[string]string{"X-Gitea-Event": "push"}},
	{"gitlab", "gitlab-push.json", map[string]string{"X-Gitlab-Event": "Push Hook"}},
	{"bitbucket", "bitbucket-cloud-push.json", map[string]string{"X-Event-Key": "repo:push"}},
	{"bitbucket", "bitbucket-server-push.json", map[string]string{"X-Event-Key": "repo:refs_changed"}},
	{"generic", "generic-push.json", nil},
}

// Body reads the fixture from dir with the repository URL and branch filled in.
func (f Fixture) Body(dir, repoURL, branch string) ([]byte, error) {
	raw, err := os.ReadFile(filepath.Join(dir, f.File))
	if err != nil {
		return nil, fmt.Errorf("read fixture: %w", err)
	}
	return []byte(strings.NewReplacer("{{URL}}", repoURL, "{{BRANCH}}", branch).Replace(string(raw))), nil
}

// Request builds the signed POST a provider would send to url.
func (f Fixture) Request(url string, body, secret []byte) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, url+"/hooks/"+f.Provider, strings.NewReader(string(body)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range f.Headers {
		req.Header.Set(k, v)
	}
	name, value, err := Sign(f.Provider, body, secret)
	if err != nil {
		return nil, err
	}
	req.Header.Set(name, value)
	return req, nil
}
