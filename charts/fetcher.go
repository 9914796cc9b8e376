package charts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"golang.org/x/sync/singleflight"
)

// state is what one Fetcher shares between its callers.
type state struct {
	archives   *archiveCache
	indexes    *ttlCache // Helm repository indexes and OCI tag lists
	flight     singleflight.Group
	transports *transports
}

func newFetcher(o Options) *Fetcher {
	if o.MaxChartBytes <= 0 {
		o.MaxChartBytes = DefaultMaxChartBytes
	}
	if o.MaxIndexBytes <= 0 {
		o.MaxIndexBytes = DefaultMaxIndexBytes
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.IndexTTL <= 0 {
		o.IndexTTL = DefaultIndexTTL
	}
	if o.MaxCacheBytes <= 0 {
		o.MaxCacheBytes = DefaultMaxCacheBytes
	}
	return &Fetcher{opts: o, state: &state{
		archives:   newArchiveCache(o.MaxCacheBytes),
		indexes:    newTTLCache(o.IndexTTL),
		transports: &transports{},
	}}
}

// source is a parsed repoURL that passed the manager's policy.
type source struct {
	url  *url.URL // without user info
	oci  bool
	host string // host:port as given (the allowlist's and credentials' unit)
}

func (s source) String() string { return s.url.String() }

// chartName is how errors name a chart: repository and name. User info in
// the URL is hidden whole: hosts take a token as the user name too
// (https://TOKEN@host), which url.Redacted would show.
func chartName(repoURL, name string) string {
	u, err := url.Parse(repoURL)
	if err != nil {
		return name
	}
	if u.User != nil {
		u.User = url.User("xxxxx")
	}
	return strings.TrimSuffix(u.String(), "/") + "/" + name
}

// admit parses repoURL and applies the manager's policy (remote charts on,
// scheme, allowlist) before anything reaches the network.
func (f *Fetcher) admit(repoURL, name string) (source, error) {
	chart := chartName(repoURL, name)
	if f.opts.Disabled {
		return source{}, fail(ReasonRemoteChartsDisabled, chart, "remote charts are turned off on this operator (--helm-remote-charts=false)")
	}
	if name == "" || strings.ContainsAny(name, "/?#@:") || name == "." || name == ".." {
		return source{}, fail(ReasonChartInvalid, chart, "invalid chart name %q", name)
	}
	u, err := url.Parse(repoURL)
	if err != nil {
		return source{}, fail(ReasonChartInvalid, chart, "invalid repoURL")
	}
	if u.User != nil {
		return source{}, fail(ReasonChartInvalid, chart, "repoURL carries credentials: put them in the step's authSecretRef")
	}
	if u.Host == "" {
		return source{}, fail(ReasonChartInvalid, chart, "repoURL has no host")
	}
	// A query or fragment changes nothing a repository serves but would
	// make each spelling a cache entry of its own.
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return source{}, fail(ReasonChartInvalid, chart, "repoURL may not carry a query or fragment")
	}
	s := source{url: u, host: u.Host}
	switch u.Scheme {
	case "https":
	case "http":
		if !f.opts.AllowPlainHTTP {
			return source{}, fail(ReasonChartHostNotAllowed, chart, "plain http:// is refused on this operator: use https://")
		}
	case "oci":
		s.oci = true
	default:
		return source{}, fail(ReasonChartInvalid, chart, "repoURL must start with https:// or oci://")
	}
	if err := f.hostAllowed(u.Host); err != nil {
		return source{}, &Error{Reason: ReasonChartHostNotAllowed, Chart: chart, Err: err}
	}
	return s, nil
}

// hostAllowed applies the allowlist to host (host or host:port): an entry
// without a port allows every port of that host.
func (f *Fetcher) hostAllowed(hostport string) error {
	if len(f.opts.AllowedHosts) == 0 {
		return nil
	}
	hostport = strings.ToLower(hostport)
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]") // an IPv6 literal, with or without brackets
	for _, a := range f.opts.AllowedHosts {
		a = strings.ToLower(strings.TrimSpace(a))
		if a == hostport || strings.Trim(a, "[]") == host {
			return nil
		}
	}
	return fmt.Errorf("host %s is not in the operator's allowed chart hosts (--helm-allowed-hosts)", hostport)
}

func (f *Fetcher) resolve(ctx context.Context, ref Ref, creds *Credentials, refresh bool) (Pinned, error) {
	src, err := f.admit(ref.RepoURL, ref.Name)
	if err != nil {
		return Pinned{}, err
	}
	// Every request of a resolve is bounded; downloads shared with other
	// callers carry their own timeout (shared).
	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	if ref.Digest != "" && !validDigest(ref.Digest) {
		return Pinned{}, fail(ReasonChartInvalid, chartName(ref.RepoURL, ref.Name), "digest %q is not sha256:<64 hex>", ref.Digest)
	}
	var p Pinned
	if src.oci {
		p, err = f.resolveOCI(ctx, src, ref, creds, refresh)
	} else {
		p, err = f.resolveHTTP(ctx, src, ref, creds, refresh)
	}
	return p, withChart(err, chartName(ref.RepoURL, ref.Name))
}

func (f *Fetcher) load(ctx context.Context, p Pinned, creds *Credentials) ([]byte, error) {
	src, err := f.admit(p.RepoURL, p.Name)
	if err != nil {
		return nil, err
	}
	chart := chartName(p.RepoURL, p.Name)
	if !validDigest(p.Digest) {
		return nil, fail(ReasonChartInvalid, chart, "a pinned chart needs a sha256 digest, got %q", p.Digest)
	}
	if p.Version == "" {
		return nil, fail(ReasonChartInvalid, chart, "a pinned chart needs an exact version")
	}
	key := archiveKey{digest: p.Digest, identity: creds.identity()}
	if data, ok := f.archives.get(key); ok {
		return data, nil
	}
	data, err := shared(ctx, f, "archive|"+key.digest+"|"+key.identity, func(ctx context.Context) ([]byte, error) {
		if data, ok := f.archives.get(key); ok {
			return data, nil
		}
		var data []byte
		var err error
		if src.oci {
			data, err = f.loadOCI(ctx, src, p, creds)
		} else {
			data, err = f.loadHTTP(ctx, src, p, creds)
		}
		if err != nil {
			return nil, err
		}
		f.archives.put(key, data)
		return data, nil
	})
	return data, withChart(err, chart)
}

// shared runs fn once for every concurrent caller with the same key. fn
// runs under its own timeout, detached from the first caller's context, so a
// caller that gives up does not fail the others; each caller still stops
// waiting when its own context ends.
func shared[T any](ctx context.Context, f *Fetcher, key string, fn func(context.Context) (T, error)) (T, error) {
	ch := f.flight.DoChan(key, func() (any, error) {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.opts.Timeout)
		defer cancel()
		return fn(dctx)
	})
	var zero T
	select {
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return zero, fail(ReasonChartUnreachable, "", "timed out (after %s)", f.opts.Timeout)
		}
		return zero, fail(ReasonChartUnreachable, "", "canceled: %v", ctx.Err())
	case res := <-ch:
		if res.Err != nil {
			return zero, res.Err
		}
		return res.Val.(T), nil
	}
}

func validDigest(d string) bool {
	hexPart, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hexPart) != 64 {
		return false
	}
	_, err := hex.DecodeString(hexPart)
	return err == nil && strings.ToLower(hexPart) == hexPart
}

func sha256Digest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// identity names a set of credentials in cache keys without holding them:
// a sha256 of every field, length-prefixed. Anonymous access is "".
func (c *Credentials) identity() string {
	if c == nil || c.empty() {
		return ""
	}
	h := sha256.New()
	for _, field := range [][]byte{[]byte(c.Username), []byte(c.Password), c.CertPEM, c.KeyPEM, c.CAPEM, c.DockerConfigJSON} {
		fmt.Fprintf(h, "%d:", len(field))
		h.Write(field)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (c *Credentials) empty() bool {
	return c.Username == "" && c.Password == "" && len(c.CertPEM) == 0 && len(c.KeyPEM) == 0 &&
		len(c.CAPEM) == 0 && len(c.DockerConfigJSON) == 0
}

// errAs reports whether err wraps a charts Error; used to keep a typed error
// from being wrapped into another reason.
func errAs(err error) (*Error, bool) {
	var ce *Error
	ok := errors.As(err, &ce)
	return ce, ok
}
