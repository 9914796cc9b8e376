package charts_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"helm.sh/helm/v3/pkg/provenance"

	"github.com/configsync/configsync/charts"
	"github.com/configsync/configsync/charts/chartstest"
)

// signer is a GPG key made for one test: it signs archives as `helm package
// --sign` does and exports its public keyring as `gpg --export` does.
type signer struct{ entity *openpgp.Entity }

func newSigner(t *testing.T, name string) signer {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	return signer{entity: e}
}

func (s signer) sign(t *testing.T, fileName string, archive []byte) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), fileName)
	if err := os.WriteFile(path, archive, 0o600); err != nil {
		t.Fatal(err)
	}
	prov, err := (&provenance.Signatory{Entity: s.entity}).ClearSign(path)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(prov)
}

func (s signer) keyring(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := s.entity.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestVerifyProvenance(t *testing.T) {
	r := chartstest.NewRepo(t, chartstest.RepoOptions{RelativeURLs: true})
	digests := publishVersions(t, r, "1.0.0", "1.1.0", "1.2.0")
	reg := chartstest.NewRegistry(t, chartstest.RegistryOptions{})
	ociDigest := reg.Push(t, chartstest.Chart("app", "1.0.0", nil))
	publisher, stranger := newSigner(t, "publisher"), newSigner(t, "stranger")
	r.Serve("app-1.0.0.tgz.prov", publisher.sign(t, "app-1.0.0.tgz", r.Archive("app", "1.0.0")))
	// 1.1.0's .prov is a valid signature of other bytes.
	r.Serve("app-1.1.0.tgz.prov", publisher.sign(t, "app-1.1.0.tgz", r.Archive("app", "1.0.0")))

	pinned := func(v string) charts.Pinned {
		return charts.Pinned{RepoURL: r.URL(), Name: "app", Version: v, Digest: digests[v]}
	}
	cases := []struct {
		name    string
		pinned  charts.Pinned
		keyring []byte
		want    string
	}{
		{"signed by a key of the keyring", pinned("1.0.0"), publisher.keyring(t), ""},
		{"signed by a key not in the keyring", pinned("1.0.0"), stranger.keyring(t), charts.ReasonChartVerificationFailed},
		{"signature of other bytes", pinned("1.1.0"), publisher.keyring(t), charts.ReasonChartVerificationFailed},
		{"no .prov", pinned("1.2.0"), publisher.keyring(t), charts.ReasonChartVerificationFailed},
		{"not a keyring", pinned("1.0.0"), []byte("not a keyring"), charts.ReasonChartInvalid},
		{"oci", charts.Pinned{RepoURL: reg.URL(), Name: "app", Version: "1.0.0", Digest: ociDigest}, publisher.keyring(t), charts.ReasonChartInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := charts.New(plain()).VerifyProvenance(context.Background(), tc.pinned, nil, tc.keyring)
			wantReason(t, err, tc.want)
		})
	}
}
