// Package charts fetches Helm charts from where teams publish them: Helm
// repositories (an index.yaml over HTTPS) and OCI registries. It resolves a
// version constraint to an exact version and digest (Resolve), downloads and
// verifies the archive of an exact pin (Load), and resolves the remote
// dependencies of a chart kept in Git (Dependencies).
//
// It is the only package of the operator that reaches a chart host: renderers
// stay offline and receive archive bytes. Every request is bounded (size,
// time), checked against the manager's host allowlist, and carries credentials
// only to the repository's own host.
package charts

import (
	"context"
	"time"
)

// Ref names a remote chart. RepoURL is https://host/path (a Helm repository
// serving index.yaml) or oci://host/path (the chart is the OCI repository
// RepoURL + "/" + Name).
type Ref struct {
	RepoURL string
	Name    string
	// Version is a semver constraint ("^1.2", ">=1.0 <2") or an exact
	// version; "" means the newest version that is not a prerelease.
	Version string
	// Digest is an optional "sha256:<hex>" pin, verified: the .tgz's sha256
	// for Helm repositories, the manifest digest for OCI registries.
	Digest string
}

// Pinned is exactly what one sync used: recorded in status and history, so a
// rollback fetches the same bytes. Version is exact; Digest is the .tgz's
// sha256 for Helm repositories and the manifest digest for OCI registries
// (what `helm pull` and Chart.lock name).
type Pinned struct {
	RepoURL, Name, Version, Digest string
}

// Credentials come from a Secret in the ConfigSync's namespace (read by the
// reconciler through the tenant's identity).
type Credentials struct {
	Username, Password     string // basic auth (HTTPS repos, OCI registries)
	CertPEM, KeyPEM, CAPEM []byte // TLS client certificate and CA for HTTPS repos / registries
	DockerConfigJSON       []byte // kubernetes.io/dockerconfigjson for OCI registries
}

// Options are the manager's choices; the zero value of a limit takes its
// default (see the Default* constants).
type Options struct {
	Disabled      bool          // manager flag: no remote charts at all
	AllowedHosts  []string      // manager flag: when non-empty, only these hosts (host or host:port)
	MaxChartBytes int64         // one chart archive
	MaxIndexBytes int64         // one index.yaml
	Timeout       time.Duration // one download
	IndexTTL      time.Duration // how long a repository index / OCI tag list is reused
	// AllowPlainHTTP: tests and local registries; default refuses http:// and
	// plain OCI. As helm's --plain-http, it makes every OCI registry reached
	// over plain HTTP (an oci:// URL does not say which).
	AllowPlainHTTP bool
	// MaxCacheBytes bounds the archives kept in memory, least recently used
	// first out.
	MaxCacheBytes int64
	// RefuseLocalAddresses refuses to connect to a loopback, link-local or
	// unspecified address, or a cloud metadata endpoint: the manager sets
	// it when no allowlist names the hosts, so a tenant's repoURL cannot
	// reach the operator's loopback or the metadata endpoint. It is checked
	// on the address dialled, so a name that resolves there is refused too
	// (through an environment proxy, only literal addresses are). The
	// pod's and node's other addresses are not refused: an allowlist is
	// what holds charts to known hosts.
	RefuseLocalAddresses bool
}

// Defaults for the zero values of Options.
const (
	DefaultMaxChartBytes int64 = 20 << 20
	DefaultMaxIndexBytes int64 = 32 << 20
	DefaultTimeout             = 60 * time.Second
	DefaultIndexTTL            = 5 * time.Minute
	DefaultMaxCacheBytes int64 = 256 << 20
)

// Fetcher resolves and downloads remote charts. One Fetcher serves the
// whole process: its caches are what make a hundred ConfigSyncs on one chart
// cost one download. Safe for concurrent use.
type Fetcher struct {
	opts Options
	*state
}

// New returns a Fetcher with the manager's options.
func New(o Options) *Fetcher {
	return newFetcher(o)
}

// Resolve picks the exact version (and its digest) a Ref means now.
// refresh=true ignores the cached index (a reconcile request).
func (f *Fetcher) Resolve(ctx context.Context, ref Ref, creds *Credentials, refresh bool) (Pinned, error) {
	return f.resolve(ctx, ref, creds, refresh)
}

// Load returns the chart archive (.tgz bytes) of an exact Pinned, verified
// against Pinned.Digest. Cached by digest across all callers in the process
// (one download per chart version, concurrent callers share it, bounded LRU
// by bytes). The cache is keyed by digest and the identity of the
// credentials: a cached private archive is served only to callers presenting
// the same credentials (see cache.go). The bytes are shared: do not modify
// them.
func (f *Fetcher) Load(ctx context.Context, p Pinned, creds *Credentials) ([]byte, error) {
	return f.load(ctx, p, creds)
}

// Dependencies resolves the remote dependencies of a chart in the tree
// (Chart.yaml `dependencies` whose repository is https:// or oci://;
// `file://` and vendored charts/ stay as today), verified against Chart.lock
// (version + digest) when present, as `helm dependency build` does; without a
// lock the newest match of each range. Returns what was pinned and the
// archives by dependency name (alias-aware: the key is the alias when one is
// set), for the renderer to put under charts/.
func (f *Fetcher) Dependencies(ctx context.Context, chartYAML, chartLock []byte, creds func(repoURL string) *Credentials) ([]Pinned, map[string][]byte, error) {
	return f.dependencies(ctx, chartYAML, chartLock, creds, false)
}

// DependenciesRefresh is Dependencies reading every index and tag list
// afresh (a reconcile request), so an unlocked range sees a version
// published within the IndexTTL.
func (f *Fetcher) DependenciesRefresh(ctx context.Context, chartYAML, chartLock []byte, creds func(repoURL string) *Credentials) ([]Pinned, map[string][]byte, error) {
	return f.dependencies(ctx, chartYAML, chartLock, creds, true)
}
