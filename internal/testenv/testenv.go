// Package testenv starts a real kube-apiserver and etcd for tests, through
// controller-runtime's envtest, with the ConfigSync CRD installed.
//
// The binaries come from KUBEBUILDER_ASSETS when it is set, and otherwise
// from hack/control-plane.sh, which builds them from source on first use and
// caches them outside the clone. So a bare `go test ./...` works too: no test
// is ever skipped for want of a control plane.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
)

// Scheme knows the built-in kinds, CRDs and ConfigSync.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, configsv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}

// New returns an envtest Environment with the ConfigSync CRD from deploy/crd
// and the control-plane binaries located; call Start on it.
func New() (*envtest.Environment, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	assets, err := assetsDir(root)
	if err != nil {
		return nil, err
	}
	return &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(root, "deploy", "crd")},
		ErrorIfCRDPathMissing: true,
		Scheme:                Scheme(),
	}, nil
}

// Cluster is a control plane started for one test.
type Cluster struct {
	Env *envtest.Environment
	// Config and Client reach the apiserver as an administrator; Client
	// knows Scheme().
	Config *rest.Config
	Client client.Client
}

// Start starts a control plane for t, once configure (if any) has changed
// its Environment, and stops it when t ends.
func Start(t testing.TB, configure ...func(*envtest.Environment)) *Cluster {
	t.Helper()
	env, err := New()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range configure {
		f(env)
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start control plane: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return &Cluster{Env: env, Config: cfg, Client: c}
}

func assetsDir(root string) (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	cmd := exec.Command("bash", filepath.Join(root, "hack", "control-plane.sh"))
	cmd.Stderr = os.Stderr // the cold build prints progress for about 15 minutes
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("build the test control plane with hack/control-plane.sh: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
