package charts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/http/httpproxy"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// maxTransports bounds the kept transports (one per credentials identity,
// with and without a client certificate): past it they are all closed and
// rebuilt as needed, so rotating credentials do not pile up idle
// connections.
const maxTransports = 256

type transports struct {
	mu    sync.Mutex
	byKey map[string]*http.Transport
	auths map[string]auth.Cache // by credentials identity: a registry's auth scheme and tokens
}

// authCache remembers, for one set of credentials, how each registry
// authenticates (and its bearer tokens), so a request does not first meet
// a 401 challenge every time. Tokens are per credentials, hence the key.
func (f *Fetcher) authCache(creds *Credentials) auth.Cache {
	t := f.transports
	t.mu.Lock()
	defer t.mu.Unlock()
	id := creds.identity()
	if c, ok := t.auths[id]; ok {
		return c
	}
	if len(t.auths) >= maxTransports || t.auths == nil {
		t.auths = map[string]auth.Cache{}
	}
	c := auth.NewCache()
	t.auths[id] = c
	return c
}

// transport returns the shared transport for creds: its CA (added to the
// system's) and, when clientCert, its client certificate. A transport for
// another host than the repository's is asked with clientCert=false.
func (f *Fetcher) transport(creds *Credentials, clientCert bool) (*http.Transport, error) {
	key := fmt.Sprintf("%s|%t", creds.identity(), clientCert)
	t := f.transports
	t.mu.Lock()
	defer t.mu.Unlock()
	if tr, ok := t.byKey[key]; ok {
		return tr, nil
	}
	cfg, err := tlsConfig(creds, clientCert)
	if err != nil {
		return nil, err
	}
	if len(t.byKey) >= maxTransports || t.byKey == nil {
		for _, tr := range t.byKey {
			tr.CloseIdleConnections()
		}
		t.byKey = map[string]*http.Transport{}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	if f.opts.RefuseLocalAddresses {
		refuseLocalAddresses(tr)
	}
	t.byKey[key] = tr
	return tr, nil
}

// refuseLocalAddresses makes tr refuse to connect to a local address: the
// check runs on the address dialled, resolved by then whatever name the URL
// gave. The environment's proxy (HTTP_PROXY, HTTPS_PROXY, read when the
// transport is built) is the admin's and is dialled wherever it is, a
// loopback sidecar included; through it only literal local addresses can
// be refused, as the proxy resolves names itself: its own egress policy
// must do the rest.
func refuseLocalAddresses(tr *http.Transport) {
	cfg := httpproxy.FromEnvironment()
	viaProxy := cfg.ProxyFunc()
	proxies := map[string]bool{}
	for _, p := range []string{cfg.HTTPProxy, cfg.HTTPSProxy} {
		if addr := proxyAddr(p); addr != "" {
			proxies[addr] = true
		}
	}
	tr.Proxy = func(req *http.Request) (*url.URL, error) {
		proxy, err := viaProxy(req.URL)
		if proxy != nil && err == nil {
			if ip := net.ParseIP(strings.Trim(req.URL.Hostname(), "[]")); ip != nil && isLocal(ip) {
				return nil, localRefused(ip.String())
			}
		}
		return proxy, err
	}
	direct := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	refusing := &net.Dialer{Timeout: direct.Timeout, KeepAlive: direct.KeepAlive, Control: refuseLocal}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if proxies[addr] {
			return direct.DialContext(ctx, network, addr)
		}
		return refusing.DialContext(ctx, network, addr)
	}
}

// proxyAddr is the host:port the transport dials for proxy setting p, as
// net/http spells it (a missing scheme is http://, a missing port the
// scheme's).
func proxyAddr(p string) string {
	if p == "" {
		return ""
	}
	u, err := url.Parse(p)
	if err != nil || u.Host == "" {
		if u, err = url.Parse("http://" + p); err != nil {
			return ""
		}
	}
	if u.Port() != "" {
		return u.Host
	}
	port := map[string]string{"http": "80", "https": "443", "socks5": "1080", "socks5h": "1080"}[u.Scheme]
	return net.JoinHostPort(u.Hostname(), port)
}

// metadataAddresses are cloud metadata endpoints outside the link-local
// ranges: Alibaba Cloud's, AWS's IPv6 IMDS and EKS Pod Identity, GCP's IPv6.
var metadataAddresses = []net.IP{
	net.ParseIP("100.100.100.200"), net.ParseIP("fd00:ec2::254"), net.ParseIP("fd00:ec2::23"), net.ParseIP("fd20:ce::254"),
}

// isLocal says whether ip is the operator's own (loopback, unspecified),
// link-local, or a cloud metadata endpoint.
func isLocal(ip net.IP) bool {
	if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() {
		return true
	}
	for _, m := range metadataAddresses {
		if m.Equal(ip) {
			return true
		}
	}
	return false
}

func localRefused(host string) error {
	return &Error{Reason: ReasonChartHostNotAllowed, Err: fmt.Errorf("address %s is local to the operator or a cloud metadata endpoint: refused (an admin can allow chart hosts with --helm-allowed-hosts)", host)}
}

// refuseLocal is a dialer's last word before it connects.
func refuseLocal(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || isLocal(ip) {
		return localRefused(host)
	}
	return nil
}

func tlsConfig(creds *Credentials, clientCert bool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if creds == nil {
		return cfg, nil
	}
	if len(creds.CAPEM) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(creds.CAPEM) {
			return nil, fail(ReasonChartInvalid, "", "ca.crt holds no PEM certificate")
		}
		cfg.RootCAs = pool
	}
	if clientCert && (len(creds.CertPEM) > 0 || len(creds.KeyPEM) > 0) {
		pair, err := tls.X509KeyPair(creds.CertPEM, creds.KeyPEM)
		if err != nil {
			// The error of X509KeyPair never quotes the key.
			return nil, fail(ReasonChartInvalid, "", "tls.crt/tls.key: %v", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// httpClient is the client for one request to target: with the credentials'
// client certificate only when target is on the repository's own host, and
// following redirects only to allowed hosts over allowed schemes. Basic auth
// is set on the request by the caller (sameHost), and dropped by the
// redirect policy when a redirect leaves that host.
func (f *Fetcher) httpClient(creds *Credentials, sameHost bool) (*http.Client, error) {
	tr, err := f.transport(creds, sameHost)
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: policed{f: f, next: tr}, CheckRedirect: f.checkRedirect}, nil
}

// policed applies the scheme and host policy to every request, not only to
// the URLs this package builds and the redirects it sees: oras-go also
// follows URLs a registry names (a tag list's next page, a token realm),
// which could point anywhere.
type policed struct {
	f    *Fetcher
	next http.RoundTripper
}

func (p policed) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := p.f.checkURL(req.URL); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, &Error{Reason: ReasonChartHostNotAllowed, Err: err}
	}
	return p.next.RoundTrip(req)
}

func (f *Fetcher) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if err := f.checkURL(req.URL); err != nil {
		return &Error{Reason: ReasonChartHostNotAllowed, Err: fmt.Errorf("redirect refused: %w", err)}
	}
	if req.URL.Host != via[0].URL.Host {
		req.Header.Del("Authorization")
	}
	return nil
}

// checkURL applies the scheme and host policy to a URL the operator did
// not get from the spec (a redirect, a chart URL in an index).
func (f *Fetcher) checkURL(u *url.URL) error {
	switch u.Scheme {
	case "https":
	case "http":
		if !f.opts.AllowPlainHTTP {
			return fmt.Errorf("plain http:// (%s) is refused on this operator", u.Redacted())
		}
	default:
		return fmt.Errorf("scheme %q (%s) is not allowed", u.Scheme, u.Redacted())
	}
	return f.hostAllowed(u.Host)
}

// get sends a GET to target and returns the body, at most max bytes.
// notFound is the reason a 404 gives.
func (f *Fetcher) get(ctx context.Context, chart string, target *url.URL, src source, creds *Credentials, max int64, notFound string) ([]byte, error) {
	if err := f.checkURL(target); err != nil {
		return nil, &Error{Reason: ReasonChartHostNotAllowed, Chart: chart, Err: err}
	}
	sameHost := target.Host == src.host
	client, err := f.httpClient(creds, sameHost)
	if err != nil {
		return nil, withChart(err, chart)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
	if err != nil {
		return nil, fail(ReasonChartInvalid, chart, "GET %s: %v", target.Redacted(), err)
	}
	// Credentials go only to the repository's own host, as helm does unless
	// told to pass them everywhere (PassCredentialsAll).
	if sameHost && creds != nil && (creds.Username != "" || creds.Password != "") {
		req.SetBasicAuth(creds.Username, creds.Password)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, classify(err, chart, "GET "+target.Redacted())
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, statusError(resp.StatusCode, chart, "GET "+target.Redacted(), notFound)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, classify(err, chart, "GET "+target.Redacted())
	}
	if int64(len(data)) > max {
		return nil, fail(ReasonChartTooLarge, chart, "GET %s: more than %d bytes", target.Redacted(), max)
	}
	return data, nil
}

func statusError(code int, chart, what, notFound string) error {
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return fail(ReasonChartAuthFailed, chart, "%s: %d %s: check the credentials of authSecretRef", what, code, http.StatusText(code))
	case code == http.StatusNotFound || code == http.StatusGone:
		return fail(notFound, chart, "%s: %d %s", what, code, http.StatusText(code))
	default:
		return fail(ReasonChartUnreachable, chart, "%s: %d %s", what, code, http.StatusText(code))
	}
}

// classify turns a transport error into a typed one: a refused redirect
// keeps its reason, a TLS refusal is an authentication failure (a missing or
// unknown client certificate, an untrusted server certificate), anything
// else (DNS, connection, timeout) means the host is unreachable.
func classify(err error, chart, what string) error {
	if ce, ok := errAs(err); ok {
		return &Error{Reason: ce.Reason, Chart: chart, Err: fmt.Errorf("%s: %w", what, ce.Err)}
	}
	var opErr *net.OpError
	var unknownCA x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	var hostname x509.HostnameError
	switch {
	case errors.As(err, &opErr) && opErr.Op == "remote error":
		// A TLS alert from the server: over TCP, crypto/tls reports it as
		// a net.OpError "remote error" (its AlertError is QUIC's).
		return fail(ReasonChartAuthFailed, chart, "%s: the server refused the TLS handshake (%v): check tls.crt/tls.key", what, opErr.Err)
	case errors.As(err, &unknownCA), errors.As(err, &verify), errors.As(err, &hostname):
		return fail(ReasonChartAuthFailed, chart, "%s: the server's certificate is not trusted: set ca.crt: %v", what, unwrapURL(err))
	case errors.Is(err, context.DeadlineExceeded):
		return fail(ReasonChartUnreachable, chart, "%s: timed out", what)
	}
	return fail(ReasonChartUnreachable, chart, "%s: %v", what, unwrapURL(err))
}

// unwrapURL drops url.Error's "Get \"URL\":" prefix: the caller already
// names the (redacted) URL.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func withChart(err error, chart string) error {
	if ce, ok := errAs(err); ok && ce.Chart == "" {
		return &Error{Reason: ce.Reason, Chart: chart, Err: ce.Err}
	}
	return err
}
