// Package receiver turns Git hosts' push webhooks into immediate reconciles.
// One endpoint serves the whole cluster: POST /hooks/<provider>. A push is
// matched to ConfigSyncs by repository URL (normalised) and branch, so no
// ConfigSync needs its own webhook URL.
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

// Trigger reconciles every ConfigSync whose repository is one of the
// normalised repos and whose branch is one of branches (an empty branches
// list matches any branch). It returns how many it triggered.
type Trigger func(ctx context.Context, repos map[string]bool, branches []string) (int, error)

// SecretFunc returns the shared secret. The Handler keeps what it returns
// for SecretTTL, so that a rotated Secret takes effect without a restart and
// unauthenticated requests cost no read each.
type SecretFunc func(ctx context.Context) ([]byte, error)

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
	Secret       SecretFunc
	Trigger      Trigger
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

	once  sync.Once
	cache *secretCache
	seen  *deliveries
}

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
		h.cache = &secretCache{read: h.Secret, ttl: ttl, now: now, onError: func(err error) {
			h.Log.Error(err, "webhook secret unavailable")
		}}
		dttl, max := h.DeliveryTTL, h.MaxDeliveries
		if dttl <= 0 {
			dttl = DefaultDeliveryTTL
		}
		if max <= 0 {
			max = DefaultMaxDeliveries
		}
		h.seen = newDeliveries(dttl, max, now)
	})
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
	name, ok := strings.CutPrefix(r.URL.Path, "/hooks/")
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
	secret, err := h.cache.get(r.Context())
	if err != nil {
		Requests.WithLabelValues(name, "unavailable").Inc()
		http.Error(w, "receiver not configured", http.StatusServiceUnavailable)
		return
	}
	if !p.verify(r.Header, body, secret) {
		// No log line: a flood of forged requests would flood the logs.
		Requests.WithLabelValues(name, "unauthorized").Inc()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	id := deliveryID(r.Header)
	if id != "" && !h.seen.add(name+"/"+id) {
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
	n, err := h.Trigger(r.Context(), repos, push.Branches)
	if err != nil {
		if id != "" {
			h.seen.forget(name + "/" + id) // the provider's retry must work
		}
		Requests.WithLabelValues(name, "failed").Inc()
		h.Log.Error(err, "trigger reconciles", "provider", name)
		http.Error(w, "could not trigger", http.StatusInternalServerError)
		return
	}
	Requests.WithLabelValues(name, "triggered").Inc()
	h.Log.Info("push received", "provider", name, "branches", push.Branches, "triggered", n)
	writeJSON(w, http.StatusOK, response{Triggered: n})
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
