package charts_test

import (
	"context"
	"testing"

	"github.com/configsync/configsync/charts"
	"github.com/configsync/configsync/charts/chartstest"
)

func TestVerifyProvenance(t *testing.T) {
	r := chartstest.NewRepo(t, chartstest.RepoOptions{RelativeURLs: true})
	digests := publishVersions(t, r, "1.0.0", "1.1.0", "1.2.0")
	reg := chartstest.NewRegistry(t, chartstest.RegistryOptions{})
	ociDigest := reg.Push(t, chartstest.Chart("app", "1.0.0", nil))
	publisher, stranger := chartstest.NewSigner(t, "publisher"), chartstest.NewSigner(t, "stranger")
	r.Serve("app-1.0.0.tgz.prov", publisher.Sign(t, "app-1.0.0.tgz", r.Archive("app", "1.0.0")))
	// 1.1.0's .prov is a valid signature of other bytes.
	r.Serve("app-1.1.0.tgz.prov", publisher.Sign(t, "app-1.1.0.tgz", r.Archive("app", "1.0.0")))

	pinned := func(v string) charts.Pinned {
		return charts.Pinned{RepoURL: r.URL(), Name: "app", Version: v, Digest: digests[v]}
	}
	cases := []struct {
		name    string
		pinned  charts.Pinned
		keyring []byte
		want    string
	}{
		{"signed by a key of the keyring", pinned("1.0.0"), publisher.Keyring(t), ""},
		{"signed by a key not in the keyring", pinned("1.0.0"), stranger.Keyring(t), charts.ReasonChartVerificationFailed},
		{"signature of other bytes", pinned("1.1.0"), publisher.Keyring(t), charts.ReasonChartVerificationFailed},
		{"no .prov", pinned("1.2.0"), publisher.Keyring(t), charts.ReasonChartVerificationFailed},
		{"not a keyring", pinned("1.0.0"), []byte("not a keyring"), charts.ReasonChartInvalid},
		{"oci", charts.Pinned{RepoURL: reg.URL(), Name: "app", Version: "1.0.0", Digest: ociDigest}, publisher.Keyring(t), charts.ReasonChartInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := charts.New(plain()).VerifyProvenance(context.Background(), tc.pinned, nil, tc.keyring)
			wantReason(t, err, tc.want)
		})
	}
}
