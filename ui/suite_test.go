package ui_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/controllers"
	"github.com/configsync/configsync/internal/testenv/testoperator"
	"github.com/configsync/configsync/source"
	"github.com/configsync/configsync/ui"
)

// The suite's control plane, the manager's reconciler and an admin client
// that reads what the apiserver holds.
var (
	env        *envtest.Environment
	k8s        client.Client
	reconciler *controllers.ConfigSyncReconciler
	testScheme *runtime.Scheme
	adminCfg   *rest.Config
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	ctrl.SetLogger(zap.New(zap.WriteTo(discard{})))
	suite, err := testoperator.StartSuite(testoperator.SuiteOptions{
		// The test Git server speaks plain HTTP on loopback.
		Fetcher: &source.GitFetcher{AllowPlainHTTPCredentials: true},
		Options: controllers.Options{Workers: 4},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env, k8s, reconciler, testScheme, adminCfg = suite.Env, suite.Client, suite.Reconciler, suite.Scheme, suite.Config
	code := m.Run()
	if err := suite.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return code
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ui-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// startUI serves the UI as the user of cfg, on loopback, until the test
// ends, and returns its URL.
func startUI(t *testing.T, cfg *rest.Config, namespace string) string {
	t.Helper()
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: testScheme})
	if err != nil {
		t.Fatal(err)
	}
	l, hosts, err := ui.Listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ui.New(ui.Options{Client: c, Namespace: namespace, Hosts: hosts})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ui.Serve(ctx, l, srv) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ui.URL(l)
}

// newConfigSync is a pruning ConfigSync of ns/name syncing path of the Git
// repository url, suspended or not.
func newConfigSync(ns, name, url, path string, suspend bool) *configsv1.ConfigSync {
	return &configsv1.ConfigSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: configsv1.ConfigSyncSpec{
			Source:  configsv1.Source{Git: configsv1.GitSource{RepoURL: url, Path: path}},
			Prune:   true,
			Suspend: suspend,
		},
	}
}

// fetch GETs url and returns the body; a status other than 200 fails the
// test.
func fetch(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(body)
}
