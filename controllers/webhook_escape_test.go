package controllers_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/configsync/configsync/internal/testgit"
	"github.com/configsync/configsync/receiver"
)

// Anyone who can reach the webhook receiver tries to make the operator
// sync, or sync again: without the token, nothing is triggered, and the
// receiver reads nothing from the apiserver per request (receiver's own
// tests count that). Each case is a row of the tenant-escape table; the
// receiver's Trigger counts what got through.
func TestWebhookEscapesTriggerNothing(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	token := []byte("escape-token-" + ns)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "webhook-token"}, Data: map[string][]byte{receiver.SecretKey: token}}
	g.Expect(k8s.Create(ctx, secret)).To(Succeed())
	srv, triggered := startCountingReceiver(t, client.ObjectKeyFromObject(secret))
	server := testgit.Start(t)
	repo := server.NewRepo(t, "webhook-escape.git")
	repo.Commit(t, map[string]string{"cm.yaml": configMap("hooked", "v0")}, "v0")
	g.Expect(k8s.Create(ctx, newConfigSync(ns, "hooked", repo.URL, ""))).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(getConfigSync(g, ns, "hooked").Status.SourceRevision).NotTo(BeEmpty())
	}, timeout).Should(Succeed())

	// The namespace's own endpoint has its own token; a tenant of another
	// namespace holds one for its namespace.
	tenantToken, otherToken := []byte("tenant-token-"+ns), []byte("other-tenant-token-"+ns)
	other := newNamespace(t)
	for namespace, token := range map[string][]byte{ns: tenantToken, other: otherToken} {
		g.Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: receiver.NamespaceSecretName},
			Data: map[string][]byte{receiver.SecretKey: token}})).To(Succeed())
	}

	github := receiver.Fixtures[0]
	signed := func(t *testing.T, f receiver.Fixture, key []byte) *http.Request {
		body, err := f.Body(webhookFixtures, repo.URL, "main")
		if err != nil {
			t.Fatal(err)
		}
		req, err := f.Request(srv.URL, body, key)
		if err != nil {
			t.Fatal(err)
		}
		return req
	}
	// The genuine delivery whose replay is tried below; it triggers once.
	genuine := signed(t, github, token)
	genuine.Header.Set("X-GitHub-Delivery", "delivery-"+ns)
	g.Expect(send(t, genuine)).To(Equal(http.StatusOK))
	g.Expect(triggered.Load()).To(Equal(int64(1)))
	// And the namespace's own token on its own endpoint.
	own := signed(t, github, tenantToken)
	own.URL.Path += "/" + ns
	g.Expect(send(t, own)).To(Equal(http.StatusOK))
	g.Expect(triggered.Load()).To(Equal(int64(2)))

	for _, tc := range webhookEscapes(signed, ns, other, token, otherToken) {
		t.Run(tc.name, func(t *testing.T) {
			before := triggered.Load()
			code := send(t, tc.req(t))
			got := triggered.Load() - before
			outcome := sprintf("%d %s, %d sync(s) triggered", code, http.StatusText(code), got)
			record(finding{Suite: "tenant escape", Case: tc.name, Want: sprintf("%d %s, no sync triggered", tc.want, http.StatusText(tc.want)), Got: outcome, Pass: code == tc.want && got == 0})
			if code != tc.want || got != 0 {
				t.Errorf("%s: got %s", tc.name, outcome)
			}
		})
	}
}

// startCountingReceiver serves the webhook receiver, with the cluster's
// token in Secret secret and a namespace's in its own Secret, and counts
// the syncs it triggers.
func startCountingReceiver(t *testing.T, secret client.ObjectKey) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var triggered atomic.Int64
	srv := httptest.NewServer(&receiver.Handler{
		Secret: receiver.SecretFromCluster(k8s, secret),
		Trigger: func(ctx context.Context, namespace string, repos map[string]bool, branches []string) (int, error) {
			triggered.Add(1)
			return reconciler.TriggerPush(ctx, namespace, repos, branches)
		},
		NamespaceSecret: func(namespace string) receiver.SecretFunc {
			return receiver.SecretFromCluster(k8s, client.ObjectKey{Namespace: namespace, Name: receiver.NamespaceSecretName})
		},
		Serves: reconciler.ServesNamespace,
		Log:    ctrl.Log.WithName("receiver"),
	})
	t.Cleanup(srv.Close)
	return srv, &triggered
}

// webhookEscape is one request to the receiver and the status it must get.
type webhookEscape struct {
	name string
	req  func(t *testing.T) *http.Request
	want int
}

// webhookEscapes are the requests tried against the receiver: signed signs
// a fixture's body for the ConfigSync's repository with a key; token is the
// cluster's, otherToken the tenant of namespace other's; ns holds the
// ConfigSync.
func webhookEscapes(signed func(t *testing.T, f receiver.Fixture, key []byte) *http.Request, ns, other string, token, otherToken []byte) []webhookEscape {
	github := receiver.Fixtures[0]
	return []webhookEscape{
		{"webhook without a signature", func(t *testing.T) *http.Request {
			req := signed(t, github, token)
			req.Header.Del("X-Hub-Signature-256")
			return req
		}, http.StatusUnauthorized},
		{"webhook signed with a guessed token (GitHub)", func(t *testing.T) *http.Request {
			return signed(t, github, []byte("guess"))
		}, http.StatusUnauthorized},
		{"webhook signed with a guessed token (GitLab)", func(t *testing.T) *http.Request {
			return signed(t, receiver.Fixtures[2], []byte("guess"))
		}, http.StatusUnauthorized},
		{"webhook with a valid signature over another body", func(t *testing.T) *http.Request {
			req := signed(t, github, token)
			forged := signed(t, receiver.Fixtures[5], token) // the generic body, signed differently
			req.Body, req.ContentLength = forged.Body, forged.ContentLength
			return req
		}, http.StatusUnauthorized},
		{"replayed webhook delivery", func(t *testing.T) *http.Request {
			req := signed(t, github, token)
			req.Header.Set("X-GitHub-Delivery", "delivery-"+ns)
			return req
		}, http.StatusAccepted},
		{"another tenant's webhook token on this namespace's endpoint", func(t *testing.T) *http.Request {
			req := signed(t, github, otherToken)
			req.URL.Path += "/" + ns
			return req
		}, http.StatusUnauthorized},
		{"a tenant's webhook token on the cluster's endpoint", func(t *testing.T) *http.Request {
			return signed(t, github, otherToken)
		}, http.StatusUnauthorized},
		{"the cluster's webhook token on a namespace endpoint with no ConfigSync", func(t *testing.T) *http.Request {
			req := signed(t, github, token)
			req.URL.Path += "/" + other
			return req
		}, http.StatusUnauthorized},
		{"webhook body over the size limit", func(t *testing.T) *http.Request {
			req := signed(t, github, token)
			big := strings.Repeat(" ", receiver.DefaultMaxBodyBytes+1)
			req.Body, req.ContentLength = io.NopCloser(strings.NewReader(big)), int64(len(big))
			return req
		}, http.StatusRequestEntityTooLarge},
	}
}

func send(t *testing.T, req *http.Request) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
