// Package chartstest starts real chart servers on loopback for tests and
// benchmarks: a Helm repository (index.yaml + .tgz over HTTP or HTTPS, with
// basic auth or TLS client certificates) and an OCI registry (the
// distribution registry Helm's own tests use, with htpasswd basic auth).
// Both count what they serve, so a test can say "one download", and both can
// be taken down to play an outage.
//
// Helm's repo/repotest is what this grows from, but it cannot be used as is:
// its basic-auth middleware only reports a wrong password through t.Errorf
// and serves the file anyway, its StartTLS reads certificates from
// ../../testdata relative to the working directory (helm's own tree), it has
// no client-certificate mode, and NewOCIServer needs a *testing.T and a
// fixture archive. The parts that matter are the same: the index is built
// with helm's pkg/repo (IndexFile.MustAdd, SortEntries), archives with
// chartutil.Save, the registry is distribution's registry app, and charts are
// pushed with helm's pkg/registry client, as `helm push` does.
package chartstest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
)

// Chart builds a chart in memory: Chart.yaml with name and version, and
// templates by file name (under templates/). A nil templates map gives one
// ConfigMap named after the chart that shows its version, so tests can tell
// which version rendered.
func Chart(name, version string, templates map[string]string) *chart.Chart {
	if templates == nil {
		templates = map[string]string{"configmap.yaml": fmt.Sprintf(
			"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-%s\ndata:\n  version: %q\n  replicas: {{ .Values.replicas | default 1 | quote }}\n",
			name, version)}
	}
	c := &chart.Chart{Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: name, Version: version, Type: "application"}}
	for file, body := range templates {
		c.Templates = append(c.Templates, &chart.File{Name: "templates/" + file, Data: []byte(body)})
	}
	return c
}

// LoadDir reads a chart folder (Chart.yaml, templates/, values.yaml...) with
// helm's loader.
func LoadDir(t testing.TB, dir string) *chart.Chart {
	t.Helper()
	c, err := loader.LoadDir(dir)
	if err != nil {
		t.Fatalf("load chart %s: %v", dir, err)
	}
	return c
}

// Package returns the .tgz of c as `helm package` writes it.
func Package(t testing.TB, c *chart.Chart) []byte {
	t.Helper()
	dir := t.TempDir()
	path, err := chartutil.Save(c, dir)
	if err != nil {
		t.Fatalf("package chart %s: %v", c.Name(), err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// Digest is "sha256:<hex>" of data.
func Digest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// front is what both servers share: a loopback HTTP(S) server in front of
// the real handler that counts requests and can play an outage.
type front struct {
	srv      *httptest.Server
	ca       *authority // nil for plain HTTP
	requests atomic.Int64
	withAuth atomic.Int64
	down     atomic.Bool
	hang     atomic.Bool
	stop     chan struct{} // closed when the test ends: hung requests return

	mu        sync.Mutex
	downloads map[string]int // by "name-version"
}

func (f *front) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		if r.Header.Get("Authorization") != "" {
			f.withAuth.Add(1)
		}
		if f.down.Load() {
			abort(w)
			return
		}
		if f.hang.Load() {
			// Accept the request and never answer, as an overloaded host
			// does; the client's timeout is what ends it.
			select {
			case <-r.Context().Done():
			case <-f.stop:
			}
			return
		}
		next.ServeHTTP(w, r)
	})
}

// abort drops the connection without an answer, as a host that went away
// mid-request does.
func abort(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func (f *front) countDownload(name, version string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.downloads[name+"-"+version]++
}

// Requests is every request that reached the server, including refused ones.
func (f *front) Requests() int { return int(f.requests.Load()) }

// RequestsWithCredentials is the requests that carried an Authorization
// header, right or wrong: a host that should never see credentials must
// count none.
func (f *front) RequestsWithCredentials() int { return int(f.withAuth.Load()) }

// Downloads is how many times the archive of one chart version was served
// (successfully authorized and sent).
func (f *front) Downloads(name, version string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.downloads[name+"-"+version]
}

// SetDown makes the server drop every connection (true) or serve again.
func (f *front) SetDown(down bool) { f.down.Store(down) }

// SetHang makes the server accept requests and answer none (true), until
// the client gives up or the test ends, or serve again (false).
func (f *front) SetHang(hang bool) { f.hang.Store(hang) }

// CAPEM is the PEM of the CA that signed the server's certificate (and the
// client certificates of ClientCert); nil for a plain HTTP server.
func (f *front) CAPEM() []byte {
	if f.ca == nil {
		return nil
	}
	return f.ca.certPEM
}

// ClientCert returns a client certificate and key (PEM) signed by the
// server's CA, which a server started with client certificates accepts.
func (f *front) ClientCert(t testing.TB) (certPEM, keyPEM []byte) {
	t.Helper()
	if f.ca == nil {
		t.Fatal("client certificates need a TLS server")
	}
	return f.ca.issue(t, "chartstest-client", false)
}

func start(t testing.TB, f *front, h http.Handler, tlsOn, clientCerts bool) {
	t.Helper()
	f.downloads = map[string]int{}
	f.stop = make(chan struct{})
	f.srv = httptest.NewUnstartedServer(f.wrap(h))
	if tlsOn {
		f.ca = newAuthority(t)
		f.srv.TLS = f.ca.serverTLS(t, clientCerts)
		f.srv.StartTLS()
	} else {
		f.srv.Start()
	}
	t.Cleanup(f.srv.Close)
	t.Cleanup(func() { close(f.stop) }) // runs first: Close waits for hung requests
}

// writeFile is a helper for tests that build chart folders on disk.
func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// WriteChartDir writes c as a chart folder under dir (dir/<name>/...) and
// returns its path, for tests that need a chart in a tree (an umbrella chart
// in Git) or the reference CLI to read.
func WriteChartDir(t testing.TB, dir string, c *chart.Chart) string {
	t.Helper()
	tgz := Package(t, c)
	if err := chartutil.Expand(dir, bytes.NewReader(tgz)); err != nil {
		t.Fatalf("expand chart %s: %v", c.Name(), err)
	}
	return filepath.Join(dir, c.Name())
}
