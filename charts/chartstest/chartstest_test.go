package chartstest_test

import (
	"io"
	"net/http"
	"path/filepath"
	"testing"

	"helm.sh/helm/v3/pkg/registry"

	"github.com/configsync/configsync/charts/chartstest"
)

// The servers serve what was published and count it, so tests built on them
// can trust their counters.
func TestRepoServesAndCounts(t *testing.T) {
	r := chartstest.NewRepo(t, chartstest.RepoOptions{Username: "u", Password: "p"})
	r.Publish(t, chartstest.Chart("app", "1.0.0", nil))

	get := func(path, user, pass string) int {
		req, _ := http.NewRequest(http.MethodGet, r.URL()+path, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("/app-1.0.0.tgz", "u", "wrong"); code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d, want 401", code)
	}
	if code := get("/app-1.0.0.tgz", "u", "p"); code != http.StatusOK {
		t.Fatalf("right password: %d, want 200", code)
	}
	if n := r.Downloads("app", "1.0.0"); n != 1 {
		t.Fatalf("downloads = %d, want 1 (the refused one does not count)", n)
	}
	if n := r.Requests(); n != 2 {
		t.Fatalf("requests = %d, want 2", n)
	}
}

func TestRegistryPushPullCounts(t *testing.T) {
	reg := chartstest.NewRegistry(t, chartstest.RegistryOptions{Username: "u", Password: "p"})
	digest := reg.Push(t, chartstest.Chart("app", "1.0.0", nil))
	client, err := registry.NewClient(registry.ClientOptPlainHTTP(), registry.ClientOptBasicAuth("u", "p"),
		registry.ClientOptCredentialsFile(filepath.Join(t.TempDir(), "c.json")))
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.Pull(reg.Host() + "/charts/app@" + digest)
	if err != nil {
		t.Fatal(err)
	}
	if res.Chart.Meta.Version != "1.0.0" {
		t.Fatalf("pulled %s", res.Chart.Meta.Version)
	}
	if n := reg.Downloads("app", "1.0.0"); n != 1 {
		t.Fatalf("downloads = %d, want 1", n)
	}
	reg.SetDown(true)
	if _, err := client.Tags(reg.Host() + "/charts/app"); err == nil {
		t.Fatal("a down registry answered")
	}
}
