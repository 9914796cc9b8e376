// Package receiver turns Git hosts' push webhooks into immediate reconciles.
// One endpoint serves the whole cluster: POST /hooks/<provider>, signed with
// the cluster's token. A push is matched to ConfigSyncs by repository URL
// (normalised) and branch, so no ConfigSync needs its own webhook URL. Each
// namespace may have its own endpoint too, POST /hooks/<provider>/<namespace>,
// signed with the token of the namespace's Secret NamespaceSecretName, which
// triggers only that namespace's ConfigSyncs: a tenant holds a token that
// moves nothing of another tenant's.
package receiver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/configsync/configsync/source"
)

// DefaultMaxBodyBytes bounds a webhook's body.
const DefaultMaxBodyBytes = 1 << 20

// Trigger reconciles every ConfigSync (of namespace, unless it is empty)
// whose repository is one of the normalised repos and whose branch is one
// of branches (an empty branches list matches any branch). It returns how
// many it triggered.
type Trigger func(ctx context.Context, namespace string, repos map[string]bool, branches []string) (int, error)

// SecretFunc returns the data of a receiver's Secret: its tokens (see
// SecretKey). The Handler keeps what it returns for SecretTTL, so that a
// rotated Secret takes effect without a restart and unauthenticated
// requests cost no read each.
type SecretFunc func(ctx context.Context) (map[string][]byte, error)

var errEmptyToken = errors.New("the webhook token is empty")

// Requests counts the receiver's answers by provider and result, so that
// refused requests are visible without a log line each.
var Requests = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "configsync_webhook_requests_total",
	Help: "Webhook requests by provider and result (triggered, ignored, replayed, unauthorized, malformed, too_large, unavailable, failed).",
}, []string{"provider", "result"})

func init() {
	ctrlmetrics.Registry.MustRegister(Requests)
}

// Handler serves POST /hooks/<provider>.
type Handler struct {
	// Secret reads the cluster endpoint's tokens.
	Secret  SecretFunc
	Trigger Trigger
	// NamespaceSecret reads the tokens of a namespace's endpoint; nil
	// serves no namespace endpoint.
	NamespaceSecret func(namespace string) SecretFunc
	// Serves says whether a namespace has ConfigSyncs. The receiver reads
	// no Secret of a namespace that has none, so that requests naming
	// made-up namespaces cost no apiserver read.
	Serves       func(namespace string) bool
	MaxBodyBytes int64
	Log          logr.Logger
	// SecretTTL is how long a read token is used; zero means DefaultSecretTTL.
	SecretTTL time.Duration
	// DeliveryTTL and MaxDeliveries bound the remembered delivery IDs;
	// zero means DefaultDeliveryTTL and DefaultMaxDeliveries.
	DeliveryTTL   time.Duration
	MaxDeliveries int
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	once    sync.Once
	cluster *endpoint

	mu         sync.Mutex
	namespaces map[string]*endpoint
}

// endpoint is what the receiver keeps of one endpoint: its tokens, and the
// delivery IDs it saw (one tenant's deliveries never push another
// endpoint's out).
type endpoint struct {
	tokens *secretCache
	seen   *deliveries
}

// maxNamespaces bounds the namespace endpoints kept at once.
const maxNamespaces = 10000

func (h *Handler) init() {
	h.once.Do(func() {
		now := h.Now
		if now == nil {
			now = time.Now
		}
		ttl := h.SecretTTL
		if ttl <= 0 {
			ttl = DefaultSecretTTL
		}
		if h.DeliveryTTL <= 0 {
			h.DeliveryTTL = DefaultDeliveryTTL
		}
		if h.MaxDeliveries <= 0 {
			h.MaxDeliveries = DefaultMaxDeliveries
		}
		h.SecretTTL, h.Now = ttl, now
		// The cluster's missing Secret is the admin's to fix: logged, once
		// per TTL. A tenant's is not worth a log line an outsider can cause.
		h.cluster = h.newEndpoint(h.Secret, func(err error) { h.Log.Error(err, "webhook secret unavailable") })
	})
}

func (h *Handler) newEndpoint(read SecretFunc, onError func(error)) *endpoint {
	return &endpoint{
		tokens: &secretCache{read: read, ttl: h.SecretTTL, now: h.Now, onError: onError},
		seen:   newDeliveries(h.DeliveryTTL, h.MaxDeliveries, h.Now),
	}
}

// endpointFor is the endpoint of namespace ("": the cluster's), or nil
// when there is no such endpoint.
func (h *Handler) endpointFor(namespace string) *endpoint {
	if namespace == "" {
		return h.cluster
	}
	if h.NamespaceSecret == nil || h.Serves == nil || !validNamespace(namespace) || !h.Serves(namespace) {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if e, ok := h.namespaces[namespace]; ok {
		return e
	}
	if h.namespaces == nil || len(h.namespaces) >= maxNamespaces {
		h.namespaces = map[string]*endpoint{}
	}
	e := h.newEndpoint(h.NamespaceSecret(namespace), nil)
	h.namespaces[namespace] = e
	return e
}

// validNamespace says whether ns can be a namespace's name (a DNS label).
func validNamespace(ns string) bool {
	if len(ns) > 63 {
		return false
	}
	for _, c := range ns {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

type response struct {
	Triggered int    `json:"triggered"`
	Message   string `json:"message,omitempty"`
}

// ServeHTTP verifies the request before anything else costs: no log line,
// no apiserver read beyond the cached token, no parsing of the body. A
// verified delivery whose ID was seen in the last DeliveryTTL is answered
// without triggering.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.init()
	endpoint, ok := strings.CutPrefix(r.URL.Path, "/hooks/")
	name, namespace, _ := strings.Cut(endpoint, "/")
	p, known := providers[name]
	if !ok || !known {
		http.Error(w, "unknown provider", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	ep := h.endpointFor(namespace)
	limit := h.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		Requests.WithLabelValues(name, "too_large").Inc()
		http.Error(w, fmt.Sprintf("body larger than %d bytes", limit), http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		Requests.WithLabelValues(name, "malformed").Inc()
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	if !h.verify(r.Context(), ep, namespace, p, name, r.Header, body, w) {
		return
	}
	id := deliveryID(r.Header)
	if id != "" {
		id = name + "/" + namespace + "/" + id
	}
	if id != "" && !ep.seen.add(id) {
		Requests.WithLabelValues(name, "replayed").Inc()
		writeJSON(w, http.StatusAccepted, response{Message: "ignored: delivery already received"})
		return
	}
	push, err := p.event(r.Header, body)
	if errors.Is(err, errIgnored) {
		Requests.WithLabelValues(name, "ignored").Inc()
		writeJSON(w, http.StatusAccepted, response{Message: "ignored: not a push event"})
		return
	}
	if err != nil {
		Requests.WithLabelValues(name, "malformed").Inc()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	repos := map[string]bool{}
	for _, u := range push.RepoURLs {
		if n := source.NormalizeURL(u); n != "" {
			repos[n] = true
		}
	}
	if len(repos) == 0 {
		Requests.WithLabelValues(name, "malformed").Inc()
		http.Error(w, "malformed payload: no usable repository URL", http.StatusBadRequest)
		return
	}
	n, err := h.Trigger(r.Context(), namespace, repos, push.Branches)
	if err != nil {
		if id != "" {
			ep.seen.forget(id) // the provider's retry must work
		}
		Requests.WithLabelValues(name, "failed").Inc()
		h.Log.Error(err, "trigger reconciles", "provider", name, "namespace", namespace)
		http.Error(w, "could not trigger", http.StatusInternalServerError)
		return
	}
	Requests.WithLabelValues(name, "triggered").Inc()
	h.Log.Info("push received", "provider", name, "namespace", namespace, "branches", push.Branches, "triggered", n)
	writeJSON(w, http.StatusOK, response{Triggered: n})
}

// verify checks the request's signature with ep's token, and answers it
// when it fails. A namespace endpoint answers 401 alike when the namespace
// has no ConfigSyncs, no Secret or another token, so that an outsider
// learns nothing of which namespaces have what.
func (h *Handler) verify(ctx context.Context, ep *endpoint, namespace string, p provider, name string, header http.Header, body []byte, w http.ResponseWriter) bool {
	var tokens map[string][]byte
	var err error
	if ep != nil {
		tokens, err = ep.tokens.get(ctx)
	}
	if namespace == "" && err != nil {
		Requests.WithLabelValues(name, "unavailable").Inc()
		http.Error(w, "receiver not configured", http.StatusServiceUnavailable)
		return false
	}
	secret := tokenFor(tokens, name)
	if ep == nil || err != nil || len(secret) == 0 || !p.verify(header, body, secret) {
		// No log line: a flood of forged requests would flood the logs.
		Requests.WithLabelValues(name, "unauthorized").Inc()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// deliveryHeaders name the headers providers put a unique delivery ID in.
// They are not covered by the providers' signatures (GitLab's token is not
// a signature at all), so they stop verbatim replays and redeliveries, not
// a replayer who rewrites the header; a replayed push can only cause a
// reconcile of what is in Git, never apply anything from its body.
var deliveryHeaders = []string{
	"X-GitHub-Delivery",   // GitHub
	"X-Gitea-Delivery",    // Gitea, Forgejo
	"X-Gogs-Delivery",     // Gogs
	"Idempotency-Key",     // GitLab 17.4+
	"X-Gitlab-Event-UUID", // GitLab
	"X-Request-UUID",      // Bitbucket Cloud
	"X-Request-Id",        // Bitbucket Data Center
	"X-Delivery-ID",       // the generic provider's clients, optionally
}

// deliveryID returns the request's delivery ID, or "" when it has none.
func deliveryID(h http.Header) string {
	for _, name := range deliveryHeaders {
		if v := h.Get(name); v != "" {
			if len(v) > 200 {
				v = v[:200]
			}
			return name + "=" + v
		}
	}
	return ""
}
