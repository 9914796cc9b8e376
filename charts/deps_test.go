package charts_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"

	"github.com/configsync/configsync/charts"
	"github.com/configsync/configsync/charts/chartstest"
	"github.com/configsync/configsync/internal/reftools"
)

// helmCLI runs the reference helm in dir with its own empty home.
func helmCLI(t *testing.T, dir string, args ...string) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(reftools.Path(t, "helm"), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config",
		"HELM_DATA_HOME="+home+"/data", "HOME="+home)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// An umbrella chart in Git with one dependency from a Helm repository, one
// from an OCI registry (under an alias) and one from its own tree: the lock
// `helm dependency update` writes is honoured, the archives are the bytes
// helm downloaded, and without the lock each range takes its newest match.
func TestDependencies(t *testing.T) {
	r := chartstest.NewRepo(t, chartstest.RepoOptions{})
	publishVersions(t, r, "1.0.0", "1.1.0")
	reg := chartstest.NewRegistry(t, chartstest.RegistryOptions{})
	reg.Push(t, chartstest.Chart("ocisub", "1.0.0", nil))
	reg.Push(t, chartstest.Chart("ocisub", "1.2.0", nil))

	dir := t.TempDir()
	chartstest.WriteChartDir(t, dir, chartstest.Chart("local", "0.1.0", nil))
	umbrella := chartstest.Chart("umbrella", "1.0.0", map[string]string{})
	umbrella.Metadata.Dependencies = []*chart.Dependency{
		{Name: "app", Version: "^1.0.0", Repository: r.URL()},
		{Name: "ocisub", Version: "^1.0.0", Repository: reg.URL(), Alias: "db"},
		{Name: "local", Version: "0.1.0", Repository: "file://../local"},
	}
	path := chartstest.WriteChartDir(t, dir, umbrella)
	helmCLI(t, path, "dependency", "update", "--plain-http")

	chartYAML, err := os.ReadFile(filepath.Join(path, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	lock, err := os.ReadFile(filepath.Join(path, "Chart.lock"))
	if err != nil {
		t.Fatal(err)
	}
	// Newer versions than the lock's, which a lock must not pick.
	publishVersions(t, r, "1.2.0")
	reg.Push(t, chartstest.Chart("ocisub", "1.3.0", nil))

	t.Run("with Chart.lock", func(t *testing.T) {
		pinned, archives, err := charts.New(plain()).Dependencies(context.Background(), chartYAML, lock, nil)
		wantReason(t, err, "")
		wantVersions(t, pinned, "app", "1.1.0", "ocisub", "1.2.0")
		for key, file := range map[string]string{"app": "app-1.1.0.tgz", "db": "ocisub-1.2.0.tgz"} {
			helmGot, err := os.ReadFile(filepath.Join(path, "charts", file))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(archives[key], helmGot) {
				t.Fatalf("%s: %d bytes, not the %d helm dependency update downloaded", key, len(archives[key]), len(helmGot))
			}
		}
		if len(archives) != 2 {
			t.Fatalf("archives %d, want 2 (the file:// dependency is the tree's)", len(archives))
		}
	})
	t.Run("without a lock", func(t *testing.T) {
		pinned, archives, err := charts.New(plain()).Dependencies(context.Background(), chartYAML, nil, nil)
		wantReason(t, err, "")
		wantVersions(t, pinned, "app", "1.2.0", "ocisub", "1.3.0")
		if !bytes.Equal(archives["app"], r.Archive("app", "1.2.0")) || !bytes.Equal(archives["db"], reg.Archive("ocisub", "1.3.0")) {
			t.Fatal("archives are not the newest matches' bytes")
		}
		if pinned[0].Digest != chartstest.Digest(archives["app"]) {
			t.Fatalf("pinned digest %s is not the archive's", pinned[0].Digest)
		}
	})
	t.Run("refresh sees a version published within the TTL", func(t *testing.T) {
		f := charts.New(plain())
		pinned, _, err := f.Dependencies(context.Background(), chartYAML, nil, nil)
		wantReason(t, err, "")
		wantVersions(t, pinned, "app", "1.2.0", "ocisub", "1.3.0")
		publishVersions(t, r, "1.3.0")
		reg.Push(t, chartstest.Chart("ocisub", "1.4.0", nil))
		pinned, _, err = f.Dependencies(context.Background(), chartYAML, nil, nil)
		wantReason(t, err, "")
		wantVersions(t, pinned, "app", "1.2.0", "ocisub", "1.3.0")
		pinned, _, err = f.DependenciesRefresh(context.Background(), chartYAML, nil, nil)
		wantReason(t, err, "")
		wantVersions(t, pinned, "app", "1.3.0", "ocisub", "1.4.0")
	})
	t.Run("lock out of sync with Chart.yaml", func(t *testing.T) {
		edited := bytes.Replace(chartYAML, []byte("^1.0.0"), []byte("^1.1.0"), 1)
		if bytes.Equal(edited, chartYAML) {
			t.Fatal("the edit changed nothing")
		}
		_, _, err := charts.New(plain()).Dependencies(context.Background(), edited, lock, nil)
		wantReason(t, err, charts.ReasonChartDigestMismatch)
	})
	t.Run("credentials by repository", func(t *testing.T) {
		private := chartstest.NewRepo(t, chartstest.RepoOptions{Username: "user", Password: secret})
		private.Publish(t, chartstest.Chart("app", "1.0.0", nil))
		yml := []byte("apiVersion: v2\nname: u\nversion: 1.0.0\ndependencies:\n- name: app\n  version: 1.0.0\n  repository: " + private.URL() + "\n")
		f := charts.New(plain())
		_, _, err := f.Dependencies(context.Background(), yml, nil, func(string) *charts.Credentials { return nil })
		wantReason(t, err, charts.ReasonChartAuthFailed)
		_, _, err = f.Dependencies(context.Background(), yml, nil, func(repoURL string) *charts.Credentials {
			if repoURL == private.URL() {
				return &charts.Credentials{Username: "user", Password: secret}
			}
			return nil
		})
		wantReason(t, err, "")
	})
	t.Run("local only needs no network", func(t *testing.T) {
		yml := []byte("apiVersion: v2\nname: u\nversion: 1.0.0\ndependencies:\n- name: local\n  version: 0.1.0\n  repository: file://../local\n- name: vendored\n  version: 0.1.0\n")
		pinned, archives, err := charts.New(charts.Options{Disabled: true}).Dependencies(context.Background(), yml, nil, nil)
		if err != nil || len(pinned) != 0 || len(archives) != 0 {
			t.Fatalf("pinned %v, %d archives, err %v; want nothing", pinned, len(archives), err)
		}
	})
	t.Run("repository alias", func(t *testing.T) {
		yml := []byte("apiVersion: v2\nname: u\nversion: 1.0.0\ndependencies:\n- name: app\n  version: 1.0.0\n  repository: \"@stable\"\n")
		_, _, err := charts.New(plain()).Dependencies(context.Background(), yml, nil, nil)
		wantReason(t, err, charts.ReasonChartInvalid)
	})
}

func wantVersions(t *testing.T, pinned []charts.Pinned, nameVersions ...string) {
	t.Helper()
	var got []string
	for _, p := range pinned {
		got = append(got, p.Name, p.Version)
	}
	if strings.Join(got, " ") != strings.Join(nameVersions, " ") {
		t.Fatalf("pinned %v, want %v", got, nameVersions)
	}
}
