package charts

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/Masterminds/semver/v3"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/repo"
	"sigs.k8s.io/yaml"
)

func (f *Fetcher) resolveHTTP(ctx context.Context, src source, ref Ref, creds *Credentials, refresh bool) (Pinned, error) {
	chart := chartName(ref.RepoURL, ref.Name)
	idx, err := f.index(ctx, src, chart, creds, refresh)
	if err != nil {
		return Pinned{}, err
	}
	cv, err := pickVersion(idx, chart, ref)
	if err != nil {
		return Pinned{}, err
	}
	p := Pinned{RepoURL: ref.RepoURL, Name: ref.Name, Version: cv.Version, Digest: indexDigest(cv)}
	if p.Digest != "" {
		return p, nil
	}
	p.Digest, err = f.undigested(ctx, src, chart, cv, creds, refresh)
	return p, err
}

// undigested pins a version whose index entry names no digest (older
// repository tools write none): the only way to pin its bytes is to
// download them, once per IndexTTL (the archive lands in the cache for
// the Load that follows), shared by concurrent callers.
func (f *Fetcher) undigested(ctx context.Context, src source, chart string, cv *repo.ChartVersion, creds *Credentials, refresh bool) (string, error) {
	key := "undigested|" + src.String() + "|" + cv.Name + "|" + cv.Version + "|" + creds.identity()
	if !refresh {
		if v, ok := f.indexes.get(key); ok {
			return v.(string), nil
		}
	}
	flight := key
	if refresh {
		flight += "|refresh"
	}
	return shared(ctx, f, flight, func(ctx context.Context) (string, error) {
		data, err := f.downloadHTTP(ctx, src, chart, cv, creds)
		if err != nil {
			return "", err
		}
		digest := sha256Digest(data)
		f.archives.put(archiveKey{digest: digest, identity: creds.identity()}, data)
		f.indexes.put(key, digest, 0)
		return digest, nil
	})
}

// pickVersion chooses as `helm pull --version` does (an exact version
// first, then the newest match of the constraint; "" excludes
// prereleases), and with a digest pin, the newest match with that digest.
func pickVersion(idx *repo.IndexFile, chart string, ref Ref) (*repo.ChartVersion, error) {
	if vs, ok := idx.Entries[ref.Name]; !ok || len(vs) == 0 {
		return nil, fail(ReasonChartNotFound, chart, "the repository's index has no chart %q", ref.Name)
	}
	if ref.Digest == "" {
		cv, err := idx.Get(ref.Name, ref.Version)
		if err != nil {
			return nil, versionError(chart, ref.Version, err)
		}
		return cv, nil
	}
	constraint, err := constraintOf(ref.Version)
	if err != nil {
		return nil, fail(ReasonChartInvalid, chart, "version %q is not a semver constraint: %v", ref.Version, err)
	}
	matched := false
	for _, cv := range idx.Entries[ref.Name] {
		if ref.Version != cv.Version && !satisfies(constraint, cv.Version) {
			continue
		}
		matched = true
		if indexDigest(cv) == ref.Digest {
			return cv, nil
		}
	}
	if !matched {
		return nil, fail(ReasonChartVersionNotFound, chart, "no version matches %q", ref.Version)
	}
	return nil, fail(ReasonChartDigestMismatch, chart, "no version matching %q has digest %s", ref.Version, ref.Digest)
}

func constraintOf(version string) (*semver.Constraints, error) {
	if version == "" {
		version = "*"
	}
	return semver.NewConstraint(version)
}

func satisfies(c *semver.Constraints, version string) bool {
	v, err := semver.NewVersion(version)
	return err == nil && c.Check(v)
}

func versionError(chart, version string, err error) error {
	if _, cerr := constraintOf(version); cerr != nil {
		return fail(ReasonChartInvalid, chart, "version %q is not a semver constraint: %v", version, cerr)
	}
	if version == "" {
		return fail(ReasonChartVersionNotFound, chart, "no released (non-prerelease) version: %v", err)
	}
	return fail(ReasonChartVersionNotFound, chart, "no version matches %q", version)
}

// indexDigest is the archive digest an index entry names, or "" when it
// names none we can check.
func indexDigest(cv *repo.ChartVersion) string {
	d := "sha256:" + strings.ToLower(strings.TrimPrefix(cv.Digest, "sha256:"))
	if !validDigest(d) {
		return ""
	}
	return d
}

func (f *Fetcher) loadHTTP(ctx context.Context, src source, p Pinned, creds *Credentials) ([]byte, error) {
	chart := chartName(p.RepoURL, p.Name)
	idx, err := f.index(ctx, src, chart, creds, false)
	if err != nil {
		return nil, err
	}
	cv := findVersion(idx, p)
	if cv == nil {
		// Pinned elsewhere (another replica, the CLI) after this index
		// was cached: read it again once before saying it is gone.
		if idx, err = f.index(ctx, src, chart, creds, true); err != nil {
			return nil, err
		}
		cv = findVersion(idx, p)
	}
	if cv == nil {
		if _, ok := idx.Entries[p.Name]; !ok {
			return nil, fail(ReasonChartNotFound, chart, "the repository's index has no chart %q", p.Name)
		}
		return nil, fail(ReasonChartVersionNotFound, chart, "the repository's index no longer lists version %s", p.Version)
	}
	data, err := f.downloadHTTP(ctx, src, chart, cv, creds)
	if err != nil {
		return nil, err
	}
	if got := sha256Digest(data); got != p.Digest {
		return nil, fail(ReasonChartDigestMismatch, chart, "version %s: the archive's digest is %s, want %s", p.Version, got, p.Digest)
	}
	return data, nil
}

func findVersion(idx *repo.IndexFile, p Pinned) *repo.ChartVersion {
	for _, v := range idx.Entries[p.Name] {
		if v.Version == p.Version {
			return v
		}
	}
	return nil
}

// downloadHTTP gets the archive of one index entry. Its URL may be
// relative (to the repository) or absolute, on another host: that host is
// checked against the allowlist too, and gets no credentials.
func (f *Fetcher) downloadHTTP(ctx context.Context, src source, chart string, cv *repo.ChartVersion, creds *Credentials) ([]byte, error) {
	target, err := chartURL(src, chart, cv)
	if err != nil {
		return nil, err
	}
	return f.get(ctx, chart, target, src, creds, f.opts.MaxChartBytes, ReasonChartVersionNotFound)
}

// chartURL is where an index entry's archive is: its first URL, relative
// to the repository or absolute (helm's rule).
func chartURL(src source, chart string, cv *repo.ChartVersion) (*url.URL, error) {
	if len(cv.URLs) == 0 {
		return nil, fail(ReasonChartInvalid, chart, "version %s has no URL in the index", cv.Version)
	}
	raw, err := repo.ResolveReferenceURL(src.url.String(), cv.URLs[0])
	if err != nil {
		return nil, fail(ReasonChartInvalid, chart, "version %s: invalid chart URL in the index", cv.Version)
	}
	target, err := url.Parse(raw)
	if err != nil || target.User != nil {
		return nil, fail(ReasonChartInvalid, chart, "version %s: invalid chart URL in the index", cv.Version)
	}
	return target, nil
}

// index returns the repository's index.yaml, parsed, from the cache unless
// refresh or older than IndexTTL. The cache is keyed by the credentials'
// identity too: a caller without credentials must not read a private index
// another caller's credentials fetched.
func (f *Fetcher) index(ctx context.Context, src source, chart string, creds *Credentials, refresh bool) (*repo.IndexFile, error) {
	key := "index|" + src.String() + "|" + creds.identity()
	if !refresh {
		if v, ok := f.indexes.get(key); ok {
			return v.(*repo.IndexFile), nil
		}
	}
	flight := key
	if refresh {
		// A reconcile request must see an index fetched after it, not
		// join a fetch that started before.
		flight += "|refresh"
	}
	return shared(ctx, f, flight, func(ctx context.Context) (*repo.IndexFile, error) {
		target := src.url.JoinPath("index.yaml")
		data, err := f.get(ctx, chart, target, src, creds, f.opts.MaxIndexBytes, ReasonChartNotFound)
		if err != nil {
			return nil, err
		}
		idx, err := parseIndex(data)
		if err != nil {
			return nil, fail(ReasonChartInvalid, chart, "index %s: %v", target.Redacted(), err)
		}
		f.indexes.put(key, idx, int64(len(data)))
		return idx, nil
	})
}

// parseIndex does what helm's repo.LoadIndexFile does, from bytes: drop
// empty and invalid entries, sort versions newest first.
func parseIndex(data []byte) (*repo.IndexFile, error) {
	if len(data) == 0 {
		return nil, repo.ErrEmptyIndexYaml
	}
	idx := &repo.IndexFile{}
	if err := yaml.Unmarshal(data, idx); err != nil {
		// Not the parser's message: it may quote the body, and a repoURL can
		// name any host the operator reaches (the allowlist is the admin's
		// choice), so a status must not become a way to read them.
		return nil, errors.New("not a Helm repository index (index.yaml is not YAML of an index)")
	}
	if idx.APIVersion == "" {
		return nil, repo.ErrNoAPIVersion
	}
	for name, cvs := range idx.Entries {
		kept := cvs[:0]
		for _, cv := range cvs {
			if cv == nil {
				continue
			}
			if cv.Metadata == nil {
				cv.Metadata = &chart.Metadata{}
			}
			if cv.APIVersion == "" {
				cv.APIVersion = chart.APIVersionV1
			}
			var verr chart.ValidationError
			if err := cv.Validate(); err != nil && !(errors.As(err, &verr) && strings.HasPrefix(verr.Error(), "validation: more than one dependency with name or alias")) {
				continue
			}
			kept = append(kept, cv)
		}
		idx.Entries[name] = kept
	}
	idx.SortEntries()
	return idx, nil
}
