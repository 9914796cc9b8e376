package ui_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/configsync/configsync/ui"
)

// Found by an attacker's read of the UI: a page of another site could make
// the browser GET a history diff (a Git fetch with credentials) or a
// confirmation page whose form acts on another ConfigSync than it names.
func TestCrossSiteGetsAndForgedPathsAreRefused(t *testing.T) {
	srv, err := ui.New(ui.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, site string
		want             int
	}{
		{"cross-site image of a history diff", "/cs/ns/app/history/0123456789ab", "cross-site", http.StatusForbidden},
		{"same-site page", "/cs/ns/app", "same-site", http.StatusForbidden},
		{"cross-site event stream", "/events", "cross-site", http.StatusForbidden},
		{"a name hiding another action", "/cs/ns%2Fapp%2Fsuspend%23/x/confirm/reconcile", "none", http.StatusNotFound},
		{"a name hiding a query", "/cs/ns/app%3Frevision=1/confirm/rollback", "", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:9898"+tc.path, nil)
			if tc.site != "" {
				req.Header.Set("Sec-Fetch-Site", tc.site)
			}
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Errorf("status %d, want %d", rec.Code, tc.want)
			}
		})
	}
}
