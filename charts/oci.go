package charts

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	helmchart "helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/registry"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// OCI is reached with oras-go, the library under helm's pkg/registry
// client: that client's Pull and Tags take no context and read blobs without
// a size bound, so only its media types and version-to-tag rules are used.
const (
	maxManifestBytes = 4 << 20
	maxConfigBytes   = 1 << 20
	maxTags          = 100_000
)

// ociRepository is the OCI repository of a chart: repoURL + "/" + name.
func (f *Fetcher) ociRepository(src source, chart, name string, creds *Credentials) (*remote.Repository, error) {
	ref := src.host + strings.TrimSuffix(src.url.Path, "/") + "/" + name
	r, err := remote.NewRepository(ref)
	if err != nil {
		return nil, fail(ReasonChartInvalid, chart, "invalid OCI reference: %v", err)
	}
	// OCI has no scheme of its own for plain HTTP: as helm's --plain-http,
	// the manager's choice applies to every registry.
	r.PlainHTTP = f.opts.AllowPlainHTTP
	r.MaxMetadataBytes = maxManifestBytes
	client, err := f.httpClient(creds, true)
	if err != nil {
		return nil, withChart(err, chart)
	}
	cred, err := registryCredential(creds, src.host)
	if err != nil {
		return nil, withChart(err, chart)
	}
	r.Client = &auth.Client{Client: client, Credential: auth.StaticCredential(src.host, cred), Cache: f.authCache(creds)}
	return r, nil
}

// registryCredential is the basic auth for host: username/password when
// set, else the entry for host in a kubernetes.io/dockerconfigjson.
func registryCredential(creds *Credentials, host string) (auth.Credential, error) {
	if creds == nil {
		return auth.EmptyCredential, nil
	}
	if creds.Username != "" && creds.Password != "" {
		return auth.Credential{Username: creds.Username, Password: creds.Password}, nil
	}
	if creds.Username != "" || creds.Password != "" {
		// Half a basic credential is none: the registry will say so.
		return auth.EmptyCredential, nil
	}
	if len(creds.DockerConfigJSON) == 0 {
		return auth.EmptyCredential, nil
	}
	var cfg struct {
		Auths map[string]struct {
			Username string `json:"username"`
			Password string `json:"password"`
			Auth     string `json:"auth"`
		} `json:"auths"`
	}
	if err := json.Unmarshal(creds.DockerConfigJSON, &cfg); err != nil {
		// json's message may quote the input: say only that it failed.
		return auth.EmptyCredential, fail(ReasonChartInvalid, "", ".dockerconfigjson is not valid JSON")
	}
	for key, a := range cfg.Auths {
		if dockerConfigHost(key) != host {
			continue
		}
		if a.Auth != "" {
			dec, err := base64.StdEncoding.DecodeString(a.Auth)
			user, pass, ok := strings.Cut(string(dec), ":")
			if err != nil || !ok {
				return auth.EmptyCredential, fail(ReasonChartInvalid, "", ".dockerconfigjson: the auth of %s is not base64 of user:password", host)
			}
			return auth.Credential{Username: user, Password: pass}, nil
		}
		return auth.Credential{Username: a.Username, Password: a.Password}, nil
	}
	return auth.EmptyCredential, nil
}

// dockerConfigHost normalises a key of "auths" ("host", "https://host/v1/").
func dockerConfigHost(key string) string {
	key = strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
	host, _, _ := strings.Cut(key, "/")
	return host
}

func (f *Fetcher) resolveOCI(ctx context.Context, src source, ref Ref, creds *Credentials, refresh bool) (Pinned, error) {
	chart := chartName(ref.RepoURL, ref.Name)
	repo, err := f.ociRepository(src, chart, ref.Name, creds)
	if err != nil {
		return Pinned{}, err
	}
	if ref.Digest != "" {
		return f.resolveOCIDigestCached(ctx, repo, chart, ref, creds, refresh)
	}
	tags, err := f.ociTags(ctx, repo, chart, creds, refresh)
	if err != nil {
		return Pinned{}, err
	}
	if len(tags) == 0 {
		return Pinned{}, fail(ReasonChartNotFound, chart, "the registry has no version of chart %q", ref.Name)
	}
	version, err := registry.GetTagMatchingVersionOrConstraint(tags, ref.Version)
	if err != nil {
		return Pinned{}, versionError(chart, ref.Version, err)
	}
	digest, err := f.ociTagDigest(ctx, repo, chart, version, creds, refresh)
	if err != nil {
		return Pinned{}, err
	}
	return Pinned{RepoURL: ref.RepoURL, Name: ref.Name, Version: version, Digest: digest}, nil
}

// ociTags lists the chart's versions as helm does (tags that are strict
// semver, "_" read as "+"), newest first; cached like an index.
func (f *Fetcher) ociTags(ctx context.Context, repo *remote.Repository, chart string, creds *Credentials, refresh bool) ([]string, error) {
	key := "tags|" + repo.Reference.String() + "|" + creds.identity()
	if !refresh {
		if v, ok := f.indexes.get(key); ok {
			return v.([]string), nil
		}
	}
	flight := key
	if refresh {
		flight += "|refresh"
	}
	return shared(ctx, f, flight, func(ctx context.Context) ([]string, error) {
		var versions []*semver.Version
		count := 0
		err := repo.Tags(ctx, "", func(tags []string) error {
			count += len(tags)
			if count > maxTags {
				return fmt.Errorf("more than %d tags", maxTags)
			}
			for _, tag := range tags {
				if v, err := semver.StrictNewVersion(strings.ReplaceAll(tag, "_", "+")); err == nil {
					versions = append(versions, v)
				}
			}
			return nil
		})
		if err != nil {
			return nil, ociError(err, chart, "list tags", ReasonChartNotFound)
		}
		sort.Sort(sort.Reverse(semver.Collection(versions)))
		tags := make([]string, len(versions))
		for i, v := range versions {
			tags[i] = v.String()
		}
		f.indexes.put(key, tags, tagsSize(tags))
		return tags, nil
	})
}

// ociTagDigest is the manifest digest a version's tag points to now.
func (f *Fetcher) ociTagDigest(ctx context.Context, repo *remote.Repository, chart, version string, creds *Credentials, refresh bool) (string, error) {
	key := "tag|" + repo.Reference.String() + ":" + version + "|" + creds.identity()
	if !refresh {
		if v, ok := f.indexes.get(key); ok {
			return v.(string), nil
		}
	}
	desc, err := repo.Resolve(ctx, strings.ReplaceAll(version, "+", "_"))
	if err != nil {
		return "", ociError(err, chart, "resolve tag "+version, ReasonChartVersionNotFound)
	}
	digest := desc.Digest.String()
	f.indexes.put(key, digest, 0)
	return digest, nil
}

// resolveOCIDigestCached remembers what a manifest holds (it cannot
// change: its digest names it), by credentials identity like every index,
// so a fleet pinned to a digest reads it once per IndexTTL.
func (f *Fetcher) resolveOCIDigestCached(ctx context.Context, repo *remote.Repository, chart string, ref Ref, creds *Credentials, refresh bool) (Pinned, error) {
	key := "manifest|" + repo.Reference.String() + "@" + ref.Digest + "|" + ref.Version + "|" + creds.identity()
	if !refresh {
		if v, ok := f.indexes.get(key); ok {
			p := v.(Pinned)
			p.RepoURL, p.Name = ref.RepoURL, ref.Name
			return p, nil
		}
	}
	p, err := f.resolveOCIDigest(ctx, repo, chart, ref)
	if err != nil {
		return Pinned{}, err
	}
	f.indexes.put(key, p, 0)
	return p, nil
}

// resolveOCIDigest reads the version a pinned manifest holds (its config)
// and checks it against the constraint, if any.
func (f *Fetcher) resolveOCIDigest(ctx context.Context, repo *remote.Repository, chart string, ref Ref) (Pinned, error) {
	manifest, err := fetchManifest(ctx, repo, chart, ref.Digest)
	if err != nil {
		return Pinned{}, err
	}
	if manifest.Config.MediaType != registry.ConfigMediaType {
		return Pinned{}, fail(ReasonChartInvalid, chart, "%s is not a Helm chart (config media type %q)", ref.Digest, manifest.Config.MediaType)
	}
	if manifest.Config.Size > maxConfigBytes {
		return Pinned{}, fail(ReasonChartTooLarge, chart, "%s: chart config over %d bytes", ref.Digest, maxConfigBytes)
	}
	data, err := fetchBlob(ctx, repo, chart, manifest.Config, maxConfigBytes)
	if err != nil {
		return Pinned{}, err
	}
	var meta helmchart.Metadata
	if err := json.Unmarshal(data, &meta); err != nil || meta.Version == "" {
		return Pinned{}, fail(ReasonChartInvalid, chart, "%s: the chart's config names no version", ref.Digest)
	}
	if ref.Version != "" && ref.Version != meta.Version {
		c, err := constraintOf(ref.Version)
		if err != nil {
			return Pinned{}, fail(ReasonChartInvalid, chart, "version %q is not a semver constraint: %v", ref.Version, err)
		}
		if !satisfies(c, meta.Version) {
			return Pinned{}, fail(ReasonChartDigestMismatch, chart, "%s holds version %s, which does not match %q", ref.Digest, meta.Version, ref.Version)
		}
	}
	return Pinned{RepoURL: ref.RepoURL, Name: ref.Name, Version: meta.Version, Digest: ref.Digest}, nil
}

func (f *Fetcher) loadOCI(ctx context.Context, src source, p Pinned, creds *Credentials) ([]byte, error) {
	chart := chartName(p.RepoURL, p.Name)
	repo, err := f.ociRepository(src, chart, p.Name, creds)
	if err != nil {
		return nil, err
	}
	manifest, err := fetchManifest(ctx, repo, chart, p.Digest)
	if err != nil {
		return nil, err
	}
	var layer *ocispec.Descriptor
	for i, l := range manifest.Layers {
		if l.MediaType == registry.ChartLayerMediaType || l.MediaType == registry.LegacyChartLayerMediaType {
			layer = &manifest.Layers[i]
		}
	}
	if layer == nil {
		return nil, fail(ReasonChartInvalid, chart, "%s has no chart layer (%s)", p.Digest, registry.ChartLayerMediaType)
	}
	if layer.Size > f.opts.MaxChartBytes {
		return nil, fail(ReasonChartTooLarge, chart, "version %s: the chart is %d bytes, over the limit of %d", p.Version, layer.Size, f.opts.MaxChartBytes)
	}
	return fetchBlob(ctx, repo, chart, *layer, f.opts.MaxChartBytes)
}

// fetchManifest reads a manifest by digest and checks its bytes against
// the digest: the registry is not trusted to have answered with what it
// was asked for.
func fetchManifest(ctx context.Context, repo *remote.Repository, chart, digest string) (*ocispec.Manifest, error) {
	_, rc, err := repo.FetchReference(ctx, digest)
	if err != nil {
		return nil, ociError(err, chart, "fetch manifest "+digest, ReasonChartVersionNotFound)
	}
	defer rc.Close()
	data, err := readBounded(rc, maxManifestBytes, chart, "manifest "+digest)
	if err != nil {
		return nil, err
	}
	if got := sha256Digest(data); got != digest {
		return nil, fail(ReasonChartDigestMismatch, chart, "the registry answered %s with a manifest of digest %s", digest, got)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fail(ReasonChartInvalid, chart, "manifest %s is not an OCI image manifest", digest)
	}
	return &m, nil
}

func fetchBlob(ctx context.Context, repo *remote.Repository, chart string, desc ocispec.Descriptor, max int64) ([]byte, error) {
	rc, err := repo.Blobs().Fetch(ctx, desc)
	if err != nil {
		return nil, ociError(err, chart, "fetch blob "+desc.Digest.String(), ReasonChartVersionNotFound)
	}
	defer rc.Close()
	data, err := readBounded(rc, max, chart, "blob "+desc.Digest.String())
	if err != nil {
		return nil, err
	}
	if got := sha256Digest(data); got != desc.Digest.String() {
		return nil, fail(ReasonChartDigestMismatch, chart, "blob %s has digest %s", desc.Digest, got)
	}
	return data, nil
}

func readBounded(r io.Reader, max int64, chart, what string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, classify(err, chart, "read "+what)
	}
	if int64(len(data)) > max {
		return nil, fail(ReasonChartTooLarge, chart, "%s: more than %d bytes", what, max)
	}
	return data, nil
}

// ociError types a registry failure; notFound is the reason a 404 gives.
func ociError(err error, chart, what, notFound string) error {
	var resp *errcode.ErrorResponse
	switch {
	case errors.Is(err, auth.ErrBasicCredentialNotFound):
		return fail(ReasonChartAuthFailed, chart, "%s: the registry requires credentials: set authSecretRef", what)
	case errors.Is(err, errdef.ErrNotFound):
		return fail(notFound, chart, "%s: not found", what)
	case errors.As(err, &resp):
		if resp.StatusCode == http.StatusNotFound {
			// Not the registry's own message: whatever answers on a
			// repoURL's host is not quoted back to the tenant.
			return fail(notFound, chart, "%s: 404 Not Found", what)
		}
		return statusError(resp.StatusCode, chart, what, notFound)
	}
	return classify(err, chart, what)
}
