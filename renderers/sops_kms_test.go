package renderers_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/configsync/configsync/internal/filetree"
	"github.com/configsync/configsync/renderers"
)

// withKeyGroups replaces the age key of an age-encrypted fixture with the
// given sops metadata keys (the data key cannot be recovered from them: the
// render must fail, and the question is how and with what requests).
func withKeyGroups(t *testing.T, keys string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(goldenDir, "sops-age", "input", "secret.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	age := regexp.MustCompile(`(?s)    age:\n.*?recipient: age1\S+\n`)
	if !age.Match(data) {
		t.Fatal("the sops-age fixture has no age key block")
	}
	return age.ReplaceAll(data, []byte(keys))
}

// TestSopsCloudKMSIsOffByDefault: a file encrypted only for cloud KMS or
// Vault keys is refused with the key named and the option that allows it,
// and no request leaves the process (a Vault key whose address is a loopback
// listener counts them); sops' own key service, with the operator's ambient
// credentials, would have called it.
func TestSopsCloudKMSIsOffByDefault(t *testing.T) {
	host, requests := attackerListener(t)
	vault := "    hc_vault:\n        - vault_address: http://" + host + "\n          engine_path: sops\n          key_name: tenant-a\n          created_at: \"2026-11-25T21:49:58Z\"\n          enc: vault:v1:bm90LWEtcmVhbC1kYXRhLWtleQ==\n"
	cases := []struct {
		name, keys, want string
	}{
		{"HashiCorp Vault", vault, "HashiCorp Vault key http://" + host + "/v1/sops/keys/tenant-a"},
		{"AWS KMS", "    kms:\n        - arn: arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab\n          created_at: \"2026-11-25T21:49:58Z\"\n          enc: bm90LWEtcmVhbC1kYXRhLWtleQ==\n          aws_profile: \"\"\n",
			"AWS KMS key arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
		{"GCP KMS", "    gcp_kms:\n        - resource_id: projects/p/locations/global/keyRings/r/cryptoKeys/k\n          created_at: \"2026-11-25T21:49:58Z\"\n          enc: bm90LWEtcmVhbC1kYXRhLWtleQ==\n",
			"GCP KMS key projects/p/locations/global/keyRings/r/cryptoKeys/k"},
		{"Azure Key Vault", "    azure_kv:\n        - vault_url: http://" + host + "\n          name: k\n          version: \"1\"\n          created_at: \"2026-11-25T21:49:58Z\"\n          enc: bm90LWEtcmVhbC1kYXRhLWtleQ==\n",
			"Azure Key Vault key http://" + host + "/keys/k"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tree := filetree.Tree{"secret.yaml": withKeyGroups(t, tc.keys)}
			// An age identity is configured, as a tenant's step has one; it matches no key of the file.
			s := &renderers.Sops{AgeIdentities: []string{string(readFile(t, filepath.Join(goldenDir, "sops-age", "age.agekey")))}}
			requests.Store(0)
			_, err := s.Render(context.Background(), tree)
			if n := requests.Load(); n != 0 {
				t.Fatalf("%d requests left the process", n)
			}
			if err == nil || !errors.Is(err, renderers.ErrCloudKMSDisabled) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "AllowCloudKMS") {
				t.Fatalf("error %v, want one naming %q and the AllowCloudKMS option", err, tc.want)
			}
			t.Logf("refused: %v", err)
		})
	}

	// Allowed by the admin, the Vault key goes to sops' key service, which
	// calls the Vault address: the listener sees it.
	t.Run("allowed", func(t *testing.T) {
		t.Setenv("VAULT_TOKEN", "not-a-real-token")
		tree := filetree.Tree{"secret.yaml": withKeyGroups(t, vault)}
		requests.Store(0)
		_, err := (&renderers.Sops{AllowCloudKMS: true}).Render(context.Background(), tree)
		if err == nil || errors.Is(err, renderers.ErrCloudKMSDisabled) {
			t.Fatalf("error %v, want Vault's own failure", err)
		}
		if requests.Load() == 0 {
			t.Fatalf("no request reached the Vault address: the refusal above proves nothing (%v)", err)
		}
	})

	// age keys in the same file still decrypt it.
	t.Run("age beside Vault", func(t *testing.T) {
		data := readFile(t, filepath.Join(goldenDir, "sops-age", "input", "secret.yaml"))
		data = []byte(strings.Replace(string(data), "sops:\n", "sops:\n"+vault, 1))
		s := &renderers.Sops{AgeIdentities: []string{string(readFile(t, filepath.Join(goldenDir, "sops-age", "age.agekey")))}}
		requests.Store(0)
		out, err := s.Render(context.Background(), filetree.Tree{"secret.yaml": data})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out["secret.yaml"]), "ENC[") {
			t.Fatalf("not decrypted:\n%s", out["secret.yaml"])
		}
		if n := requests.Load(); n != 0 {
			t.Fatalf("%d requests left the process", n)
		}
	})
}
