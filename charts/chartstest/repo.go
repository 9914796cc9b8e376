package chartstest

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/repo"
	"sigs.k8s.io/yaml"
)

// RepoOptions choose how a Helm repository is served.
type RepoOptions struct {
	TLS         bool // HTTPS, with a CA of its own (CAPEM)
	ClientCerts bool // HTTPS that requires a client certificate signed by its CA (ClientCert); implies TLS
	// Username and Password, when set, are required (basic auth) on every
	// request: the index and the archives.
	Username, Password string
	// RelativeURLs writes chart URLs relative to the repository (as many
	// real repositories do) instead of absolute ones.
	RelativeURLs bool
	// NoDigests writes index entries without a digest, as older
	// repository tools did.
	NoDigests bool
}

// Repo is a Helm chart repository on loopback: GET /index.yaml and GET
// /<name>-<version>.tgz.
type Repo struct {
	front
	opts RepoOptions

	mu        sync.Mutex
	index     *repo.IndexFile
	files     map[string][]byte    // path without the leading slash → body
	versions  map[string][2]string // archive path → name, version
	redirects map[string]string    // path → where it redirects to
}

// NewRepo starts a Helm repository, stopped when the test ends.
func NewRepo(t testing.TB, o RepoOptions) *Repo {
	t.Helper()
	r := &Repo{
		opts:      o,
		index:     repo.NewIndexFile(),
		files:     map[string][]byte{},
		versions:  map[string][2]string{},
		redirects: map[string]string{},
	}
	start(t, &r.front, http.HandlerFunc(r.serve), o.TLS || o.ClientCerts, o.ClientCerts)
	return r
}

// URL is the repository's URL (http:// or https://, no trailing slash): what
// a ConfigSync's repoURL names.
func (r *Repo) URL() string { return r.srv.URL }

// Host is host:port of the server, as an allowlist names it.
func (r *Repo) Host() string {
	return strings.TrimPrefix(strings.TrimPrefix(r.srv.URL, "https://"), "http://")
}

// Publish packages c, serves it, adds it to the index and returns the
// archive's digest ("sha256:<hex>", what Pinned.Digest and Chart.lock name).
func (r *Repo) Publish(t testing.TB, c *chart.Chart) string {
	t.Helper()
	return r.PublishArchive(t, c.Metadata, Package(t, c))
}

// PublishArchive serves an archive as the given chart version, as a
// repository whose index was built from these bytes does.
func (r *Repo) PublishArchive(t testing.TB, md *chart.Metadata, tgz []byte) string {
	t.Helper()
	file := md.Name + "-" + md.Version + ".tgz"
	digest := Digest(tgz)
	base := r.URL()
	if r.opts.RelativeURLs {
		base = ""
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.index.Has(md.Name, md.Version) {
		t.Fatalf("chart %s %s is already published", md.Name, md.Version)
	}
	indexDigest := strings.TrimPrefix(digest, "sha256:")
	if r.opts.NoDigests {
		indexDigest = ""
	}
	if err := r.index.MustAdd(md, file, base, indexDigest); err != nil {
		t.Fatalf("index chart %s %s: %v", md.Name, md.Version, err)
	}
	r.index.SortEntries()
	r.files[file] = tgz
	r.versions[file] = [2]string{md.Name, md.Version}
	return digest
}

// Serve makes the repository answer GET /<file> with data (a .prov beside
// an archive, say) without adding it to the index.
func (r *Repo) Serve(file string, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.files[file] = data
}

// Archive is the archive published as name-version (packaging again would
// not give the same bytes: an archive records the time it was made).
func (r *Repo) Archive(name, version string) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.files[name+"-"+version+".tgz"]
}

// Tamper makes the server send other bytes for a published version than
// the ones its index's digest was computed from (a compromised mirror).
func (r *Repo) Tamper(t testing.TB, name, version string) {
	t.Helper()
	other := Package(t, Chart(name, version, map[string]string{"evil.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: evil\n"}))
	r.mu.Lock()
	defer r.mu.Unlock()
	file := name + "-" + version + ".tgz"
	if _, ok := r.files[file]; !ok {
		t.Fatalf("chart %s %s is not published", name, version)
	}
	r.files[file] = other
}

// SetChartURL makes the index name url as the archive of a version (a chart
// kept on another host, which the index may legitimately do).
func (r *Repo) SetChartURL(t testing.TB, name, version, url string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	cv, err := r.index.Get(name, version)
	if err != nil || cv.Version != version {
		t.Fatalf("chart %s %s is not published", name, version)
	}
	cv.URLs = []string{url}
}

// Redirect makes GET of path (e.g. "/index.yaml") answer 302 to url; an
// empty url ends the redirect.
func (r *Repo) Redirect(path, url string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if url == "" {
		delete(r.redirects, path)
		return
	}
	r.redirects[path] = url
}

// Unpublish removes a version from the index (its archive stays served).
func (r *Repo) Unpublish(name, version string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	vs := r.index.Entries[name]
	for i, cv := range vs {
		if cv.Version == version {
			r.index.Entries[name] = append(vs[:i:i], vs[i+1:]...)
			return
		}
	}
}

func (r *Repo) serve(w http.ResponseWriter, req *http.Request) {
	if !r.authorized(req) {
		w.Header().Set("WWW-Authenticate", `Basic realm="chartstest"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	r.mu.Lock()
	to, redirect := r.redirects[req.URL.Path]
	r.mu.Unlock()
	if redirect {
		http.Redirect(w, req, to, http.StatusFound)
		return
	}
	if req.URL.Path == "/index.yaml" {
		r.serveIndex(w)
		return
	}
	r.serveArchive(w, req)
}

func (r *Repo) authorized(req *http.Request) bool {
	if r.opts.Username == "" {
		return true
	}
	user, pass, ok := req.BasicAuth()
	return ok && user == r.opts.Username && pass == r.opts.Password
}

func (r *Repo) serveIndex(w http.ResponseWriter) {
	r.mu.Lock()
	body, err := yaml.Marshal(r.index)
	r.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-yaml")
	_, _ = w.Write(body)
}

func (r *Repo) serveArchive(w http.ResponseWriter, req *http.Request) {
	file := strings.TrimPrefix(req.URL.Path, "/")
	r.mu.Lock()
	body, ok := r.files[file]
	nv := r.versions[file]
	r.mu.Unlock()
	if !ok {
		http.NotFound(w, req)
		return
	}
	if req.Method == http.MethodGet {
		r.countDownload(nv[0], nv[1])
	}
	w.Header().Set("Content-Type", "application/gzip")
	_, _ = w.Write(body)
}
