package receiver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

type call struct {
	namespace string
	repos     map[string]bool
	branches  []string
}

// Each provider's recorded push, signed with the shared secret, triggers the
// repository (in its normalised form) and the branch it names.
func TestEachProviderTriggersItsRepositoryAndBranch(t *testing.T) {
	const repoURL = "https://Git.Example.com/org/app.git"
	for _, f := range Fixtures {
		t.Run(f.File, func(t *testing.T) {
			srv, rec := serve(t)
			body, err := f.Body(fixtures, repoURL, "release")
			if err != nil {
				t.Fatal(err)
			}
			req, err := f.Request(srv.URL, body, secret)
			if err != nil {
				t.Fatal(err)
			}
			if code := do(t, req); code != http.StatusOK {
				t.Fatalf("status %d, want 200", code)
			}
			if len(rec.calls) != 1 {
				t.Fatalf("%d triggers, want 1", len(rec.calls))
			}
			got := rec.calls[0]
			if !got.repos["git.example.com/org/app"] {
				t.Errorf("repos %v do not hold git.example.com/org/app", got.repos)
			}
			if len(got.branches) != 1 || got.branches[0] != "release" {
				t.Errorf("branches %v, want [release]", got.branches)
			}
		})
	}
}

// Requests that are forged, signed with another secret, oversized, malformed
// or not pushes trigger nothing and get the status that says why.
func TestRefusedRequestsTriggerNothing(t *testing.T) {
	github := Fixtures[0]
	valid, err := github.Body(fixtures, "https://git.example.com/org/app.git", "main")
	if err != nil {
		t.Fatal(err)
	}
	signed := func(body []byte, key []byte) func(string) *http.Request {
		return func(url string) *http.Request {
			req, err := github.Request(url, body, key)
			if err != nil {
				t.Fatal(err)
			}
			return req
		}
	}
	cases := []struct {
		name    string
		request func(url string) *http.Request
		want    int
	}{
		{"forged signature", func(url string) *http.Request {
			req := signed(valid, secret)(url)
			req.Header.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("ab", 32))
			return req
		}, http.StatusUnauthorized},
		{"signature missing", func(url string) *http.Request {
			req := signed(valid, secret)(url)
			req.Header.Del("X-Hub-Signature-256")
			return req
		}, http.StatusUnauthorized},
		{"signature not hex", func(url string) *http.Request {
			req := signed(valid, secret)(url)
			req.Header.Set("X-Hub-Signature-256", "sha256=zz")
			return req
		}, http.StatusUnauthorized},
		{"wrong secret", signed(valid, []byte("another secret")), http.StatusUnauthorized},
		{"body changed after signing", func(url string) *http.Request {
			req := signed(valid, secret)(url)
			tampered := bytes.Replace(valid, []byte("main"), []byte("prod"), 1)
			req2, _ := http.NewRequest(http.MethodPost, req.URL.String(), bytes.NewReader(tampered))
			req2.Header = req.Header
			return req2
		}, http.StatusUnauthorized},
		{"oversized body", signed(bytes.Repeat([]byte(" "), DefaultMaxBodyBytes+1), secret), http.StatusRequestEntityTooLarge},
		{"garbage JSON", signed([]byte("{not json"), secret), http.StatusBadRequest},
		{"push without repository", signed([]byte(`{"ref":"refs/heads/main"}`), secret), http.StatusBadRequest},
		{"repository URL unusable", signed([]byte(`{"ref":"refs/heads/main","repository":{"clone_url":"::"}}`), secret), http.StatusBadRequest},
		{"ping event", func(url string) *http.Request {
			req := signed([]byte(`{"zen":"Keep it logically awesome."}`), secret)(url)
			req.Header.Set("X-GitHub-Event", "ping")
			return req
		}, http.StatusAccepted},
		{"tag push", signed(bytes.Replace(valid, []byte("refs/heads/main"), []byte("refs/tags/v1"), 1), secret), http.StatusAccepted},
		{"unknown provider", func(url string) *http.Request {
			req, _ := http.NewRequest(http.MethodPost, url+"/hooks/svn", bytes.NewReader(valid))
			return req
		}, http.StatusNotFound},
		{"GET", func(url string) *http.Request {
			req, _ := http.NewRequest(http.MethodGet, url+"/hooks/github", nil)
			return req
		}, http.StatusMethodNotAllowed},
		{"gitlab wrong token", func(url string) *http.Request {
			req, _ := Fixtures[2].Request(url, valid, secret)
			req.Header.Set("X-Gitlab-Token", "guess")
			return req
		}, http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, rec := serve(t)
			if code := do(t, tc.request(srv.URL)); code != tc.want {
				t.Errorf("status %d, want %d", code, tc.want)
			}
			if len(rec.calls) != 0 {
				t.Errorf("triggered %v", rec.calls)
			}
		})
	}
}

// The secret never appears in what the receiver answers.
func TestResponsesDoNotEchoTheSecret(t *testing.T) {
	srv, _ := serve(t)
	req, _ := Fixtures[2].Request(srv.URL, []byte("{bad"), secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	if strings.Contains(buf.String(), string(secret)) {
		t.Fatalf("response echoes the secret: %s", buf.String())
	}
}

// FuzzEvents feeds any body to every provider's parser: no panic, and a
// push it accepts always names a repository.
func FuzzEvents(f *testing.F) {
	for _, fx := range Fixtures {
		body, err := fx.Body(fixtures, "https://git.example.com/org/app.git", "main")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}
	f.Add([]byte(`{"push":{"changes":[{"new":null}]}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, fx := range Fixtures {
			h := http.Header{}
			for k, v := range fx.Headers {
				h.Set(k, v)
			}
			push, err := providers[fx.Provider].event(h, body)
			if err != nil {
				continue
			}
			if len(push.RepoURLs) == 0 {
				t.Fatalf("%s accepted a push without repository: %s", fx.File, body)
			}
			_, _ = json.Marshal(push)
		}
	})
}
