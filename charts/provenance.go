package charts

import (
	"bytes"
	"context"
	"os"
	"path"
	"path/filepath"

	"github.com/ProtonMail/go-crypto/openpgp"
	"helm.sh/helm/v3/pkg/provenance"
)

const maxProvBytes = 1 << 20

// VerifyProvenance checks a chart of a Helm repository as `helm pull
// --verify` does: the .prov file published beside its archive must be
// signed by a key of keyring (a GPG public keyring, binary as `gpg --export`
// writes it, or armored) and name the archive's sha256. Helm's
// pkg/provenance verifies; it reads files, so the archive and the .prov are
// written to a temporary folder for the check and removed after it.
//
// OCI charts are not covered: helm keeps a .prov as a layer there, and
// cosign or notation signatures are not built.
func (f *Fetcher) VerifyProvenance(ctx context.Context, p Pinned, creds *Credentials, keyring []byte) error {
	src, err := f.admit(p.RepoURL, p.Name)
	if err != nil {
		return err
	}
	chart := chartName(p.RepoURL, p.Name)
	if src.oci {
		return fail(ReasonChartInvalid, chart, "provenance verification is built for Helm repositories only, not OCI registries")
	}
	ring, err := readKeyRing(keyring)
	if err != nil {
		return fail(ReasonChartInvalid, chart, "the keyring is neither a binary nor an armored GPG keyring")
	}
	archive, err := f.Load(ctx, p, creds)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	idx, err := f.index(ctx, src, chart, creds, false)
	if err != nil {
		return err
	}
	cv := findVersion(idx, p)
	if cv == nil || len(cv.URLs) == 0 {
		return fail(ReasonChartVersionNotFound, chart, "the repository's index no longer lists version %s", p.Version)
	}
	archiveURL, err := chartURL(src, chart, cv)
	if err != nil {
		return err
	}
	provURL := *archiveURL
	provURL.Path += ".prov"
	provURL.RawPath = ""
	prov, err := f.get(ctx, chart, &provURL, src, creds, maxProvBytes, ReasonChartVerificationFailed)
	if err != nil {
		return err
	}
	return verifyFiles(chart, path.Base(archiveURL.Path), archive, prov, ring)
}

func readKeyRing(data []byte) (openpgp.EntityList, error) {
	ring, err := openpgp.ReadKeyRing(bytes.NewReader(data))
	if err == nil && len(ring) > 0 {
		return ring, nil
	}
	return openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
}

// verifyFiles runs helm's check on the archive under its published name
// (the .prov names it so).
func verifyFiles(chart, name string, archive, prov []byte, ring openpgp.EntityList) error {
	dir, err := os.MkdirTemp("", "configsync-prov-")
	if err != nil {
		return fail(ReasonChartVerificationFailed, chart, "provenance: %v", err)
	}
	defer os.RemoveAll(dir)
	archivePath := filepath.Join(dir, filepath.Base(name))
	if err := os.WriteFile(archivePath, archive, 0o600); err != nil {
		return fail(ReasonChartVerificationFailed, chart, "provenance: %v", err)
	}
	if err := os.WriteFile(archivePath+".prov", prov, 0o600); err != nil {
		return fail(ReasonChartVerificationFailed, chart, "provenance: %v", err)
	}
	sig := &provenance.Signatory{KeyRing: ring}
	if _, err := sig.Verify(archivePath, archivePath+".prov"); err != nil {
		return fail(ReasonChartVerificationFailed, chart, "provenance of %s: %v", name, err)
	}
	return nil
}
