// Package ui serves `configsync ui`: server-side rendered pages that show
// every ConfigSync the user may list and act on them with the same control
// code as the CLI, with the user's own credentials. Reading works without
// JavaScript; a small embedded script follows changes through server-sent
// events fed by a watch.
package ui

import (
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/configsync/configsync/source"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure a Server.
type Options struct {
	// Client talks to the cluster as the user (the kubeconfig's credentials).
	Client client.WithWatch
	// Namespace is listed when the user may not list ConfigSyncs across
	// namespaces: the kubeconfig context's namespace.
	Namespace string
	// Fetcher fetches the revisions the history diff renders; nil makes one.
	Fetcher source.Fetcher
	// Hosts are the Host headers accepted (the listen address by its names),
	// so that a page of another site that resolves its own name to loopback
	// (DNS rebinding) is refused. Empty accepts any Host (--allow-remote).
	Hosts []string
	// Log receives request errors; never a Secret value, which the server
	// never reads.
	Log logr.Logger
}

// Server is the web UI's http.Handler.
type Server struct {
	opts  Options
	token string // the CSRF token of this process
	pages *pages
	mux   *http.ServeMux
}

// New returns a Server with a fresh random CSRF token.
func New(opts Options) (*Server, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("make the CSRF token: %w", err)
	}
	if opts.Fetcher == nil {
		opts.Fetcher = &source.GitFetcher{}
	}
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, token: hex.EncodeToString(b), pages: p, mux: http.NewServeMux()}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	s.mux.HandleFunc("GET /{$}", s.overview)
	s.mux.HandleFunc("GET /cs/{ns}/{name}", s.detail)
	s.mux.HandleFunc("GET /cs/{ns}/{name}/history/{revision}", s.historyDiff)
	s.mux.HandleFunc("GET /cs/{ns}/{name}/confirm/{action}", s.confirm)
	s.mux.HandleFunc("POST /cs/{ns}/{name}/{action}", s.act)
	s.mux.HandleFunc("GET /events", s.events)
	return s, nil
}

// ServeHTTP checks the Host, sets the headers every page needs, and refuses
// a POST that did not come from this UI's own pages.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.hostAllowed(r.Host) {
		http.Error(w, "unknown host "+r.Host+": open the URL configsync ui printed", http.StatusMisdirectedRequest)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// same-origin, not no-referrer: with no-referrer the browser sends
	// "Origin: null" on our own form posts, which checkPost must refuse.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	// Every page costs work done with the user's credentials (lists,
	// watches, Git fetches and renders for a history diff): a page of
	// another site may not make the browser ask for one, even unread.
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		http.Error(w, "cross-site requests are refused", http.StatusForbidden)
		return
	}
	// Namespaces and names are DNS labels and subdomains: a path value
	// holding "/", "?" or "#" would make a confirmation page name one
	// ConfigSync while its form acts on another.
	if !validPath(r.URL.Path) || strings.Contains(strings.ToLower(r.URL.EscapedPath()), "%2f") {
		http.Error(w, "not a ConfigSync path", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10) // a form of two fields
		if err := s.checkPost(r); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// validPath says whether every segment of the (decoded) path could be a
// namespace, a name, an action or a file of the page: lower-case letters,
// digits, '-', '.' and '_' only.
func validPath(p string) bool {
	for _, c := range p {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && (c < 'A' || c > 'Z') && !strings.ContainsRune("/-._", c) {
			return false
		}
	}
	return true
}

func (s *Server) hostAllowed(host string) bool {
	if len(s.opts.Hosts) == 0 {
		return true
	}
	for _, h := range s.opts.Hosts {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// checkPost refuses what a page of another site could send with the
// user's browser: a cross-site fetch, a foreign Origin, a missing or wrong
// CSRF token. Every action acts with the user's credentials.
func (s *Server) checkPost(r *http.Request) error {
	if r.Method != http.MethodPost {
		return fmt.Errorf("method %s not allowed", r.Method)
	}
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return fmt.Errorf("refused: a %s request", site)
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		u, err := url.Parse(origin)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			return fmt.Errorf("refused: origin %q is not this page's", origin)
		}
	}
	got := r.PostFormValue("csrf")
	if subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) != 1 {
		return fmt.Errorf("refused: missing or wrong CSRF token (reload the page)")
	}
	return nil
}
