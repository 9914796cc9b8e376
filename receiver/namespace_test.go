package receiver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/go-logr/logr"
)

// A provider's own token ("token.gitlab") is the only one its endpoint
// accepts, and it signs nothing for another provider: GitLab sends its
// token in clear, so whoever sees it there must not forge GitHub's
// deliveries.
func TestAProviderTokenSignsOnlyItsProvider(t *testing.T) {
	gitlabToken := []byte("gitlab-only-token")
	rec := &recorder{}
	srv := httptest.NewServer(&Handler{
		Secret: func(context.Context) (map[string][]byte, error) {
			return map[string][]byte{SecretKey: secret, SecretKey + ".gitlab": gitlabToken}, nil
		},
		Trigger: rec.trigger,
		Log:     logr.Discard(),
	})
	t.Cleanup(srv.Close)
	github, gitlab := Fixtures[0], Fixtures[2]
	for _, tc := range []struct {
		name string
		f    Fixture
		key  []byte
		want int
	}{
		{"gitlab with its own token", gitlab, gitlabToken, http.StatusOK},
		{"gitlab with the shared token", gitlab, secret, http.StatusUnauthorized},
		{"github with gitlab's token", github, gitlabToken, http.StatusUnauthorized},
		{"github with the shared token", github, secret, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(rec.calls)
			body, err := tc.f.Body(fixtures, "https://git.example.com/org/app.git", "main")
			if err != nil {
				t.Fatal(err)
			}
			req, err := tc.f.Request(srv.URL, body, tc.key)
			if err != nil {
				t.Fatal(err)
			}
			if code := do(t, req); code != tc.want {
				t.Fatalf("status %d, want %d", code, tc.want)
			}
			if triggered := len(rec.calls) - before; (tc.want == http.StatusOK) != (triggered == 1) {
				t.Errorf("%d triggers", triggered)
			}
		})
	}
}

// A namespace's endpoint takes its own Secret's token and triggers only its
// namespace; the cluster's token does not sign for it, nor its token for
// the cluster's endpoint or another namespace's. A namespace without
// ConfigSyncs has no endpoint and costs no Secret read, and is refused as a
// forged request is: an outsider cannot tell which namespaces have what.
func TestANamespaceEndpointTriggersOnlyItsNamespace(t *testing.T) {
	tenantToken := map[string][]byte{"team-a": []byte("team-a-token"), "team-b": []byte("team-b-token")}
	var reads atomic.Int64
	rec := &recorder{}
	srv := httptest.NewServer(&Handler{
		Secret:  tokens(secret),
		Trigger: rec.trigger,
		NamespaceSecret: func(ns string) SecretFunc {
			return func(context.Context) (map[string][]byte, error) {
				reads.Add(1)
				return map[string][]byte{SecretKey: tenantToken[ns]}, nil
			}
		},
		Serves: func(ns string) bool { return ns == "team-a" || ns == "team-b" },
		Log:    logr.Discard(),
	})
	t.Cleanup(srv.Close)
	github := Fixtures[0]
	for _, tc := range []struct {
		name, path string
		key        []byte
		want       int
		namespace  string // of the trigger, when one is wanted
	}{
		{"team-a's token on team-a's endpoint", "/team-a", tenantToken["team-a"], http.StatusOK, "team-a"},
		{"the cluster's token on team-a's endpoint", "/team-a", secret, http.StatusUnauthorized, ""},
		{"team-b's token on team-a's endpoint", "/team-a", tenantToken["team-b"], http.StatusUnauthorized, ""},
		{"team-a's token on the cluster's endpoint", "", tenantToken["team-a"], http.StatusUnauthorized, ""},
		{"a namespace without ConfigSyncs", "/team-c", tenantToken["team-a"], http.StatusUnauthorized, ""},
		{"a name that is no namespace", "/Team_A", tenantToken["team-a"], http.StatusUnauthorized, ""},
		{"the cluster's token on the cluster's endpoint", "", secret, http.StatusOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(rec.calls)
			body, err := github.Body(fixtures, "https://git.example.com/org/app.git", "main")
			if err != nil {
				t.Fatal(err)
			}
			req, err := github.Request(srv.URL, body, tc.key)
			if err != nil {
				t.Fatal(err)
			}
			req.URL.Path += tc.path
			if code := do(t, req); code != tc.want {
				t.Fatalf("status %d, want %d", code, tc.want)
			}
			if tc.want != http.StatusOK {
				if len(rec.calls) != before {
					t.Fatalf("a refused request triggered")
				}
				return
			}
			if got := rec.calls[len(rec.calls)-1].namespace; got != tc.namespace {
				t.Errorf("triggered namespace %q, want %q", got, tc.namespace)
			}
		})
	}
	// team-a's Secret, once within the TTL; none of team-c's.
	if n := reads.Load(); n != 1 {
		t.Errorf("%d namespace Secret reads, want 1", n)
	}
}

// One tenant's deliveries never push the IDs another endpoint remembers
// out, and namespace endpoints answer alike whatever an outsider tries.
func TestNamespaceEndpointsAreKeptApart(t *testing.T) {
	teamToken := []byte("team-a-token")
	rec := &recorder{}
	var logged atomic.Int64
	srv := httptest.NewServer(&Handler{
		Secret:  tokens(secret),
		Trigger: rec.trigger,
		NamespaceSecret: func(ns string) SecretFunc {
			if ns == "team-b" {
				return func(context.Context) (map[string][]byte, error) { return nil, errors.New("no Secret") }
			}
			return tokens(teamToken)
		},
		Serves:        func(ns string) bool { return ns == "team-a" || ns == "team-b" },
		MaxDeliveries: 5,
		Log:           logr.New(countingSink{&logged}),
	})
	t.Cleanup(srv.Close)
	github := Fixtures[0]
	post := func(path string, key []byte, delivery string) int {
		body, err := github.Body(fixtures, "https://git.example.com/org/app.git", "main")
		if err != nil {
			t.Fatal(err)
		}
		req, err := github.Request(srv.URL, body, key)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Path += path
		req.Header.Set("X-GitHub-Delivery", delivery)
		return do(t, req)
	}
	if code := post("", secret, "cluster-1"); code != http.StatusOK {
		t.Fatalf("the cluster's delivery: %d", code)
	}
	for i := range 10 {
		if code := post("/team-a", teamToken, fmt.Sprint("flood-", i)); code != http.StatusOK {
			t.Fatalf("team-a's delivery %d: %d", i, code)
		}
	}
	if code := post("", secret, "cluster-1"); code != http.StatusAccepted {
		t.Errorf("the cluster's delivery replayed after team-a's flood: %d, want 202", code)
	}

	// Alike: a namespace with ConfigSyncs but no Secret, one without
	// ConfigSyncs, a forged signature. GET is refused before any of it.
	logged.Store(0)
	for _, path := range []string{"/team-b", "/team-c", "/team-a"} {
		if code := post(path, []byte("guess"), "x"); code != http.StatusUnauthorized {
			t.Errorf("forged POST %s: %d, want 401", path, code)
		}
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/hooks/github"+path, nil)
		if code := do(t, req); code != http.StatusMethodNotAllowed {
			t.Errorf("GET %s: %d, want 405", path, code)
		}
	}
	if n := logged.Load(); n != 0 {
		t.Errorf("%d log lines from unauthenticated requests", n)
	}
}

// countingSink counts the log lines written through it.
type countingSink struct{ n *atomic.Int64 }

func (countingSink) Init(logr.RuntimeInfo)            {}
func (countingSink) Enabled(int) bool                 { return true }
func (s countingSink) Info(int, string, ...any)       { s.n.Add(1) }
func (s countingSink) Error(error, string, ...any)    { s.n.Add(1) }
func (s countingSink) WithValues(...any) logr.LogSink { return s }
func (s countingSink) WithName(string) logr.LogSink   { return s }
