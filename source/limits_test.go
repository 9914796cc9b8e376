package source_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/configsync/configsync/internal/failure"
	"github.com/configsync/configsync/internal/testgit"
	"github.com/configsync/configsync/source"
)

// A server's error page (401/403/404/500 bodies, which go-git quotes
// whole) reaches the message cut to 1 KiB on a rune boundary, credentials
// scrubbed before the cut.
func TestErrorPagesAreCutInMessages(t *testing.T) {
	page := strings.Repeat("é", 50_000) // two bytes each: a cut can fall inside one
	for _, code := range []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusInternalServerError} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(code)
				fmt.Fprint(w, page)
			}))
			defer srv.Close()
			_, err := (&source.GitFetcher{}).Fetch(context.Background(), source.Request{URL: srv.URL + "/org/app.git"})
			if err == nil {
				t.Fatal("fetch succeeded")
			}
			msg := err.Error()
			if len(msg) > 1100 {
				t.Fatalf("message of %d bytes", len(msg))
			}
			if !utf8.ValidString(msg) {
				t.Fatalf("message cut inside a rune: %q", msg[len(msg)-40:])
			}
			if code != http.StatusInternalServerError && !strings.Contains(msg, "more bytes)") {
				t.Fatalf("the cut is not said: %q", msg[len(msg)-40:])
			}
		})
	}
}

func TestTruncateMessage(t *testing.T) {
	if got := source.TruncateMessage("short", 10); got != "short" {
		t.Fatalf("%q", got)
	}
	got := source.TruncateMessage("aé"+strings.Repeat("x", 10), 2)
	if got != "a… (12 more bytes)" {
		t.Fatalf("%q", got)
	}
}

// A commit of more files than the snapshot bound fails SourceTooLarge
// instead of filling memory with its entries.
func TestSnapshotEntriesAreBounded(t *testing.T) {
	srv := testgit.Start(t)
	repo := srv.NewRepo(t, "many.git")
	files := map[string]string{}
	for i := range 30 {
		files[fmt.Sprintf("d/f%02d.yaml", i)] = "x"
	}
	repo.Commit(t, files, "many empty files")
	defer source.SetMaxSnapshotEntries(20)()
	_, err := (&source.GitFetcher{}).Fetch(context.Background(), source.Request{URL: repo.URL})
	if got := failure.ReasonOf(err); got != source.ReasonSourceTooLarge {
		t.Fatalf("reason %q (%v), want SourceTooLarge", got, err)
	}
}

// The default download bound leaves room for two fetches at their bound
// (objects and snapshot), the cache and four sandboxed renders of 256 MiB
// (--concurrent, --render-max-memory-bytes) in the Deployment's 1.5 GiB
// memory limit.
func TestDefaultFetchBoundFitsSeveralFetches(t *testing.T) {
	const podLimit, renders = 1536 << 20, 4 * 256 << 20
	if used := 2*2*source.DefaultMaxBytes + source.DefaultMaxCacheBytes; used > podLimit-renders {
		t.Fatalf("two fetches at their bound (objects and snapshot) and the cache take %d MiB of the %d MiB limit", used>>20, podLimit>>20)
	}
}
