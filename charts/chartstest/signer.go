package chartstest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"helm.sh/helm/v3/pkg/provenance"
)

// Signer is a GPG key made for one test: it signs chart archives as `helm
// package --sign` does, and exports its public keyring as `gpg --export`.
type Signer struct{ entity *openpgp.Entity }

// NewSigner makes a key for name (name@example.com).
func NewSigner(t testing.TB, name string) *Signer {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Signer{entity: e}
}

// Sign returns the provenance file (fileName.prov) of archive, named
// fileName.
func (s *Signer) Sign(t testing.TB, fileName string, archive []byte) []byte {
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

// Keyring is the public keyring that verifies what Sign signed.
func (s *Signer) Keyring(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := s.entity.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
