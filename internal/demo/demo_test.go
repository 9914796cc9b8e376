package demo

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// `make demo` in its non-interactive mode: the walkthrough runs to the end
// on its own control plane and shows the sync, the resync after a commit and
// the rollback, with the decrypted password in the cluster and nowhere in
// the narration.
func TestWalkthrough(t *testing.T) {
	var out bytes.Buffer
	outcome, err := Run(context.Background(), Options{
		Out:        &out,
		Example:    "../../examples/template-sops",
		Kubeconfig: filepath.Join(t.TempDir(), "demo.kubeconfig"),
		UIAddress:  "127.0.0.1:0",
	})
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	if got, want := strings.Join(outcome.Owners, ","), "payments,checkout,payments"; got != want {
		t.Errorf("OWNER went %s, want %s", got, want)
	}
	if outcome.Password != "pr0d-s3cret" {
		t.Errorf("the cluster got password %q, want the SOPS-decrypted one", outcome.Password)
	}
	if len(outcome.Revisions) != 2 || outcome.Revisions[0] == outcome.Revisions[1] {
		t.Errorf("revisions %v, want two commits", outcome.Revisions)
	}
	text := out.String()
	if !strings.HasPrefix(outcome.UIURL, "http://127.0.0.1:") || !strings.Contains(text, "open "+outcome.UIURL) || !strings.Contains(text, "configsync ui") {
		t.Errorf("the narration does not open the web UI (%q)", outcome.UIURL)
	}
	for _, want := range []string{"Rolling back to the previous revision", "RolledBack", "REVISION", "Cleaning up", "DB_PASSWORD: ***"} {
		if !strings.Contains(text, want) {
			t.Errorf("narration lacks %q", want)
		}
	}
	if strings.Contains(text, "pr0d-s3cret") {
		t.Error("the narration shows the decrypted password")
	}
}
