package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const billing = `apiVersion: configs.example.io/v1alpha1
kind: ConfigSync
metadata: {name: billing, namespace: billing}
spec:
  source:
    git: {repoURL: https://git.example.com/billing.git}
  render:
  - sops: {decryptionSecretRef: {name: sops-age}}
  - template:
      environment: prod
      valuesFrom: [{kind: ConfigMap, name: team-values}]
`

func TestRenderPrintsWhatTheOperatorWouldApply(t *testing.T) {
	dir := t.TempDir()
	cs := filepath.Join(dir, "cs.yaml")
	team := filepath.Join(dir, "team.yaml")
	if err := os.WriteFile(cs, []byte(billing), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(team, []byte("team: payments\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fixture := "../../testdata/e2e/sops-template"
	args := []string{"render", "-f", cs, "--source", fixture + "/repo",
		"--age-key-file", fixture + "/age.agekey", "--values-from", "ConfigMap/team-values=" + team}

	out, err := runCLI(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"name: billing-config", "OWNER: payments", "LOG_LEVEL: warn", "DB_PASSWORD: pr0d-s3cret"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	outDir := filepath.Join(dir, "out")
	if _, err := runCLI(t, append(args, "-o", outDir)...); err != nil {
		t.Fatal(err)
	}
	secret, err := os.ReadFile(filepath.Join(outDir, "secret.yaml"))
	if err != nil || !strings.Contains(string(secret), "pr0d-s3cret") {
		t.Fatalf("secret.yaml = %q, %v", secret, err)
	}

	if _, err := runCLI(t, "render", "-f", cs, "--source", fixture+"/repo", "--values-from", "ConfigMap/team-values="+team); err == nil ||
		!strings.Contains(err.Error(), "render step 1 (sops)") {
		t.Fatalf("without a key: %v, want a sops step error", err)
	}
}

// A path the local source lacks is named with the folder it was looked
// for in, not with an empty commit.
func TestRenderOfAMissingPathNamesTheFolder(t *testing.T) {
	dir := t.TempDir()
	cs := filepath.Join(dir, "cs.yaml")
	manifest := "apiVersion: configs.example.io/v1alpha1\nkind: ConfigSync\nmetadata: {name: app}\nspec:\n  source:\n    git: {repoURL: https://example.com/r.git, path: nope}\n"
	if err := os.WriteFile(cs, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := runCLI(t, "render", "-f", cs, "--source", src)
	if err == nil {
		t.Fatal("render of a missing path succeeded")
	}
	if msg := err.Error(); !strings.Contains(msg, `path "nope" not found at folder `+src) || strings.Contains(msg, "@") {
		t.Fatalf("error %q, want it to name the folder %s and no commit", msg, src)
	}
}
