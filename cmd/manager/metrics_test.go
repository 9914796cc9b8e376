package main

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/configsync/configsync/internal/testenv"
)

// The manager's metrics, as deploy/ runs them, answer only callers the
// apiserver authenticates and authorizes: no token 401, a ServiceAccount
// without the metrics reader ClusterRole 403, one bound to it 200.
func TestMetricsNeedAnAuthorizedCaller(t *testing.T) {
	cluster := testenv.Start(t)
	cfg, k8s := cluster.Config, cluster.Client
	ctx := context.Background()

	addr := freeAddress(t)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: testenv.Scheme(), HealthProbeBindAddress: "0",
		Metrics: metricsOptions(config{metricsAddr: addr, metricsSecure: true})})
	if err != nil {
		t.Fatal(err)
	}
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	t.Cleanup(func() { cancel(); <-done })

	reader := &rbacv1.ClusterRole{}
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "rbac", "metrics-reader.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, reader); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, k8s, reader)
	mustCreate(t, k8s, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "prometheus"}})
	mustCreate(t, k8s, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "nosy"}})
	mustCreate(t, k8s, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "prometheus-reads-configsync"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: reader.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "default", Name: "prometheus"}}})

	httpc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the self-signed certificate of a default install
	}}
	status := func(token string) int {
		req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/metrics", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := httpc.Do(req)
		if err != nil {
			return 0 // not serving yet
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		who   string
		token string
		want  int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"a ServiceAccount without the reader role", tokenOf(t, k8s, "nosy"), http.StatusForbidden},
		{"Prometheus, bound to the reader role", tokenOf(t, k8s, "prometheus"), http.StatusOK},
	} {
		// The server starts with the manager and RBAC takes effect at once;
		// poll until it answers, never longer than a minute.
		deadline := time.Now().Add(time.Minute)
		got := status(tc.token)
		for (got == 0 || (tc.want == http.StatusOK && got == http.StatusForbidden)) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			got = status(tc.token)
		}
		if got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.who, got, tc.want)
		}
	}
}

func freeAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func mustCreate(t *testing.T, c client.Client, o client.Object) {
	t.Helper()
	if err := c.Create(context.Background(), o); err != nil {
		t.Fatalf("create %T %s: %v", o, o.GetName(), err)
	}
}

func tokenOf(t *testing.T, c client.Client, sa string) string {
	t.Helper()
	tr := &authenticationv1.TokenRequest{}
	obj := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: sa}}
	if err := c.SubResource("token").Create(context.Background(), obj, tr); err != nil || tr.Status.Token == "" {
		t.Fatalf("token of %s: %v", sa, err)
	}
	return tr.Status.Token
}
