package charts

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/provenance"
	"sigs.k8s.io/yaml"
)

// isRemote says whether a dependency's repository is fetched by this
// package; "" and file:// are the chart's own tree (charts/ or a path).
func isRemote(repository string) bool {
	return strings.HasPrefix(repository, "https://") || strings.HasPrefix(repository, "http://") ||
		strings.HasPrefix(repository, "oci://")
}

func (f *Fetcher) dependencies(ctx context.Context, chartYAML, chartLock []byte, creds func(string) *Credentials, refresh bool) ([]Pinned, map[string][]byte, error) {
	var md chart.Metadata
	if err := yaml.Unmarshal(chartYAML, &md); err != nil {
		return nil, nil, fail(ReasonChartInvalid, "", "Chart.yaml: %v", err)
	}
	var remote []*chart.Dependency
	for _, d := range md.Dependencies {
		if d == nil {
			continue
		}
		if strings.HasPrefix(d.Repository, "@") || strings.HasPrefix(d.Repository, "alias:") {
			return nil, nil, fail(ReasonChartInvalid, d.Name, "dependency repository %q names a local helm repository alias: name its URL (https:// or oci://)", d.Repository)
		}
		if isRemote(d.Repository) {
			remote = append(remote, d)
		}
	}
	if len(remote) == 0 {
		return nil, nil, nil
	}
	locked, err := lockedVersions(md.Dependencies, chartLock)
	if err != nil {
		return nil, nil, err
	}
	var pinned []Pinned
	archives := map[string][]byte{}
	for _, d := range remote {
		var c *Credentials
		if creds != nil {
			c = creds(d.Repository)
		}
		version := d.Version
		if locked != nil {
			v, ok := locked[lockKey(d.Name, d.Repository)]
			if !ok {
				return nil, nil, fail(ReasonChartDigestMismatch, chartName(d.Repository, d.Name), "Chart.lock has no entry for this dependency: run helm dependency update")
			}
			version = v
		}
		p, err := f.Resolve(ctx, Ref{RepoURL: d.Repository, Name: d.Name, Version: version}, c, refresh)
		if err != nil {
			return nil, nil, err
		}
		data, err := f.Load(ctx, p, c)
		if err != nil {
			return nil, nil, err
		}
		pinned = append(pinned, p)
		key := d.Name
		if d.Alias != "" {
			key = d.Alias
		}
		archives[key] = data
	}
	return pinned, archives, nil
}

func lockKey(name, repository string) string { return name + "\x00" + repository }

// lockedVersions reads Chart.lock as `helm dependency build` does: its
// digest must be the hash of Chart.yaml's dependencies and its own (else
// the lock is out of sync and refused), and then its versions are exact.
// No lock: nil.
func lockedVersions(req []*chart.Dependency, chartLock []byte) (map[string]string, error) {
	if len(bytes.TrimSpace(chartLock)) == 0 {
		return nil, nil
	}
	var lock chart.Lock
	if err := yaml.Unmarshal(chartLock, &lock); err != nil {
		return nil, fail(ReasonChartInvalid, "", "Chart.lock: %v", err)
	}
	sum, err := hashReq(req, lock.Dependencies)
	if err != nil {
		return nil, fail(ReasonChartInvalid, "", "Chart.lock: %v", err)
	}
	if sum != lock.Digest {
		return nil, fail(ReasonChartDigestMismatch, "", "the lock file (Chart.lock) is out of sync with the dependencies file (Chart.yaml): its digest is %s, Chart.yaml's dependencies hash to %s; run helm dependency update", lock.Digest, sum)
	}
	versions := map[string]string{}
	for _, d := range lock.Dependencies {
		if d != nil {
			versions[lockKey(d.Name, d.Repository)] = d.Version
		}
	}
	return versions, nil
}

// hashReq is helm's internal/resolver.HashReq (not importable): the digest
// Chart.lock records of Chart.yaml's dependencies and the locked ones.
func hashReq(req, lock []*chart.Dependency) (string, error) {
	data, err := json.Marshal([2][]*chart.Dependency{req, lock})
	if err != nil {
		return "", err
	}
	s, err := provenance.Digest(bytes.NewBuffer(data))
	return "sha256:" + s, err
}
