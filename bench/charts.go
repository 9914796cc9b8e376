package main

import (
	"context"
	"fmt"
	"time"

	"testing"

	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/charts/chartstest"
	"github.com/configsync/configsync/internal/testgit"
)

// remoteChartSyncs is how many ConfigSyncs render one remote chart: enough
// to show that they share its download, few enough to stay cheap.
const remoteChartSyncs = 100

// remoteChart syncs remoteChartSyncs ConfigSyncs whose helm step names one
// chart of a Helm repository on loopback (a semver range, values from Git),
// and counts what the repository served: the chart's archive once, however
// many ConfigSyncs render it.
func (b *bench) remoteChart() error {
	const ns = "charts"
	tb := standaloneTB{s: b.standalone}
	repo := chartstest.NewRepo(tb, chartstest.RepoOptions{})
	repo.Publish(tb, chartstest.Chart("app", "1.0.0", nil))
	repo.Publish(tb, chartstest.Chart("app", "1.1.0", nil))
	git := b.git.NewRepo(b.standalone, "charts.git")
	git.Commit(b.standalone, map[string]string{"values.yaml": "replicas: 2\n"}, "values")
	if err := b.namespace(ns); err != nil {
		return err
	}
	if err := b.webhookSecret(); err != nil {
		return err
	}
	m, err := b.startManager(ns, "--helm-allow-plain-http", "--helm-allowed-hosts=127.0.0.1")
	if err != nil {
		return err
	}
	defer m.stop()
	rw, err := b.watchReady(ns)
	if err != nil {
		return err
	}
	start := time.Now()
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(32)
	for i := range remoteChartSyncs {
		g.Go(func() error { return b.k8s.Create(ctx, chartConfigSync(ns, git.URL, repo.URL(), i)) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := rw.wait(remoteChartSyncs, 10*time.Minute); err != nil {
		return err
	}
	took := time.Since(start)
	cpu, rss := m.usage()
	b.row(fmt.Sprintf("8. remote chart: %d ConfigSyncs rendering one chart of a Helm repository (^1.0), creation to all Ready", remoteChartSyncs),
		took.Round(time.Millisecond).String()+fmt.Sprintf(", manager CPU %.2f s, peak RSS %s", cpu.Seconds(), mib(rss)), "", "", "")
	b.row("   chart archive downloads counted by the repository", fmt.Sprintf("%d", repo.Downloads("app", "1.1.0")), "", "", "1")
	b.row("   requests the repository served (index.yaml and archives)", fmt.Sprintf("%d", repo.Requests()), "", "", "")
	return nil
}

func chartConfigSync(ns, gitURL, chartRepo string, i int) *configsv1.ConfigSync {
	return &configsv1.ConfigSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("chart-%03d", i), Labels: map[string]string{"bench": ns}},
		Spec: configsv1.ConfigSyncSpec{
			Source: configsv1.Source{Git: configsv1.GitSource{RepoURL: gitURL, Branch: "main"}},
			Render: []configsv1.RenderStep{{Helm: &configsv1.HelmStep{
				RepoURL: chartRepo, Chart: "app", Version: "^1.0", ReleaseName: fmt.Sprintf("app-%03d", i), ValuesFiles: []string{"values.yaml"},
			}}},
			RefreshInterval: &metav1.Duration{Duration: time.Hour},
		},
	}
}

// standaloneTB lets the chart test servers, written for tests, serve this
// program: the methods they call go to the Standalone, as the Git test
// server's do. The embedded testing.TB is nil: a method they do not call
// today would panic, not pass silently.
type standaloneTB struct {
	testing.TB
	s *testgit.Standalone
}

func (t standaloneTB) Helper()                      {}
func (t standaloneTB) Fatal(args ...any)            { t.s.Fatal(args...) }
func (t standaloneTB) Fatalf(f string, args ...any) { t.s.Fatalf(f, args...) }
func (t standaloneTB) Errorf(f string, args ...any) { t.s.Fatalf(f, args...) }
func (t standaloneTB) Cleanup(f func())             { t.s.Cleanup(f) }
func (t standaloneTB) TempDir() string              { return t.s.TempDir() }
