package inputs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/charts"
	"github.com/configsync/configsync/charts/chartstest"
	"github.com/configsync/configsync/internal/failure"
	"github.com/configsync/configsync/renderers"
	"github.com/configsync/configsync/source"
)

// chartTree writes files into a folder served as a source artifact.
func chartTree(t *testing.T, files map[string]string) *source.Artifact {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return source.DirArtifact(dir, "test")
}

func helmSpec(step configsv1.HelmStep) []configsv1.RenderStep {
	return []configsv1.RenderStep{{Template: &configsv1.TemplateStep{}}, {Helm: &step}}
}

// What FetchCharts fetches for a ConfigSync, and what it leaves alone:
// remote charts refused when the manager turns them off; dependencies the
// tree vendors (a folder, or helm's <name>-<version>.tgz) never fetched, so
// such trees render offline as before; missing ones fetched and pinned
// under their alias; and a rollback's pins loaded as recorded though a
// newer version matches.
func TestFetchCharts(t *testing.T) {
	ctx := context.Background()
	repo := chartstest.NewRepo(t, chartstest.RepoOptions{})
	d100 := repo.Publish(t, chartstest.Chart("db", "1.0.0", nil))
	d110 := repo.Publish(t, chartstest.Chart("db", "1.1.0", nil))
	fetcher := charts.New(charts.Options{AllowPlainHTTP: true})
	umbrella := fmt.Sprintf("apiVersion: v2\nname: umbrella\nversion: 0.1.0\ndependencies:\n- {name: db, alias: main, version: \"^1.0\", repository: %q}\n", repo.URL())

	t.Run("turned off", func(t *testing.T) {
		remote := helmSpec(configsv1.HelmStep{RepoURL: repo.URL(), Chart: "db"})
		for name, f := range map[string]*charts.Fetcher{"no fetcher": nil, "--helm-remote-charts=false": charts.New(charts.Options{Disabled: true, AllowPlainHTTP: true})} {
			_, err := FetchCharts(ctx, remote, &renderers.Inputs{}, ChartFetch{Fetcher: f})
			if failure.ReasonOf(err) != charts.ReasonRemoteChartsDisabled {
				t.Errorf("%s: got %v, want %s", name, err, charts.ReasonRemoteChartsDisabled)
			}
		}
	})

	t.Run("vendored dependencies are not fetched", func(t *testing.T) {
		before := repo.Requests()
		for name, vendored := range map[string]string{"folder": "charts/db/Chart.yaml", "archive": "charts/db-1.0.0.tgz"} {
			art := chartTree(t, map[string]string{"umbrella/Chart.yaml": umbrella, "umbrella/" + vendored: "vendored"})
			in := &renderers.Inputs{}
			pins, err := FetchCharts(ctx, helmSpec(configsv1.HelmStep{Chart: "umbrella"}), in, ChartFetch{Fetcher: fetcher, Source: art, Path: "."})
			if err != nil || len(pins) != 0 || len(in.Steps[1].Dependencies) != 0 {
				t.Errorf("%s: pins %v, %d archives, error %v; want nothing fetched", name, pins, len(in.Steps[1].Dependencies), err)
			}
		}
		if n := repo.Requests() - before; n != 0 {
			t.Errorf("the repository served %d requests", n)
		}
	})

	art := chartTree(t, map[string]string{"apps/umbrella/Chart.yaml": umbrella})
	spec := helmSpec(configsv1.HelmStep{Chart: "umbrella"})
	t.Run("missing dependencies are fetched at the newest match", func(t *testing.T) {
		in := &renderers.Inputs{}
		pins, err := FetchCharts(ctx, spec, in, ChartFetch{Fetcher: fetcher, Source: art, Path: "apps"})
		if err != nil {
			t.Fatal(err)
		}
		want := configsv1.PinnedChart{Step: 2, Dependency: "main", RepoURL: repo.URL(), Name: "db", Version: "1.1.0", Digest: d110}
		if len(pins) != 1 || pins[0] != want || len(in.Steps[1].Dependencies) != 1 {
			t.Errorf("pins %+v (%d archives), want [%+v]", pins, len(in.Steps[1].Dependencies), want)
		}
	})

	t.Run("a rollback loads its pins", func(t *testing.T) {
		pin := configsv1.PinnedChart{Step: 2, Dependency: "main", RepoURL: repo.URL(), Name: "db", Version: "1.0.0", Digest: d100}
		in := &renderers.Inputs{}
		pins, err := FetchCharts(ctx, spec, in, ChartFetch{Fetcher: fetcher, Source: art, Path: "apps", Pins: []configsv1.PinnedChart{pin}})
		if err != nil {
			t.Fatal(err)
		}
		if len(pins) != 1 || pins[0] != pin || chartstest.Digest(in.Steps[1].Dependencies[0]) != d100 {
			t.Errorf("pins %+v, want [%+v] and 1.0.0's archive", pins, pin)
		}
	})
}
