package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/configsync/configsync/charts/chartstest"
)

// render resolves a helm step's remote chart as the operator would, from
// a real Helm repository with basic auth, and prints the exact version and
// digest it pinned as a comment before the objects. Credentials come from a
// Secret manifest; without it, or over plain HTTP without the flag, it
// says why.
func TestRenderPrintsThePinnedRemoteChart(t *testing.T) {
	repo := chartstest.NewRepo(t, chartstest.RepoOptions{Username: "u", Password: "p4ss"})
	repo.Publish(t, chartstest.Chart("app", "1.0.0", nil))
	d110 := repo.Publish(t, chartstest.Chart("app", "1.1.0", nil))
	repo.Publish(t, chartstest.Chart("app", "2.0.0", nil))

	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("src/values.yaml", "replicas: 4\n")
	cs := write("cs.yaml", fmt.Sprintf(`apiVersion: configs.example.io/v1alpha1
kind: ConfigSync
metadata: {name: app, namespace: apps}
spec:
  source:
    git: {repoURL: https://example.com/r.git}
  render:
  - helm: {repoURL: %q, chart: app, version: "^1.0", releaseName: rel, valuesFiles: [values.yaml], authSecretRef: {name: creds}}
`, repo.URL()))
	secret := write("creds.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {username: u, password: p4ss}\n")

	args := []string{"render", "-f", cs, "--source", src, "--helm-allow-plain-http"}
	out, err := runCLI(t, append(args, "--chart-secret", "creds="+secret)...)
	if err != nil {
		t.Fatal(err)
	}
	wantPin := fmt.Sprintf("# chart (step 1): app 1.1.0 %s from %s\n", d110, repo.URL())
	if !strings.HasPrefix(out, wantPin) {
		t.Errorf("the output does not start with %q:\n%s", wantPin, out)
	}
	for _, want := range []string{"name: rel-app", `version: 1.1.0`, `replicas: "4"`} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q:\n%s", want, out)
		}
	}

	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no credentials": {args, "pass --chart-secret creds=FILE"},
		"plain HTTP":     {[]string{"render", "-f", cs, "--source", src, "--chart-secret", "creds=" + secret}, "ChartHostNotAllowed"},
	} {
		_, err := runCLI(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error saying %q", name, err, tc.want)
		}
	}
}
