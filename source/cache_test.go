package source_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/configsync/configsync/internal/failure"
	"github.com/configsync/configsync/internal/filetree"
	"github.com/configsync/configsync/internal/testgit"
	"github.com/configsync/configsync/source"
)

// Twenty ConfigSyncs on one repository cost one download per new commit, not twenty.
func TestConcurrentFetchesOfOneRepositoryShareOneDownload(t *testing.T) {
	srv := testgit.Start(t)
	repo := srv.NewRepo(t, "app.git")
	fetcher := &source.GitFetcher{}

	fetchAll := func(want string) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				art, err := fetcher.Fetch(context.Background(), source.Request{URL: repo.URL, Branch: "main"})
				if err != nil {
					errs <- err
					return
				}
				defer art.Release()
				if art.Commit != want {
					t.Errorf("commit %s, want %s", art.Commit, want)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}

	first := repo.Commit(t, map[string]string{"a.yaml": "a: 1\n"}, "first")
	fetchAll(first)
	if n := srv.UploadPacks(); n != 1 {
		t.Fatalf("%d downloads for the first commit, want 1", n)
	}
	fetchAll(first)
	if n := srv.UploadPacks(); n != 1 {
		t.Fatalf("%d downloads after an unchanged resync, want still 1", n)
	}
	second := repo.Commit(t, map[string]string{"a.yaml": "a: 2\n"}, "second")
	fetchAll(second)
	if n := srv.UploadPacks(); n != 2 {
		t.Fatalf("%d downloads after a second commit, want 2", n)
	}
}

// A fetch that misses the cache just before another fetch's download of
// the same commit ends finds no flight to join: it must take the commit
// from the cache, not download it again. BeforeDownload holds the late
// fetch between its miss and its download, which a busy machine does by
// chance.
func TestAFetchThatMissedWhileTheDownloadEndedDoesNotDownloadAgain(t *testing.T) {
	srv := testgit.Start(t)
	repo := srv.NewRepo(t, "app.git")
	want := repo.Commit(t, map[string]string{"a.yaml": "a: 1\n"}, "first")
	fetcher := &source.GitFetcher{}

	missed, resume := make(chan struct{}), make(chan struct{})
	late := make(chan error, 1)
	go func() {
		art, err := fetcher.Fetch(context.Background(), source.Request{URL: repo.URL, Branch: "main",
			BeforeDownload: func() { close(missed); <-resume }})
		if err == nil {
			if art.Commit != want {
				err = fmt.Errorf("late fetch got %.8s, want %.8s", art.Commit, want)
			}
			art.Release()
		}
		late <- err
	}()
	<-missed
	art, err := fetcher.Fetch(context.Background(), source.Request{URL: repo.URL, Branch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	art.Release()
	close(resume)
	if err := <-late; err != nil {
		t.Fatal(err)
	}
	if n := srv.UploadPacks(); n != 1 {
		t.Fatalf("%d downloads of one commit, want 1", n)
	}
}

func TestCacheEvictsLeastRecentlyUsedArtifactsNobodyHolds(t *testing.T) {
	srv := testgit.Start(t)
	repo := srv.NewRepo(t, "app.git")
	fetcher := &source.GitFetcher{MaxArtifacts: 2}
	ctx := context.Background()
	fetch := func(revision string) *source.Artifact {
		t.Helper()
		art, err := fetcher.Fetch(ctx, source.Request{URL: repo.URL, Revision: revision})
		if err != nil {
			t.Fatal(err)
		}
		return art
	}

	first := repo.Commit(t, map[string]string{"a.yaml": "1"}, "1")
	held := fetch("") // held across the whole test: never evicted
	second := repo.Commit(t, map[string]string{"a.yaml": "2"}, "2")
	fetch("").Release()
	third := repo.Commit(t, map[string]string{"a.yaml": "3"}, "3")
	fetch("").Release()
	downloads := srv.UploadPacks()

	// Kept: the held commit and the newest. Evicted: the least recently used free one.
	for _, tt := range []struct {
		commit string
		cached bool
	}{{first, true}, {third, true}, {second, false}} {
		before := srv.UploadPacks()
		art := fetch(tt.commit)
		if got := srv.UploadPacks() == before; got != tt.cached {
			t.Errorf("commit %s: cached %v, want %v", tt.commit[:8], got, tt.cached)
		}
		art.Release()
	}
	if downloads != 3 {
		t.Errorf("%d downloads for three commits", downloads)
	}
	if got := fileOf(t, held, "a.yaml"); got != "1" {
		t.Errorf("the held artifact reads a.yaml = %q", got)
	}
	held.Release()
}

// A commit larger than the cache's byte budget is served while in use, and
// evicted once released.
func TestCacheEvictsBeyondItsByteBudget(t *testing.T) {
	srv := testgit.Start(t)
	repo := srv.NewRepo(t, "app.git")
	fetcher := &source.GitFetcher{MaxCacheBytes: 1 << 10}
	ctx := context.Background()
	big := repo.Commit(t, map[string]string{"a.yaml": strings.Repeat("x", 4<<10)}, "big")
	art, err := fetcher.Fetch(ctx, source.Request{URL: repo.URL})
	if err != nil {
		t.Fatal(err)
	}
	if got := fileOf(t, art, "a.yaml"); len(got) != 4<<10 {
		t.Fatalf("a.yaml has %d bytes", len(got))
	}
	art.Release()
	small := repo.Commit(t, map[string]string{"a.yaml": "small"}, "small")
	again, err := fetcher.Fetch(ctx, source.Request{URL: repo.URL})
	if err != nil {
		t.Fatal(err)
	}
	again.Release()
	before := srv.UploadPacks()
	latest, err := fetcher.Fetch(ctx, source.Request{URL: repo.URL, Revision: small})
	if err != nil {
		t.Fatal(err)
	}
	latest.Release()
	if srv.UploadPacks() != before {
		t.Errorf("the small commit was evicted though it fits")
	}
	old, err := fetcher.Fetch(ctx, source.Request{URL: repo.URL, Revision: big})
	if err != nil {
		t.Fatal(err)
	}
	old.Release()
	if srv.UploadPacks() == before {
		t.Errorf("the big commit stayed cached beyond the budget")
	}
}

func TestLoadRefusesPathsThatLeaveTheRepository(t *testing.T) {
	srv := testgit.Start(t)
	repo := srv.NewRepo(t, "app.git")
	repo.Link(t, "config/escape.yaml", "/etc/passwd")
	repo.Link(t, "config/up.yaml", "../../outside.yaml")
	repo.Link(t, "linked", "config")
	repo.Commit(t, map[string]string{"config/app.yaml": "a: 1\n", "ok/app.yaml": "b: 1\n"}, "first")
	art, err := (&source.GitFetcher{}).Fetch(context.Background(), source.Request{URL: repo.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer art.Release()

	tests := []struct {
		path string
		want string
	}{
		{"config", source.ReasonInvalidPath},             // holds symlinks out of the repository
		{"config/escape.yaml", source.ReasonInvalidPath}, // an absolute symlink
		{"config/up.yaml", source.ReasonInvalidPath},     // a relative symlink climbing out
		{"../app.git", source.ReasonInvalidPath},
		{"/etc", source.ReasonInvalidPath},
		{"missing", source.ReasonPathNotFound},
		{"ok", ""},
		{"linked/app.yaml", ""}, // a symlink inside the repository is fine
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			tree, err := art.Load(tt.path, filetree.DefaultLimits)
			if got := failure.ReasonOf(err); got != tt.want {
				t.Fatalf("reason %q (%v), want %q", got, err, tt.want)
			}
			if tt.want == "" && len(tree) != 1 {
				t.Fatalf("tree %v", tree.Paths())
			}
			if err != nil {
				t.Logf("error: %v", err)
			}
		})
	}
}

func TestFetchStopsAtTheSizeLimit(t *testing.T) {
	srv := testgit.Start(t)
	repo := srv.NewRepo(t, "big.git")
	big := make([]byte, 64<<10)
	for i := range big {
		big[i] = byte('a' + i%26)
	}
	repo.Commit(t, map[string]string{"big.txt": string(big)}, "big")
	fetcher := &source.GitFetcher{MaxBytes: 32 << 10}
	_, err := fetcher.Fetch(context.Background(), source.Request{URL: repo.URL})
	if got := failure.ReasonOf(err); got != source.ReasonSourceTooLarge {
		t.Fatalf("reason %q (%v), want SourceTooLarge", got, err)
	}
	fetcher.MaxBytes = 1 << 20
	art, err := fetcher.Fetch(context.Background(), source.Request{URL: repo.URL})
	if err != nil {
		t.Fatalf("under the limit: %v", err)
	}
	art.Release()
}

func TestFetchMetricsCountCacheHits(t *testing.T) {
	srv := testgit.Start(t)
	repo := srv.NewRepo(t, "metrics.git")
	repo.Commit(t, map[string]string{"a.yaml": "a: 1\n"}, "first")
	fetcher := &source.GitFetcher{}
	host := source.Host(repo.URL)
	hits := func() float64 {
		return testutil.ToFloat64(source.ArtifactLookups.WithLabelValues(host, "hit"))
	}
	before := hits()
	for range 3 {
		art, err := fetcher.Fetch(context.Background(), source.Request{URL: repo.URL})
		if err != nil {
			t.Fatal(err)
		}
		art.Release()
	}
	if got := hits() - before; got != 2 {
		t.Fatalf("%v cache hits for three fetches of one commit, want 2", got)
	}
	if n := testutil.CollectAndCount(source.FetchDuration, "configsync_source_fetch_duration_seconds"); n == 0 {
		t.Fatal("no fetch duration recorded")
	}
}

// heldListing answers the first ref listing after arm() with the refs of
// when it started, but only once release is closed: a listing under way
// while a push lands. listed is closed when it has read the refs.
type heldListing struct {
	armed, held     atomic.Bool
	listed, release chan struct{}
}

func newHeldListing() *heldListing {
	return &heldListing{listed: make(chan struct{}), release: make(chan struct{})}
}

func (h *heldListing) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/info/refs") || !h.armed.Load() || !h.held.CompareAndSwap(false, true) {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		close(h.listed)
		<-h.release
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

func fetchInBackground(t *testing.T, fetcher *source.GitFetcher, url string, notBefore time.Time) chan string {
	got := make(chan string, 1)
	go func() {
		art, err := fetcher.Fetch(context.Background(), source.Request{URL: url, Branch: "main", NotBefore: notBefore})
		if err != nil {
			t.Errorf("fetch: %v", err)
			got <- ""
			return
		}
		art.Release()
		got <- art.Commit
	}()
	return got
}

// A fetch that must see refs listed after a push (NotBefore) never gets the
// answer of a listing that was under way when the push landed, while a fetch
// without that need shares it.
func TestAFetchAfterAPushNeverSharesAnOlderListing(t *testing.T) {
	hold := newHeldListing()
	repo := testgit.StartWith(t, testgit.Options{Middleware: hold.middleware}).NewRepo(t, "app.git")
	before := repo.Commit(t, map[string]string{"app.yaml": "v: 1\n"}, "before")
	fetcher := &source.GitFetcher{}
	if got := <-fetchInBackground(t, fetcher, repo.URL, time.Time{}); got != before {
		t.Fatalf("got %.8s, want %.8s", got, before)
	}

	hold.armed.Store(true)
	first := fetchInBackground(t, fetcher, repo.URL, time.Time{})
	<-hold.listed
	after := repo.Commit(t, map[string]string{"app.yaml": "v: 2\n"}, "pushed")
	fresh := fetchInBackground(t, fetcher, repo.URL, time.Now())
	shared := fetchInBackground(t, fetcher, repo.URL, time.Time{})
	for fetcher.ListingWaiters(repo.URL) < 2 { // both are waiting on the listings
		time.Sleep(time.Millisecond)
	}
	close(hold.release)

	if got := <-first; got != before {
		t.Errorf("first fetch got %.8s, want %.8s", got, before)
	}
	if got := <-shared; got != before {
		t.Errorf("a fetch without NotBefore got %.8s, want the listing under way (%.8s)", got, before)
	}
	if got := <-fresh; got != after {
		t.Errorf("a fetch after the push got %.8s, want the pushed commit %.8s", got, after)
	}
}

// A push between the listing of refs and the download moves the branch
// past the listed commit, which the shallow clone then lacks: the fetch
// takes the branch's new head instead of failing with RevisionNotFound.
func TestABranchThatMovesDuringTheFetchYieldsItsNewHead(t *testing.T) {
	hold := newHeldListing()
	hold.armed.Store(true)
	repo := testgit.StartWith(t, testgit.Options{Middleware: hold.middleware}).NewRepo(t, "app.git")
	repo.Commit(t, map[string]string{"app.yaml": "v: 1\n"}, "before")
	got := fetchInBackground(t, &source.GitFetcher{}, repo.URL, time.Time{})
	<-hold.listed
	after := repo.Commit(t, map[string]string{"app.yaml": "v: 2\n"}, "pushed")
	close(hold.release)
	if sha := <-got; sha != after {
		t.Errorf("got %.8s, want the branch's new head %.8s", sha, after)
	}
}

// From a repository's second commit on, a new commit of a followed branch
// is fetched as an update of the last clone (only the new objects travel),
// and its artifact still holds every file. A commit an update cannot complete (a tag at an older commit, which
// the server believes the shallow clone has) falls back to a fresh clone.
func TestNewCommitsUpdateTheLastClone(t *testing.T) {
	srv := testgit.Start(t)
	repo := srv.NewRepo(t, "app.git")
	fetcher := &source.GitFetcher{}
	// Counted from now: other tests download from the same host.
	host := source.Host(repo.URL)
	start := map[string]float64{}
	downloads := func(kind string) float64 {
		return testutil.ToFloat64(source.Downloads.WithLabelValues(host, kind)) - start[kind]
	}
	start["clone"], start["update"] = downloads("clone"), downloads("update")
	fetch := func(req source.Request, app string) {
		t.Helper()
		req.URL = repo.URL
		art, err := fetcher.Fetch(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		defer art.Release()
		if got := fileOf(t, art, "app.yaml"); got != app {
			t.Fatalf("app.yaml = %q, want %q", got, app)
		}
		if got := fileOf(t, art, "unchanged/other.yaml"); got != "o: 1\n" {
			t.Fatalf("unchanged/other.yaml = %q", got)
		}
	}

	repo.Commit(t, map[string]string{"app.yaml": "v: 0\n", "unchanged/other.yaml": "o: 1\n"}, "0")
	repo.Tag(t, "v0") // older than the first download: its shallow clone lacks it
	repo.Commit(t, map[string]string{"app.yaml": "v: 1\n"}, "1")
	fetch(source.Request{Branch: "main"}, "v: 1\n")
	for i := 2; i <= 4; i++ {
		repo.Commit(t, map[string]string{"app.yaml": fmt.Sprintf("v: %d\n", i)}, strconv.Itoa(i))
		fetch(source.Request{Branch: "main"}, fmt.Sprintf("v: %d\n", i))
	}
	if clones, updates := downloads("clone"), downloads("update"); clones != 2 || updates != 2 {
		t.Fatalf("%v clones and %v updates for four commits, want 2 and 2", clones, updates)
	}

	fetch(source.Request{Revision: "v0"}, "v: 0\n")
	if clones := downloads("clone"); clones != 3 {
		t.Fatalf("an older tag: %v clones in all, want 3 (the update could not complete it)", clones)
	}

	repo.Branch(t, "staging")
	repo.Commit(t, map[string]string{"app.yaml": "v: staging\n"}, "staging")
	fetch(source.Request{Branch: "staging"}, "v: staging\n")
	if updates := downloads("update"); updates != 3 {
		t.Fatalf("another branch: %v updates in all, want 3", updates)
	}
}
