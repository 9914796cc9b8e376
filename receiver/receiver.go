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

	"github.com/go-logr/logr"

	"github.com/configsync/configsync/source"
)

// DefaultMaxBodyBytes bounds a webhook's body.
const DefaultMaxBodyBytes = 1 << 20

// Trigger reconciles every ConfigSync whose repository is one of the
// normalised repos and whose branch is one of branches (an empty branches
// list matches any branch). It returns how many it triggered.
type Trigger func(ctx context.Context, repos map[string]bool, branches []string) (int, error)

// SecretFunc returns the shared secret; it is read per request so that a
// rotated Secret takes effect without a restart.
type SecretFunc func(ctx context.Context) ([]byte, error)

// Handler serves POST /hooks/<provider>.
type Handler struct {
	Secret       SecretFunc
	Trigger      Trigger
	MaxBodyBytes int64
	Log          logr.Logger
}

type response struct {
	Triggered int    `json:"triggered"`
	Message   string `json:"message,omitempty"`
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
		http.Error(w, fmt.Sprintf("body larger than %d bytes", limit), http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	secret, err := h.Secret(r.Context())
	if err != nil || len(secret) == 0 {
		h.Log.Error(err, "webhook secret unavailable")
		http.Error(w, "receiver not configured", http.StatusServiceUnavailable)
		return
	}
	if !p.verify(r.Header, body, secret) {
		h.Log.Info("webhook refused: bad signature", "provider", name, "remote", r.RemoteAddr)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	push, err := p.event(r.Header, body)
	if errors.Is(err, errIgnored) {
		writeJSON(w, http.StatusAccepted, response{Message: "ignored: not a push event"})
		return
	}
	if err != nil {
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
		http.Error(w, "malformed payload: no usable repository URL", http.StatusBadRequest)
		return
	}
	n, err := h.Trigger(r.Context(), repos, push.Branches)
	if err != nil {
		h.Log.Error(err, "trigger reconciles", "provider", name)
		http.Error(w, "could not trigger", http.StatusInternalServerError)
		return
	}
	h.Log.Info("push received", "provider", name, "branches", push.Branches, "triggered", n)
	writeJSON(w, http.StatusOK, response{Triggered: n})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
