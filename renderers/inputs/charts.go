package inputs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync"

	"helm.sh/helm/v3/pkg/chart"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/charts"
	"github.com/configsync/configsync/internal/failure"
	"github.com/configsync/configsync/internal/filetree"
	"github.com/configsync/configsync/renderers"
	"github.com/configsync/configsync/source"
)

// ChartFetch is what fetching a ConfigSync's remote charts needs from its
// caller, the reconciler or the CLI: both resolve charts before rendering,
// so renderers stay offline.
type ChartFetch struct {
	// Fetcher downloads charts; nil refuses every remote chart
	// (RemoteChartsDisabled).
	Fetcher *charts.Fetcher
	// Source and Path are the fetched source and spec.source.git.path: a
	// chart of the tree has its Chart.yaml, Chart.lock and charts/ there.
	Source *source.Artifact
	Path   string
	// Reader reads a helm step's authSecretRef and
	// verify.keyringSecretRef; nil reads none (a step naming one fails).
	Reader Reader
	// Pins are the charts of the history entry a rollback renders: a
	// step's chart or dependency found here is loaded at exactly that
	// version and digest, not resolved again.
	Pins []configsv1.PinnedChart
	// Refresh reads repository indexes afresh (a reconcile request).
	Refresh bool
	// Verified remembers the chart digests verified with a keyring, so a
	// resync does not download the .prov again; nil verifies every time.
	Verified *sync.Map
}

// FetchCharts fetches the remote charts of the helm steps into in: a step's
// own chart when it names a repoURL, and the remote dependencies of a chart
// of the tree that the tree does not vendor. It returns what it pinned, in
// step order. Errors (wrapped with the step) are *charts.Error, a source
// error reading the tree, *ReadError, or the Reader's own classified error.
func FetchCharts(ctx context.Context, steps []configsv1.RenderStep, in *renderers.Inputs, f ChartFetch) ([]configsv1.PinnedChart, error) {
	var all []configsv1.PinnedChart
	for i, step := range steps {
		if step.Helm == nil {
			continue
		}
		own := in.Steps[i]
		var err error
		if step.Helm.RepoURL != "" {
			err = f.remoteChart(ctx, int32(i+1), *step.Helm, &own)
		} else {
			err = f.dependencies(ctx, int32(i+1), *step.Helm, &own)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", renderers.StepName(i, step), err)
		}
		if in.Steps == nil {
			in.Steps = map[int]renderers.StepInputs{}
		}
		in.Steps[i] = own
		all = append(all, own.Charts...)
	}
	return all, nil
}

// ReadError is a failure to read an object the spec names, which the
// Reader did not classify itself (a missing object may be created yet).
// Reason is the condition reason it is reported under; Err is the
// Reader's error.
type ReadError struct {
	Reason string
	Ref    Ref
	Err    error
}

func (e *ReadError) Error() string {
	return fmt.Sprintf("read %s %s %s: %v", e.Ref.Field, e.Ref.Kind, e.Ref.Name, e.Err)
}
func (e *ReadError) Unwrap() error { return e.Err }

// readSecret reads a Secret a helm step names; a failure is a ReadError
// of reason.
func (f ChartFetch) readSecret(ctx context.Context, field, name, reason string) (map[string][]byte, error) {
	ref := Ref{Field: field, Kind: "Secret", Name: name}
	if f.Reader == nil {
		return nil, &charts.Error{Reason: reason, Err: fmt.Errorf("%s %s: no Secret can be read here", field, name)}
	}
	data, err := f.Reader.Read(ctx, ref)
	if failure.ReasonOf(err) != "" {
		return nil, err // the Reader's own verdict (AccessDenied, say), as it is
	}
	if err != nil {
		return nil, &ReadError{Reason: reason, Ref: ref, Err: err}
	}
	return data, nil
}

// credentials reads a helm step's authSecretRef: basic auth (username,
// password), a client certificate (tls.crt, tls.key) and CA (ca.crt), or
// a kubernetes.io/dockerconfigjson Secret for registries.
func (f ChartFetch) credentials(ctx context.Context, step configsv1.HelmStep) (*charts.Credentials, error) {
	if step.AuthSecretRef == nil {
		return nil, nil
	}
	data, err := f.readSecret(ctx, "authSecretRef", step.AuthSecretRef.Name, charts.ReasonChartAuthFailed)
	if err != nil {
		return nil, err
	}
	return &charts.Credentials{
		Username:         string(data["username"]),
		Password:         string(data["password"]),
		CertPEM:          data[corev1.TLSCertKey],
		KeyPEM:           data[corev1.TLSPrivateKeyKey],
		CAPEM:            data["ca.crt"],
		DockerConfigJSON: data[corev1.DockerConfigJsonKey],
	}, nil
}

// KeyringKey is the key of a verify.keyringSecretRef Secret holding the keyring.
const KeyringKey = "keyring"

// keyring reads a helm step's verify.keyringSecretRef.
func (f ChartFetch) keyring(ctx context.Context, ref configsv1.LocalObjectReference) ([]byte, error) {
	data, err := f.readSecret(ctx, "keyringSecretRef", ref.Name, charts.ReasonChartVerificationFailed)
	if err != nil {
		return nil, err
	}
	keyring, ok := data[KeyringKey]
	if !ok {
		return nil, &charts.Error{Reason: charts.ReasonChartVerificationFailed, Err: fmt.Errorf("keyring Secret %s has no key %q", ref.Name, KeyringKey)}
	}
	return keyring, nil
}

func (f ChartFetch) pinned(step int32, dependency string) (configsv1.PinnedChart, bool) {
	for _, p := range f.Pins {
		if p.Step == step && p.Dependency == dependency {
			return p, true
		}
	}
	return configsv1.PinnedChart{}, false
}

func disabled(chartName string) error {
	return &charts.Error{Reason: charts.ReasonRemoteChartsDisabled, Chart: chartName,
		Err: errors.New("remote charts are turned off on this manager (--helm-remote-charts=false)")}
}

// remoteChart resolves and loads a step's chart from its repository or
// registry, or the pinned one on a rollback.
func (f ChartFetch) remoteChart(ctx context.Context, step int32, h configsv1.HelmStep, own *renderers.StepInputs) error {
	if f.Fetcher == nil {
		return disabled(h.RepoURL + " " + h.Chart)
	}
	creds, err := f.credentials(ctx, h)
	if err != nil {
		return err
	}
	var p charts.Pinned
	if pin, ok := f.pinned(step, ""); ok && pin.RepoURL == h.RepoURL && pin.Name == h.Chart {
		p = charts.Pinned{RepoURL: pin.RepoURL, Name: pin.Name, Version: pin.Version, Digest: pin.Digest}
	} else if p, err = f.Fetcher.Resolve(ctx, charts.Ref{RepoURL: h.RepoURL, Name: h.Chart, Version: h.Version, Digest: h.Digest}, creds, f.Refresh); err != nil {
		return err
	}
	data, err := f.Fetcher.Load(ctx, p, creds)
	if err != nil {
		return err
	}
	if h.Verify != nil {
		if err := f.verify(ctx, h, p, creds); err != nil {
			return err
		}
	}
	own.Chart = data
	own.Charts = append(own.Charts, pinOf(step, "", p))
	return nil
}

// verify checks the chart's provenance against the step's keyring, once
// per chart digest and keyring.
func (f ChartFetch) verify(ctx context.Context, h configsv1.HelmStep, p charts.Pinned, creds *charts.Credentials) error {
	keyring, err := f.keyring(ctx, h.Verify.KeyringSecretRef)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(keyring)
	key := p.RepoURL + "|" + p.Name + "|" + p.Digest + "|" + hex.EncodeToString(sum[:])
	if f.Verified != nil {
		if _, ok := f.Verified.Load(key); ok {
			return nil
		}
	}
	if err := f.Fetcher.VerifyProvenance(ctx, p, creds, keyring); err != nil {
		return err
	}
	if f.Verified != nil {
		f.Verified.Store(key, struct{}{})
	}
	return nil
}

func pinOf(step int32, dependency string, p charts.Pinned) configsv1.PinnedChart {
	return configsv1.PinnedChart{Step: step, Dependency: dependency, RepoURL: p.RepoURL, Name: p.Name, Version: p.Version, Digest: p.Digest}
}

// isRemoteRepository tells a dependency fetched from a repository or
// registry from one vendored or named by file://.
func isRemoteRepository(repo string) bool {
	for _, scheme := range []string{"https://", "http://", "oci://"} {
		if strings.HasPrefix(repo, scheme) {
			return true
		}
	}
	return false
}

// dependencies fetches the remote dependencies of a chart of the tree that
// its charts/ folder does not vendor: with a Chart.lock, at the locked
// versions and digests; without one, the newest match of each range. A
// tree that vendors them all is rendered as before, with no network.
func (f ChartFetch) dependencies(ctx context.Context, step int32, h configsv1.HelmStep, own *renderers.StepInputs) error {
	if f.Source == nil {
		return nil
	}
	dir := path.Join(f.Path, h.Chart)
	chartYAML, found, err := f.readFile(path.Join(dir, "Chart.yaml"))
	if err != nil || !found {
		return err // a missing chart is the renderer's to report
	}
	md := &chart.Metadata{}
	if err := yaml.Unmarshal(chartYAML, md); err != nil {
		return nil // the renderer reports a broken Chart.yaml as helm does
	}
	remote := map[string]*chart.Dependency{}
	for _, d := range md.Dependencies {
		if d != nil && isRemoteRepository(d.Repository) {
			remote[dependencyKey(d)] = d
		}
	}
	if len(remote) == 0 {
		return nil
	}
	vendored, err := f.vendored(dir)
	if err != nil {
		return err
	}
	missing := false
	for _, d := range remote {
		missing = missing || !vendored(d.Name)
	}
	if !missing {
		return nil
	}
	if f.Fetcher == nil {
		return disabled(h.Chart + " dependencies")
	}
	if f.hasPins(step) {
		return f.pinnedDependencies(ctx, step, own)
	}
	lock, _, err := f.readFile(path.Join(dir, "Chart.lock"))
	if err != nil {
		return err
	}
	// Credentials are not sent to dependencies: a chart of the tree has no
	// authSecretRef, and its dependencies may live on any host.
	pins, archives, err := f.Fetcher.Dependencies(ctx, chartYAML, lock, func(string) *charts.Credentials { return nil })
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(archives))
	for key := range archives {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		own.Dependencies = append(own.Dependencies, archives[key])
		if d := remote[key]; d != nil {
			if p, ok := pinFor(pins, d); ok {
				own.Charts = append(own.Charts, pinOf(step, key, p))
			}
		}
	}
	sortPins(own.Charts)
	return nil
}

func (f ChartFetch) hasPins(step int32) bool {
	for _, p := range f.Pins {
		if p.Step == step && p.Dependency != "" {
			return true
		}
	}
	return false
}

// pinnedDependencies loads exactly the dependencies a rollback's history
// entry recorded, with no index read.
func (f ChartFetch) pinnedDependencies(ctx context.Context, step int32, own *renderers.StepInputs) error {
	for _, pin := range f.Pins {
		if pin.Step != step || pin.Dependency == "" {
			continue
		}
		data, err := f.Fetcher.Load(ctx, charts.Pinned{RepoURL: pin.RepoURL, Name: pin.Name, Version: pin.Version, Digest: pin.Digest}, nil)
		if err != nil {
			return err
		}
		own.Dependencies = append(own.Dependencies, data)
		own.Charts = append(own.Charts, pin)
	}
	return nil
}

func dependencyKey(d *chart.Dependency) string {
	if d.Alias != "" {
		return d.Alias
	}
	return d.Name
}

// pinFor finds the pin of dependency d among what Dependencies pinned.
func pinFor(pins []charts.Pinned, d *chart.Dependency) (charts.Pinned, bool) {
	repo := strings.TrimSuffix(d.Repository, "/")
	for _, p := range pins {
		if p.Name == d.Name && strings.TrimSuffix(p.RepoURL, "/") == repo {
			return p, true
		}
	}
	for _, p := range pins {
		if p.Name == d.Name {
			return p, true
		}
	}
	return charts.Pinned{}, false
}

func sortPins(pins []configsv1.PinnedChart) {
	sort.SliceStable(pins, func(i, j int) bool { return pins[i].Dependency < pins[j].Dependency })
}

// readFile reads one file of the source; found is false when it is absent.
func (f ChartFetch) readFile(p string) ([]byte, bool, error) {
	tree, err := f.Source.Load(p, filetree.DefaultLimits)
	if failure.ReasonOf(err) == source.ReasonPathNotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	for _, data := range tree {
		return data, true, nil
	}
	return nil, false, nil
}

// archiveName is how `helm dependency build` names a chart it downloads.
var archiveName = regexp.MustCompile(`^(.+)-v?[0-9]+\.[0-9]+\.[0-9]+.*\.tgz$`)

// vendored tells which dependencies the chart's charts/ folder already
// holds, by the names helm gives them there: a folder of the chart's name,
// or <name>-<version>.tgz.
func (f ChartFetch) vendored(dir string) (func(name string) bool, error) {
	tree, err := f.Source.Load(path.Join(dir, "charts"), filetree.DefaultLimits)
	if failure.ReasonOf(err) == source.ReasonPathNotFound {
		return func(string) bool { return false }, nil
	}
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for p := range tree {
		top, rest, nested := strings.Cut(p, "/")
		if nested && rest != "" {
			names[top] = true
			continue
		}
		if m := archiveName.FindStringSubmatch(top); m != nil {
			names[m[1]] = true
		}
	}
	return func(name string) bool { return names[name] }, nil
}
