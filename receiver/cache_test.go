package receiver

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// countingReader stands in for the apiserver reader and counts its reads.
type countingReader struct {
	client.Reader
	gets  atomic.Int64
	token atomic.Pointer[[]byte] // nil: the Secret does not exist
}

func (c *countingReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	c.gets.Add(1)
	tok := c.token.Load()
	if tok == nil {
		return apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, key.Name)
	}
	obj.(*corev1.Secret).Data = map[string][]byte{SecretKey: *tok}
	return nil
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestUnauthenticatedFloodCostsOneSecretRead: 100 forged, unsigned or
// wrongly signed requests read the Secret once, log nothing and trigger
// nothing; after the TTL one more read, and a rotated token is used.
func TestUnauthenticatedFloodCostsOneSecretRead(t *testing.T) {
	reader := &countingReader{}
	tok := []byte("flood-token-0001")
	reader.token.Store(&tok)
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	var logs atomic.Int64
	rec := &recorder{}
	srv := httptest.NewServer(&Handler{
		Secret:  SecretFromCluster(reader, client.ObjectKey{Namespace: "ns", Name: "webhook"}),
		Trigger: rec.trigger,
		Log:     funcr.New(func(prefix, args string) { logs.Add(1) }, funcr.Options{Verbosity: 10}),
		Now:     clk.now,
	})
	defer srv.Close()
	github := Fixtures[0]
	body, err := github.Body(fixtures, "https://git.example.com/org/app.git", "main")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := github.Request(srv.URL, body, []byte(fmt.Sprintf("attacker guess %d", i)))
			switch i % 3 {
			case 1:
				req.Header.Del("X-Hub-Signature-256")
			case 2:
				req.Header.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("0", 64))
			}
			if code := do(t, req); code != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", code)
			}
		}()
	}
	wg.Wait()
	if n := reader.gets.Load(); n != 1 {
		t.Fatalf("%d Secret reads for 100 unauthenticated requests, want 1", n)
	}
	if n := logs.Load(); n != 0 {
		t.Errorf("%d log lines for unauthenticated requests, want 0", n)
	}
	if len(rec.calls) != 0 {
		t.Fatalf("triggered %v", rec.calls)
	}

	// Rotated: the old token works until the TTL, the new one after it.
	rotated := []byte("flood-token-0002")
	reader.token.Store(&rotated)
	req, _ := github.Request(srv.URL, body, tok)
	if code := do(t, req); code != http.StatusOK {
		t.Fatalf("old token within the TTL: status %d", code)
	}
	clk.advance(DefaultSecretTTL)
	req, _ = github.Request(srv.URL, body, rotated)
	if code := do(t, req); code != http.StatusOK {
		t.Fatalf("rotated token after the TTL: status %d", code)
	}
	if n := reader.gets.Load(); n != 2 {
		t.Fatalf("%d Secret reads, want 2", n)
	}
}

// A missing Secret is read once per TTL too, and logged once.
func TestMissingSecretIsReadOncePerTTL(t *testing.T) {
	reader := &countingReader{}
	var logs atomic.Int64
	srv := httptest.NewServer(&Handler{
		Secret:  SecretFromCluster(reader, client.ObjectKey{Namespace: "ns", Name: "webhook"}),
		Trigger: (&recorder{}).trigger,
		Log:     funcr.New(func(prefix, args string) { logs.Add(1) }, funcr.Options{}),
	})
	defer srv.Close()
	for range 50 {
		req, _ := Fixtures[0].Request(srv.URL, []byte(`{}`), []byte("x"))
		if code := do(t, req); code != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503", code)
		}
	}
	if n := reader.gets.Load(); n != 1 {
		t.Fatalf("%d Secret reads, want 1", n)
	}
	if n := logs.Load(); n != 1 {
		t.Fatalf("%d log lines, want 1", n)
	}
}

// TestReplayedDeliveriesTriggerNothing: a verified delivery whose ID was
// seen is answered 202 without a trigger, per provider header; a new ID
// triggers; after the TTL the ID is forgotten; a failed trigger can be
// retried with the same ID.
func TestReplayedDeliveriesTriggerNothing(t *testing.T) {
	cases := []struct {
		fixture Fixture
		header  string
	}{
		{Fixtures[0], "X-GitHub-Delivery"},
		{Fixtures[1], "X-Gitea-Delivery"},
		{Fixtures[2], "X-Gitlab-Event-UUID"},
		{Fixtures[2], "Idempotency-Key"},
		{Fixtures[3], "X-Request-UUID"},
		{Fixtures[4], "X-Request-Id"},
		{Fixtures[5], "X-Delivery-ID"},
	}
	for _, tc := range cases {
		t.Run(tc.fixture.File+"/"+tc.header, func(t *testing.T) {
			clk := &clock{t: time.Unix(1_700_000_000, 0)}
			rec := &recorder{}
			srv := httptest.NewServer(&Handler{
				Secret:  tokens(secret),
				Trigger: rec.trigger,
				Log:     logr.Discard(),
				Now:     clk.now,
			})
			defer srv.Close()
			body, err := tc.fixture.Body(fixtures, "https://git.example.com/org/app.git", "main")
			if err != nil {
				t.Fatal(err)
			}
			send := func(id string) int {
				req, err := tc.fixture.Request(srv.URL, body, secret)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set(tc.header, id)
				return do(t, req)
			}
			if code := send("delivery-1"); code != http.StatusOK {
				t.Fatalf("first delivery: status %d", code)
			}
			for range 3 {
				if code := send("delivery-1"); code != http.StatusAccepted {
					t.Fatalf("replay: status %d, want 202", code)
				}
			}
			if len(rec.calls) != 1 {
				t.Fatalf("%d triggers after replays, want 1", len(rec.calls))
			}
			if code := send("delivery-2"); code != http.StatusOK || len(rec.calls) != 2 {
				t.Fatalf("new delivery: status %d, %d triggers", code, len(rec.calls))
			}
			clk.advance(DefaultDeliveryTTL)
			if code := send("delivery-1"); code != http.StatusOK || len(rec.calls) != 3 {
				t.Fatalf("after the TTL: status %d, %d triggers", code, len(rec.calls))
			}
		})
	}
}

// A replay with a forged signature is refused as forged, and does not use
// up the ID for the real delivery.
func TestForgedDeliveryDoesNotBurnTheID(t *testing.T) {
	srv, rec := serve(t)
	body, _ := Fixtures[0].Body(fixtures, "https://git.example.com/org/app.git", "main")
	forged, _ := Fixtures[0].Request(srv.URL, body, []byte("guess"))
	forged.Header.Set("X-GitHub-Delivery", "d-1")
	if code := do(t, forged); code != http.StatusUnauthorized {
		t.Fatalf("forged: status %d", code)
	}
	real, _ := Fixtures[0].Request(srv.URL, body, secret)
	real.Header.Set("X-GitHub-Delivery", "d-1")
	if code := do(t, real); code != http.StatusOK || len(rec.calls) != 1 {
		t.Fatalf("real: status %d, %d triggers", code, len(rec.calls))
	}
}

func TestFailedTriggerCanBeRetried(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	var triggered atomic.Int64
	srv := httptest.NewServer(&Handler{
		Secret: tokens(secret),
		Trigger: func(context.Context, string, map[string]bool, []string) (int, error) {
			if fail.Load() {
				return 0, fmt.Errorf("apiserver down")
			}
			triggered.Add(1)
			return 1, nil
		},
		Log: logr.Discard(),
	})
	defer srv.Close()
	body, _ := Fixtures[0].Body(fixtures, "https://git.example.com/org/app.git", "main")
	send := func() int {
		req, _ := Fixtures[0].Request(srv.URL, body, secret)
		req.Header.Set("X-GitHub-Delivery", "retry-me")
		return do(t, req)
	}
	if code := send(); code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", code)
	}
	fail.Store(false)
	if code := send(); code != http.StatusOK || triggered.Load() != 1 {
		t.Fatalf("retry: status %d, %d triggers", code, triggered.Load())
	}
}

func TestDeliveriesAreBounded(t *testing.T) {
	now := time.Unix(0, 0)
	d := newDeliveries(time.Hour, 3, func() time.Time { return now })
	for _, id := range []string{"a", "b", "c", "d"} {
		if !d.add(id) {
			t.Fatalf("%s seen", id)
		}
	}
	if d.order.Len() != 3 || len(d.byID) != 3 {
		t.Fatalf("%d entries, want 3", d.order.Len())
	}
	if !d.add("a") { // evicted as the least recent
		t.Fatal("a still remembered beyond the bound")
	}
	if d.add("d") {
		t.Fatal("d forgotten")
	}
}
