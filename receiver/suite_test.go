// Helpers that several test files of the package share.
package receiver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/go-logr/logr"
)

// fixtures holds each provider's recorded push.
const fixtures = "../testdata/webhooks"

// secret is the webhook token the tests sign with.
var secret = []byte("s3cr3t-webhook-token")

// tokens is a SecretFunc whose Secret holds token for every provider.
func tokens(token []byte) SecretFunc {
	return func(context.Context) (map[string][]byte, error) { return map[string][]byte{SecretKey: token}, nil }
}

// recorder records the pushes the handler triggers.
type recorder struct {
	mu    sync.Mutex
	calls []call
}

func (r *recorder) trigger(_ context.Context, namespace string, repos map[string]bool, branches []string) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call{namespace, repos, branches})
	return 1, nil
}

// serve serves a Handler that checks secret and records what it triggers.
func serve(t *testing.T) (*httptest.Server, *recorder) {
	t.Helper()
	rec := &recorder{}
	h := &Handler{
		Secret:  tokens(secret),
		Trigger: rec.trigger,
		Log:     logr.Discard(),
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, rec
}

// do sends req and returns the response's status code.
func do(t *testing.T, req *http.Request) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
