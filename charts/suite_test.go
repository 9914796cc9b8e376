// Helpers that several test files of the package share.
package charts_test

import (
	"errors"
	"testing"
	"time"

	"github.com/configsync/configsync/charts"
	"github.com/configsync/configsync/charts/chartstest"
)

// plain is the options every test server needs: they listen on plain HTTP
// unless the test asks for TLS.
func plain() charts.Options { return charts.Options{AllowPlainHTTP: true, IndexTTL: time.Hour} }

// wantReason asserts that err is nil when reason is "", and otherwise a
// *charts.Error with that reason.
func wantReason(t *testing.T, err error, reason string) {
	t.Helper()
	if reason == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want %s", reason)
	}
	var ce *charts.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error is not a *charts.Error: %v", err)
	}
	if ce.Reason != reason {
		t.Fatalf("reason %s, want %s (%v)", ce.Reason, reason, err)
	}
}

// publishVersions publishes app at each version to a Helm repository and
// returns the digests by version.
func publishVersions(t *testing.T, r *chartstest.Repo, versions ...string) map[string]string {
	t.Helper()
	digests := map[string]string{}
	for _, v := range versions {
		digests[v] = r.Publish(t, chartstest.Chart("app", v, nil))
	}
	return digests
}

// secret is the password of the test repositories that want one.
const secret = "s3cr3t-password"
