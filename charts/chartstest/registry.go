package chartstest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/distribution/distribution/v3/configuration"
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd" // basic auth of the test registry
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory" // its storage
	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/registry"
)

// RegistryOptions choose how an OCI registry is served.
type RegistryOptions struct {
	TLS bool // HTTPS with a CA of its own (CAPEM)
	// Username and Password, when set, are required (htpasswd basic auth,
	// with the registry's token-less challenge) on every request.
	Username, Password string
}

// Registry is an OCI registry on loopback (distribution's registry, in
// memory), charts under the repository namespace "charts".
type Registry struct {
	front
	opts   RegistryOptions
	client *registry.Client

	mu       sync.Mutex
	layers   map[string][2]string // chart layer digest → name, version
	archives map[string][]byte    // "name-tag" → the pushed archive
}

var quietRegistry sync.Once

// NewRegistry starts an OCI registry, stopped when the test ends.
func NewRegistry(t testing.TB, o RegistryOptions) *Registry {
	t.Helper()
	// distribution logs every request (and every 404 and 401 a test asks
	// for, as errors) through logrus' standard logger, which it offers no
	// other way to reach.
	quietRegistry.Do(func() { logrus.SetLevel(logrus.FatalLevel) })

	config := &configuration.Configuration{}
	config.Storage = configuration.Storage{"inmemory": configuration.Parameters{}}
	config.HTTP.Secret = "chartstest"
	if o.Username != "" {
		config.Auth = configuration.Auth{"htpasswd": configuration.Parameters{
			"realm": "chartstest",
			"path":  htpasswd(t, o.Username, o.Password),
		}}
	}
	r := &Registry{opts: o, layers: map[string][2]string{}, archives: map[string][]byte{}}
	app := handlers.NewApp(context.Background(), config)
	start(t, &r.front, r.counting(app), o.TLS, false)
	r.client = r.newClient(t)
	return r
}

func htpasswd(t testing.TB, user, pass string) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(path, []byte(fmt.Sprintf("%s:%s\n", user, hash)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// newClient is helm's registry client as `helm push` builds it, logged in
// with the registry's credentials.
func (r *Registry) newClient(t testing.TB) *registry.Client {
	t.Helper()
	opts := []registry.ClientOption{
		registry.ClientOptCredentialsFile(filepath.Join(t.TempDir(), "config.json")),
	}
	if r.opts.Username != "" {
		opts = append(opts, registry.ClientOptBasicAuth(r.opts.Username, r.opts.Password))
	}
	if r.ca != nil {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(r.ca.certPEM)
		opts = append(opts, registry.ClientOptHTTPClient(&http.Client{Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		}}))
	} else {
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	c, err := registry.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Host is host:port of the registry, as an allowlist names it.
func (r *Registry) Host() string {
	return strings.TrimPrefix(strings.TrimPrefix(r.srv.URL, "https://"), "http://")
}

// URL is the oci:// URL of the charts namespace: a ConfigSync's repoURL.
// A chart NAME is the OCI repository URL + "/" + NAME.
func (r *Registry) URL() string { return "oci://" + r.Host() + "/charts" }

// Push packages c and pushes it as <URL>/<name>:<version> with helm's
// client, returning the manifest digest (what a digest pin names).
func (r *Registry) Push(t testing.TB, c *chart.Chart) string {
	t.Helper()
	return r.PushArchive(t, c.Name(), c.Metadata.Version, Package(t, c))
}

// PushArchive pushes a packaged chart as <URL>/<name>:<tag>.
func (r *Registry) PushArchive(t testing.TB, name, tag string, tgz []byte) string {
	t.Helper()
	ref := fmt.Sprintf("%s/charts/%s:%s", r.Host(), name, tag)
	res, err := r.client.Push(tgz, ref)
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	r.mu.Lock()
	r.layers[res.Chart.Digest] = [2]string{name, tag}
	r.archives[name+"-"+tag] = tgz
	r.mu.Unlock()
	return res.Manifest.Digest
}

// Archive is the archive pushed as name:tag (packaging again would not give
// the same bytes: an archive records the time it was made).
func (r *Registry) Archive(name, tag string) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.archives[name+"-"+tag]
}

var blobPath = regexp.MustCompile(`^/v2/.+/blobs/(sha256:[0-9a-f]{64})$`)

// counting counts the chart layers the registry serves whole (GET, 200).
func (r *Registry) counting(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		m := blobPath.FindStringSubmatch(req.URL.Path)
		if m == nil || req.Method != http.MethodGet {
			next.ServeHTTP(w, req)
			return
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, req)
		r.mu.Lock()
		nv, isChart := r.layers[m[1]]
		r.mu.Unlock()
		if isChart && sw.status == http.StatusOK {
			r.countDownload(nv[0], nv[1])
		}
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}
