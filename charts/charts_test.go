package charts_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/configsync/configsync/charts"
	"github.com/configsync/configsync/charts/chartstest"
	"github.com/configsync/configsync/internal/failure"
)

func pushVersions(t *testing.T, r *chartstest.Registry, versions ...string) map[string]string {
	t.Helper()
	digests := map[string]string{}
	for _, v := range versions {
		digests[v] = r.Push(t, chartstest.Chart("app", v, nil))
	}
	return digests
}

var versions = []string{"1.0.0", "1.1.0", "1.2.3", "2.0.0", "2.1.0-rc.1"}

type resolveCase struct {
	name, chart, version, digest string
	wantVersion                  string
	wantReason                   string
}

func resolveCases(digests map[string]string) []resolveCase {
	return []resolveCase{
		{name: "exact", chart: "app", version: "1.1.0", wantVersion: "1.1.0"},
		{name: "range", chart: "app", version: "^1.0", wantVersion: "1.2.3"},
		{name: "two-sided range", chart: "app", version: ">=1.0 <2", wantVersion: "1.2.3"},
		{name: "newest", chart: "app", version: "", wantVersion: "2.0.0"},
		{name: "prerelease excluded from a range", chart: "app", version: ">=2.0", wantVersion: "2.0.0"},
		{name: "prerelease by exact version", chart: "app", version: "2.1.0-rc.1", wantVersion: "2.1.0-rc.1"},
		{name: "digest pin", chart: "app", version: "", digest: digests["1.1.0"], wantVersion: "1.1.0"},
		{name: "digest pin with a range", chart: "app", version: "^1.0", digest: digests["1.0.0"], wantVersion: "1.0.0"},
		{name: "digest pin outside the range", chart: "app", version: "^2.0", digest: digests["1.0.0"], wantReason: charts.ReasonChartDigestMismatch},
		{name: "unknown chart", chart: "nope", version: "", wantReason: charts.ReasonChartNotFound},
		{name: "unknown version", chart: "app", version: "9.9.9", wantReason: charts.ReasonChartVersionNotFound},
		{name: "no match of a range", chart: "app", version: "^3", wantReason: charts.ReasonChartVersionNotFound},
		{name: "not a constraint", chart: "app", version: "one", wantReason: charts.ReasonChartInvalid},
	}
}

func TestResolveHelmRepository(t *testing.T) {
	r := chartstest.NewRepo(t, chartstest.RepoOptions{RelativeURLs: true})
	digests := publishVersions(t, r, versions...)
	f := charts.New(plain())
	for _, tc := range resolveCases(digests) {
		t.Run(tc.name, func(t *testing.T) {
			p, err := f.Resolve(context.Background(), charts.Ref{RepoURL: r.URL(), Name: tc.chart, Version: tc.version, Digest: tc.digest}, nil, false)
			wantReason(t, err, tc.wantReason)
			if tc.wantReason != "" {
				return
			}
			want := charts.Pinned{RepoURL: r.URL(), Name: "app", Version: tc.wantVersion, Digest: digests[tc.wantVersion]}
			if p != want {
				t.Fatalf("pinned %+v, want %+v", p, want)
			}
		})
	}
}

func TestResolveOCIByTagAndDigest(t *testing.T) {
	reg := chartstest.NewRegistry(t, chartstest.RegistryOptions{})
	digests := pushVersions(t, reg, versions...)
	f := charts.New(plain())
	for _, tc := range resolveCases(digests) {
		t.Run(tc.name, func(t *testing.T) {
			p, err := f.Resolve(context.Background(), charts.Ref{RepoURL: reg.URL(), Name: tc.chart, Version: tc.version, Digest: tc.digest}, nil, false)
			if tc.name == "digest pin with a range" || tc.name == "digest pin outside the range" {
				// OCI: the digest names one manifest; the constraint only
				// has to admit its version.
				tc.wantReason = map[string]string{"digest pin with a range": "", "digest pin outside the range": charts.ReasonChartDigestMismatch}[tc.name]
			}
			wantReason(t, err, tc.wantReason)
			if tc.wantReason != "" {
				return
			}
			want := charts.Pinned{RepoURL: reg.URL(), Name: "app", Version: tc.wantVersion, Digest: digests[tc.wantVersion]}
			if p != want {
				t.Fatalf("pinned %+v, want %+v", p, want)
			}
			data, err := f.Load(context.Background(), p, nil)
			wantReason(t, err, "")
			if want := reg.Archive("app", tc.wantVersion); !bytes.Equal(data, want) {
				t.Fatalf("loaded %d bytes, not the pushed archive (%d bytes)", len(data), len(want))
			}
		})
	}
	t.Run("unknown digest", func(t *testing.T) {
		_, err := f.Resolve(context.Background(), charts.Ref{RepoURL: reg.URL(), Name: "app", Digest: "sha256:" + strings.Repeat("0", 64)}, nil, false)
		wantReason(t, err, charts.ReasonChartVersionNotFound)
	})
}

func TestLoadVerifiesDigestAndSize(t *testing.T) {
	r := chartstest.NewRepo(t, chartstest.RepoOptions{})
	digests := publishVersions(t, r, "1.0.0", "1.1.0")
	reg := chartstest.NewRegistry(t, chartstest.RegistryOptions{})
	archive := r.Archive("app", "1.0.0")
	ociDigest := reg.PushArchive(t, "app", "1.0.0", archive) // the same bytes in both
	r.Tamper(t, "app", "1.1.0")

	cases := []struct {
		name   string
		opts   charts.Options
		pinned charts.Pinned
		want   string
	}{
		{"https repository, digest verified", plain(), charts.Pinned{RepoURL: r.URL(), Name: "app", Version: "1.0.0", Digest: digests["1.0.0"]}, ""},
		{"tampered archive", plain(), charts.Pinned{RepoURL: r.URL(), Name: "app", Version: "1.1.0", Digest: digests["1.1.0"]}, charts.ReasonChartDigestMismatch},
		{"recorded digest of another version", plain(), charts.Pinned{RepoURL: r.URL(), Name: "app", Version: "1.0.0", Digest: digests["1.1.0"]}, charts.ReasonChartDigestMismatch},
		{"version gone from the index", plain(), charts.Pinned{RepoURL: r.URL(), Name: "app", Version: "0.1.0", Digest: digests["1.0.0"]}, charts.ReasonChartVersionNotFound},
		{"no digest", plain(), charts.Pinned{RepoURL: r.URL(), Name: "app", Version: "1.0.0"}, charts.ReasonChartInvalid},
		{"over the size limit", charts.Options{AllowPlainHTTP: true, MaxChartBytes: int64(len(archive) - 1)}, charts.Pinned{RepoURL: r.URL(), Name: "app", Version: "1.0.0", Digest: digests["1.0.0"]}, charts.ReasonChartTooLarge},
		{"oci, digest verified", plain(), charts.Pinned{RepoURL: reg.URL(), Name: "app", Version: "1.0.0", Digest: ociDigest}, ""},
		{"oci over the size limit", charts.Options{AllowPlainHTTP: true, MaxChartBytes: int64(len(archive) - 1)}, charts.Pinned{RepoURL: reg.URL(), Name: "app", Version: "1.0.0", Digest: ociDigest}, charts.ReasonChartTooLarge},
		{"oci unknown manifest", plain(), charts.Pinned{RepoURL: reg.URL(), Name: "app", Version: "1.0.0", Digest: digests["1.0.0"]}, charts.ReasonChartVersionNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data, err := charts.New(tc.opts).Load(context.Background(), tc.pinned, nil)
			wantReason(t, err, tc.want)
			if tc.want == "" && !bytes.Equal(data, archive) {
				t.Fatalf("loaded %d bytes, not the published archive", len(data))
			}
		})
	}
}

func TestIndexOverSizeLimit(t *testing.T) {
	r := chartstest.NewRepo(t, chartstest.RepoOptions{})
	publishVersions(t, r, versions...)
	f := charts.New(charts.Options{AllowPlainHTTP: true, MaxIndexBytes: 100})
	_, err := f.Resolve(context.Background(), charts.Ref{RepoURL: r.URL(), Name: "app"}, nil, false)
	wantReason(t, err, charts.ReasonChartTooLarge)
}

func dockerConfig(host, user, pass string) []byte {
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	return []byte(fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, "https://"+host, auth))
}

func TestAuth(t *testing.T) {
	basic := chartstest.NewRepo(t, chartstest.RepoOptions{TLS: true, Username: "user", Password: secret})
	basic.Publish(t, chartstest.Chart("app", "1.0.0", nil))
	mtls := chartstest.NewRepo(t, chartstest.RepoOptions{ClientCerts: true})
	mtls.Publish(t, chartstest.Chart("app", "1.0.0", nil))
	other := chartstest.NewRepo(t, chartstest.RepoOptions{ClientCerts: true})
	reg := chartstest.NewRegistry(t, chartstest.RegistryOptions{Username: "user", Password: secret})
	reg.Push(t, chartstest.Chart("app", "1.0.0", nil))
	tlsReg := chartstest.NewRegistry(t, chartstest.RegistryOptions{TLS: true, Username: "user", Password: secret})
	tlsReg.Push(t, chartstest.Chart("app", "1.0.0", nil))

	certPEM, keyPEM := mtls.ClientCert(t)
	strangerCert, strangerKey := other.ClientCert(t) // signed by a CA the server does not trust
	cases := []struct {
		name  string
		repo  string
		opts  charts.Options
		creds *charts.Credentials
		want  string
	}{
		{"https basic auth, none", basic.URL(), charts.Options{}, &charts.Credentials{CAPEM: basic.CAPEM()}, charts.ReasonChartAuthFailed},
		{"https basic auth, wrong", basic.URL(), charts.Options{}, &charts.Credentials{Username: "user", Password: "wrong-" + secret, CAPEM: basic.CAPEM()}, charts.ReasonChartAuthFailed},
		{"https basic auth, right", basic.URL(), charts.Options{}, &charts.Credentials{Username: "user", Password: secret, CAPEM: basic.CAPEM()}, ""},
		{"https, server CA not trusted", basic.URL(), charts.Options{}, &charts.Credentials{Username: "user", Password: secret}, charts.ReasonChartAuthFailed},
		{"client certificate, none", mtls.URL(), charts.Options{}, &charts.Credentials{CAPEM: mtls.CAPEM()}, charts.ReasonChartAuthFailed},
		{"client certificate, unknown CA", mtls.URL(), charts.Options{}, &charts.Credentials{CAPEM: mtls.CAPEM(), CertPEM: strangerCert, KeyPEM: strangerKey}, charts.ReasonChartAuthFailed},
		{"client certificate, right", mtls.URL(), charts.Options{}, &charts.Credentials{CAPEM: mtls.CAPEM(), CertPEM: certPEM, KeyPEM: keyPEM}, ""},
		{"oci, none", reg.URL(), plain(), nil, charts.ReasonChartAuthFailed},
		{"oci, wrong", reg.URL(), plain(), &charts.Credentials{Username: "user", Password: "wrong-" + secret}, charts.ReasonChartAuthFailed},
		{"oci, right", reg.URL(), plain(), &charts.Credentials{Username: "user", Password: secret}, ""},
		{"oci, dockerconfigjson", reg.URL(), plain(), &charts.Credentials{DockerConfigJSON: dockerConfig(reg.Host(), "user", secret)}, ""},
		{"oci over TLS, right", tlsReg.URL(), charts.Options{}, &charts.Credentials{Username: "user", Password: secret, CAPEM: tlsReg.CAPEM()}, ""},
		{"oci over TLS, CA not trusted", tlsReg.URL(), charts.Options{}, &charts.Credentials{Username: "user", Password: secret}, charts.ReasonChartAuthFailed},
		{"oci over TLS, wrong", tlsReg.URL(), charts.Options{}, &charts.Credentials{Username: "user", Password: "wrong", CAPEM: tlsReg.CAPEM()}, charts.ReasonChartAuthFailed},
		{"oci, dockerconfigjson for another host", reg.URL(), plain(), &charts.Credentials{DockerConfigJSON: dockerConfig("elsewhere.example:5000", "user", secret)}, charts.ReasonChartAuthFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := charts.New(tc.opts)
			p, err := f.Resolve(context.Background(), charts.Ref{RepoURL: tc.repo, Name: "app", Version: "1.0.0"}, tc.creds, false)
			if err == nil {
				_, err = f.Load(context.Background(), p, tc.creds)
			}
			wantReason(t, err, tc.want)
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	r := chartstest.NewRepo(t, chartstest.RepoOptions{})
	publishVersions(t, r, "1.0.0")
	reg := chartstest.NewRegistry(t, chartstest.RegistryOptions{})
	pushVersions(t, reg, "1.0.0")
	r.SetDown(true)
	reg.SetDown(true)
	for _, repoURL := range []string{r.URL(), reg.URL()} {
		t.Run(repoURL, func(t *testing.T) {
			_, err := charts.New(plain()).Resolve(context.Background(), charts.Ref{RepoURL: repoURL, Name: "app"}, nil, false)
			wantReason(t, err, charts.ReasonChartUnreachable)
			var ce *charts.Error
			if errors.As(err, &ce) && !ce.Transient() {
				t.Fatal("an unreachable host is transient")
			}
		})
	}
	t.Run("timeout", func(t *testing.T) {
		hung := chartstest.NewRepo(t, chartstest.RepoOptions{})
		hung.SetHang(true)
		o := plain()
		o.Timeout = 200 * time.Millisecond
		_, err := charts.New(o).Resolve(context.Background(), charts.Ref{RepoURL: hung.URL(), Name: "app"}, nil, false)
		wantReason(t, err, charts.ReasonChartUnreachable)
		if !strings.Contains(err.Error(), "timed out") || !strings.Contains(err.Error(), hung.URL()+"/app") {
			t.Fatalf("the error does not say it timed out: %v", err)
		}
	})
	t.Run("caller gave up", func(t *testing.T) {
		r.SetDown(false)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := charts.New(plain()).Resolve(ctx, charts.Ref{RepoURL: r.URL(), Name: "app"}, nil, false)
		wantReason(t, err, charts.ReasonChartUnreachable)
	})
}

// The manager's policy refuses before any request leaves the operator.
func TestPolicyRefusesBeforeAnyRequest(t *testing.T) {
	r := chartstest.NewRepo(t, chartstest.RepoOptions{})
	digests := publishVersions(t, r, "1.0.0")
	reg := chartstest.NewRegistry(t, chartstest.RegistryOptions{})
	ociDigests := pushVersions(t, reg, "1.0.0")
	before, beforeOCI := r.Requests(), reg.Requests()
	cases := []struct {
		name string
		opts charts.Options
		repo string
		dig  string
		want string
	}{
		{"host not allowed", charts.Options{AllowPlainHTTP: true, AllowedHosts: []string{"charts.example.com"}}, r.URL(), digests["1.0.0"], charts.ReasonChartHostNotAllowed},
		{"other port of an allowed host:port", charts.Options{AllowPlainHTTP: true, AllowedHosts: []string{"127.0.0.1:1"}}, r.URL(), digests["1.0.0"], charts.ReasonChartHostNotAllowed},
		{"oci host not allowed", charts.Options{AllowPlainHTTP: true, AllowedHosts: []string{"charts.example.com"}}, reg.URL(), ociDigests["1.0.0"], charts.ReasonChartHostNotAllowed},
		{"remote charts disabled", charts.Options{AllowPlainHTTP: true, Disabled: true}, r.URL(), digests["1.0.0"], charts.ReasonRemoteChartsDisabled},
		{"oci, remote charts disabled", charts.Options{AllowPlainHTTP: true, Disabled: true}, reg.URL(), ociDigests["1.0.0"], charts.ReasonRemoteChartsDisabled},
		{"plain http refused", charts.Options{}, r.URL(), digests["1.0.0"], charts.ReasonChartHostNotAllowed},
		{"scheme not allowed", plain(), strings.Replace(r.URL(), "http://", "ftp://", 1), digests["1.0.0"], charts.ReasonChartInvalid},
		{"credentials in the URL", plain(), strings.Replace(r.URL(), "http://", "http://user:"+secret+"@", 1), digests["1.0.0"], charts.ReasonChartInvalid},
		{"a token as the URL's user", plain(), strings.Replace(r.URL(), "http://", "http://"+secret+"@", 1), digests["1.0.0"], charts.ReasonChartInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := charts.New(tc.opts)
			_, err := f.Resolve(context.Background(), charts.Ref{RepoURL: tc.repo, Name: "app"}, nil, true)
			wantReason(t, err, tc.want)
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("the error shows the password: %v", err)
			}
			_, err = f.Load(context.Background(), charts.Pinned{RepoURL: tc.repo, Name: "app", Version: "1.0.0", Digest: tc.dig}, nil)
			wantReason(t, err, tc.want)
			if tc.name == "scheme not allowed" {
				return // not a remote dependency: the chart's own tree
			}
			_, _, err = f.Dependencies(context.Background(), []byte("apiVersion: v2\nname: umbrella\nversion: 1.0.0\ndependencies:\n- name: app\n  version: 1.0.0\n  repository: "+tc.repo+"\n"), nil, nil)
			wantReason(t, err, tc.want)
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
	if n := r.Requests() - before; n != 0 {
		t.Fatalf("%d requests reached the repository", n)
	}
	if n := reg.Requests() - beforeOCI; n != 0 {
		t.Fatalf("%d requests reached the registry", n)
	}
	t.Run("allowed host", func(t *testing.T) {
		f := charts.New(charts.Options{AllowPlainHTTP: true, AllowedHosts: []string{"127.0.0.1"}})
		_, err := f.Resolve(context.Background(), charts.Ref{RepoURL: r.URL(), Name: "app"}, nil, false)
		wantReason(t, err, "")
	})
}

// A repository may redirect or name chart URLs on other hosts: those hosts
// pass the allowlist too, and never see the repository's credentials.
func TestOtherHosts(t *testing.T) {
	r := chartstest.NewRepo(t, chartstest.RepoOptions{Username: "user", Password: secret})
	publishVersions(t, r, "1.0.0", "1.1.0")
	elsewhere := chartstest.NewRepo(t, chartstest.RepoOptions{})
	elsewhereDigest := elsewhere.Publish(t, chartstest.Chart("app", "1.0.0", nil))
	creds := &charts.Credentials{Username: "user", Password: secret}
	onlyRepo := charts.Options{AllowPlainHTTP: true, AllowedHosts: []string{r.Host()}}

	t.Run("chart URL on a host not allowed", func(t *testing.T) {
		r.SetChartURL(t, "app", "1.0.0", elsewhere.URL()+"/app-1.0.0.tgz")
		_, err := charts.New(onlyRepo).Load(context.Background(), charts.Pinned{RepoURL: r.URL(), Name: "app", Version: "1.0.0", Digest: elsewhereDigest}, creds)
		wantReason(t, err, charts.ReasonChartHostNotAllowed)
		if n := elsewhere.Requests(); n != 0 {
			t.Fatalf("%d requests reached the other host", n)
		}
	})
	t.Run("chart URL on an allowed host gets no credentials", func(t *testing.T) {
		both := charts.Options{AllowPlainHTTP: true, AllowedHosts: []string{r.Host(), elsewhere.Host()}}
		_, err := charts.New(both).Load(context.Background(), charts.Pinned{RepoURL: r.URL(), Name: "app", Version: "1.0.0", Digest: elsewhereDigest}, creds)
		wantReason(t, err, "")
		if elsewhere.Downloads("app", "1.0.0") != 1 {
			t.Fatal("the chart was not downloaded from the other host")
		}
		if n := elsewhere.RequestsWithCredentials(); n != 0 {
			t.Fatalf("the other host got credentials %d times", n)
		}
	})
	t.Run("redirect to a host not allowed", func(t *testing.T) {
		before := elsewhere.Requests()
		r.Redirect("/index.yaml", elsewhere.URL()+"/index.yaml")
		defer r.Redirect("/index.yaml", "")
		_, err := charts.New(onlyRepo).Resolve(context.Background(), charts.Ref{RepoURL: r.URL(), Name: "app"}, creds, true)
		wantReason(t, err, charts.ReasonChartHostNotAllowed)
		if n := elsewhere.Requests() - before; n != 0 {
			t.Fatalf("%d requests reached the other host", n)
		}
	})
	t.Run("redirect to an allowed host drops credentials", func(t *testing.T) {
		before := elsewhere.RequestsWithCredentials()
		r.Redirect("/index.yaml", elsewhere.URL()+"/index.yaml")
		defer r.Redirect("/index.yaml", "")
		p, err := charts.New(plain()).Resolve(context.Background(), charts.Ref{RepoURL: r.URL(), Name: "app"}, creds, true)
		wantReason(t, err, "")
		if p.Version != "1.0.0" || p.Digest != elsewhereDigest {
			t.Fatalf("pinned %+v, want the other host's index", p)
		}
		if n := elsewhere.RequestsWithCredentials() - before; n != 0 {
			t.Fatalf("the other host got credentials %d times", n)
		}
	})
}

func TestConcurrentLoadsDownloadOnce(t *testing.T) {
	r := chartstest.NewRepo(t, chartstest.RepoOptions{})
	digests := publishVersions(t, r, "1.0.0")
	reg := chartstest.NewRegistry(t, chartstest.RegistryOptions{})
	ociDigests := pushVersions(t, reg, "1.0.0")
	cases := []struct {
		name   string
		pinned charts.Pinned
		count  func() int
	}{
		{"https", charts.Pinned{RepoURL: r.URL(), Name: "app", Version: "1.0.0", Digest: digests["1.0.0"]}, func() int { return r.Downloads("app", "1.0.0") }},
		{"oci", charts.Pinned{RepoURL: reg.URL(), Name: "app", Version: "1.0.0", Digest: ociDigests["1.0.0"]}, func() int { return reg.Downloads("app", "1.0.0") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := charts.New(plain())
			var wg sync.WaitGroup
			errs := make(chan error, 20)
			for range 20 {
				wg.Go(func() {
					ref := charts.Ref{RepoURL: tc.pinned.RepoURL, Name: "app", Version: "^1"}
					p, err := f.Resolve(context.Background(), ref, nil, false)
					if err == nil {
						_, err = f.Load(context.Background(), p, nil)
					}
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				wantReason(t, err, "")
			}
			if n := tc.count(); n != 1 {
				t.Fatalf("%d downloads for 20 concurrent loads, want 1", n)
			}
		})
	}
}

// Digests are in status and history, which many can read: knowing one must
// not be enough to get a private chart another tenant's credentials fetched,
// nor its index.
func TestCacheDoesNotLeakPrivateCharts(t *testing.T) {
	r := chartstest.NewRepo(t, chartstest.RepoOptions{Username: "user", Password: secret})
	digests := publishVersions(t, r, "1.0.0")
	reg := chartstest.NewRegistry(t, chartstest.RegistryOptions{Username: "user", Password: secret})
	ociDigests := pushVersions(t, reg, "1.0.0")
	owner := &charts.Credentials{Username: "user", Password: secret}
	for _, tc := range []struct {
		name   string
		pinned charts.Pinned
	}{
		{"https", charts.Pinned{RepoURL: r.URL(), Name: "app", Version: "1.0.0", Digest: digests["1.0.0"]}},
		{"oci", charts.Pinned{RepoURL: reg.URL(), Name: "app", Version: "1.0.0", Digest: ociDigests["1.0.0"]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := charts.New(plain())
			ref := charts.Ref{RepoURL: tc.pinned.RepoURL, Name: "app"}
			if _, err := f.Resolve(context.Background(), ref, owner, false); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Load(context.Background(), tc.pinned, owner); err != nil {
				t.Fatal(err)
			}
			for _, attacker := range []*charts.Credentials{nil, {Username: "user", Password: "guess"}, {Username: "user"}} {
				_, err := f.Load(context.Background(), tc.pinned, attacker)
				wantReason(t, err, charts.ReasonChartAuthFailed)
				_, err = f.Resolve(context.Background(), ref, attacker, false)
				wantReason(t, err, charts.ReasonChartAuthFailed)
			}
			if _, err := f.Load(context.Background(), tc.pinned, &charts.Credentials{Username: "user", Password: secret}); err != nil {
				t.Fatalf("the same credentials from another Secret: %v", err)
			}
		})
	}
}

// A new version is seen after the TTL or at once on a reconcile request.
func TestIndexTTLAndRefresh(t *testing.T) {
	r := chartstest.NewRepo(t, chartstest.RepoOptions{})
	publishVersions(t, r, "1.0.0")
	reg := chartstest.NewRegistry(t, chartstest.RegistryOptions{})
	pushVersions(t, reg, "1.0.0")
	for _, tc := range []struct {
		name    string
		repoURL string
		publish func()
	}{
		{"https", r.URL(), func() { publishVersions(t, r, "1.1.0") }},
		{"oci", reg.URL(), func() { pushVersions(t, reg, "1.1.0") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := charts.New(plain())
			ref := charts.Ref{RepoURL: tc.repoURL, Name: "app", Version: "^1"}
			resolve := func(refresh bool) string {
				p, err := f.Resolve(context.Background(), ref, nil, refresh)
				wantReason(t, err, "")
				return p.Version
			}
			if v := resolve(false); v != "1.0.0" {
				t.Fatalf("resolved %s", v)
			}
			tc.publish()
			if v := resolve(false); v != "1.0.0" {
				t.Fatalf("within the TTL: resolved %s, want the cached 1.0.0", v)
			}
			if v := resolve(true); v != "1.1.0" {
				t.Fatalf("refresh: resolved %s, want 1.1.0", v)
			}
			if v := resolve(false); v != "1.1.0" {
				t.Fatalf("after a refresh: resolved %s, want 1.1.0", v)
			}
		})
	}
	t.Run("ttl", func(t *testing.T) {
		f := charts.New(charts.Options{AllowPlainHTTP: true, IndexTTL: time.Nanosecond})
		before := r.Requests()
		for range 2 {
			if _, err := f.Resolve(context.Background(), charts.Ref{RepoURL: r.URL(), Name: "app"}, nil, false); err != nil {
				t.Fatal(err)
			}
		}
		if n := r.Requests() - before; n != 2 {
			t.Fatalf("%d index reads, want 2 with an expired TTL", n)
		}
	})
}

func BenchmarkResolveAndLoadCached(b *testing.B) {
	r := chartstest.NewRepo(b, chartstest.RepoOptions{})
	r.Publish(b, chartstest.Chart("app", "1.0.0", nil))
	f := charts.New(charts.Options{AllowPlainHTTP: true})
	ref := charts.Ref{RepoURL: r.URL(), Name: "app", Version: "^1"}
	for b.Loop() {
		p, err := f.Resolve(context.Background(), ref, nil, false)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Load(context.Background(), p, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(r.Downloads("app", "1.0.0")), "downloads")
}

// The first sync of a chart: index read and archive download over loopback.
func BenchmarkResolveAndLoadCold(b *testing.B) {
	r := chartstest.NewRepo(b, chartstest.RepoOptions{})
	r.Publish(b, chartstest.Chart("app", "1.0.0", nil))
	ref := charts.Ref{RepoURL: r.URL(), Name: "app", Version: "^1"}
	for b.Loop() {
		f := charts.New(charts.Options{AllowPlainHTTP: true})
		p, err := f.Resolve(context.Background(), ref, nil, false)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Load(context.Background(), p, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// A repoURL may name any host the operator reaches: what such a host
// answers must not come back to the tenant through the error.
func TestNonRepositoryAnswerIsNotQuoted(t *testing.T) {
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		// A YAML parser quotes an unknown anchor in its error.
		_, _ = w.Write([]byte("apiVersion: v1\nentries: *internal-token-tok-1234\n"))
	}))
	t.Cleanup(internal.Close)
	_, err := charts.New(plain()).Resolve(context.Background(), charts.Ref{RepoURL: internal.URL, Name: "app"}, nil, false)
	wantReason(t, err, charts.ReasonChartInvalid)
	if strings.Contains(err.Error(), "tok-1234") || strings.Contains(err.Error(), "internal-token") {
		t.Fatalf("the error quotes the answer: %v", err)
	}
}

// A fleet of ConfigSyncs on one chart costs what the first one cost: the
// 2nd to 100th resolve and load send no request.
func TestFleetCostsOneFetch(t *testing.T) {
	r := chartstest.NewRepo(t, chartstest.RepoOptions{})
	publishVersions(t, r, "1.0.0")
	reg := chartstest.NewRegistry(t, chartstest.RegistryOptions{})
	ociDigest := reg.Push(t, chartstest.Chart("app", "1.0.0", nil))
	for _, tc := range []struct {
		name     string
		ref      charts.Ref
		requests func() int
	}{
		{"https range", charts.Ref{RepoURL: r.URL(), Name: "app", Version: "^1"}, r.Requests},
		{"oci tag", charts.Ref{RepoURL: reg.URL(), Name: "app", Version: "1.0.0"}, reg.Requests},
		{"oci digest", charts.Ref{RepoURL: reg.URL(), Name: "app", Digest: ociDigest}, reg.Requests},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := charts.New(plain())
			sync := func() {
				p, err := f.Resolve(context.Background(), tc.ref, nil, false)
				if err == nil {
					_, err = f.Load(context.Background(), p, nil)
				}
				wantReason(t, err, "")
			}
			before := tc.requests()
			sync()
			first := tc.requests() - before
			t.Logf("the first sync sent %d requests", first)
			for range 99 {
				sync()
			}
			if n := tc.requests() - before; n != first {
				t.Fatalf("100 syncs sent %d requests, the first alone %d", n, first)
			}
		})
	}
}

// The archive cache holds at most MaxCacheBytes: past it the least
// recently used archive leaves and is downloaded again when asked for.
func TestArchiveCacheIsBounded(t *testing.T) {
	r := chartstest.NewRepo(t, chartstest.RepoOptions{})
	digests := publishVersions(t, r, "1.0.0", "1.1.0")
	o := plain()
	o.MaxCacheBytes = int64(len(r.Archive("app", "1.0.0")) + len(r.Archive("app", "1.1.0")) - 1) // one fits, not both
	f := charts.New(o)
	load := func(v string) {
		t.Helper()
		_, err := f.Load(context.Background(), charts.Pinned{RepoURL: r.URL(), Name: "app", Version: v, Digest: digests[v]}, nil)
		wantReason(t, err, "")
	}
	load("1.0.0")
	load("1.0.0")
	if n := r.Downloads("app", "1.0.0"); n != 1 {
		t.Fatalf("1.0.0 downloaded %d times while cached, want 1", n)
	}
	load("1.1.0") // evicts 1.0.0
	load("1.0.0")
	if n := r.Downloads("app", "1.0.0"); n != 2 {
		t.Fatalf("1.0.0 downloaded %d times, want 2 (evicted by 1.1.0)", n)
	}
}

// An index without digests: the version is pinned by downloading it, once
// for a fleet, and the Load that follows is served from that download.
func TestIndexWithoutDigests(t *testing.T) {
	r := chartstest.NewRepo(t, chartstest.RepoOptions{NoDigests: true})
	digests := publishVersions(t, r, "1.0.0")
	f := charts.New(plain())
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			p, err := f.Resolve(context.Background(), charts.Ref{RepoURL: r.URL(), Name: "app"}, nil, false)
			if err == nil && p.Digest != digests["1.0.0"] {
				err = fmt.Errorf("pinned digest %s, want the archive's %s", p.Digest, digests["1.0.0"])
			}
			if err == nil {
				_, err = f.Load(context.Background(), p, nil)
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := r.Downloads("app", "1.0.0"); n != 1 {
		t.Fatalf("%d downloads, want 1", n)
	}
}

// Without an allowlist the manager refuses its own addresses: a tenant's
// repoURL naming loopback (by address or by a name resolving there) opens
// no connection, over a Helm repository or an OCI registry. An attacker
// listener counts the connections; the same fetcher without the option
// reaches it, so the count can tell.
func TestLocalAddressesAreRefusedWithoutAnAllowlist(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	refs := []string{
		fmt.Sprintf("http://127.0.0.1:%d/charts", port),
		fmt.Sprintf("http://localhost:%d/charts", port),
		fmt.Sprintf("oci://127.0.0.1:%d/charts", port),
		fmt.Sprintf("http://[::ffff:127.0.0.1]:%d/charts", port),
	}
	refusing := charts.New(charts.Options{AllowPlainHTTP: true, RefuseLocalAddresses: true})
	for _, repo := range refs {
		_, err := refusing.Resolve(context.Background(), charts.Ref{RepoURL: repo, Name: "app"}, nil, true)
		wantReason(t, err, charts.ReasonChartHostNotAllowed)
		if err != nil && !strings.Contains(err.Error(), "local to the operator") {
			t.Errorf("%s: %v, want it to say the address is the operator's own", repo, err)
		}
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("%d connection(s) reached the attacker's listener", n)
	}
	open := charts.New(charts.Options{AllowPlainHTTP: true})
	_, _ = open.Resolve(context.Background(), charts.Ref{RepoURL: refs[0], Name: "app"}, nil, true)
	if conns.Load() == 0 {
		t.Fatal("without the option the listener saw no connection: the count proves nothing")
	}
}

// The environment's proxy is the admin's: a loopback sidecar proxy is
// dialled although loopback is refused, every request goes to it, and a
// literal metadata address is refused before it reaches the proxy.
func TestARefusingFetcherStillUsesTheEnvironmentsProxy(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.Method+" "+r.Host)
		mu.Unlock()
		http.Error(w, "no upstream", http.StatusBadGateway)
	}))
	t.Cleanup(proxy.Close)
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("HTTPS_PROXY", proxy.URL)
	t.Setenv("NO_PROXY", "")
	f := charts.New(charts.Options{AllowPlainHTTP: true, RefuseLocalAddresses: true})
	_, err := f.Resolve(context.Background(), charts.Ref{RepoURL: "http://charts.example.com/stable", Name: "app"}, nil, true)
	if failure.ReasonOf(err) == charts.ReasonChartHostNotAllowed {
		t.Fatalf("the loopback proxy was refused: %v", err)
	}
	for _, repo := range []string{"http://169.254.169.254/latest", "http://100.100.100.200/latest", "http://[fd00:ec2::254]/latest"} {
		_, err = f.Resolve(context.Background(), charts.Ref{RepoURL: repo, Name: "app"}, nil, true)
		wantReason(t, err, charts.ReasonChartHostNotAllowed)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) == 0 || !strings.Contains(strings.Join(asked, ","), "charts.example.com") {
		t.Fatalf("the proxy was asked %v, want the chart host", asked)
	}
	for _, a := range asked {
		if !strings.Contains(a, "charts.example.com") {
			t.Errorf("the proxy was asked for %s", a)
		}
	}
}
