package source

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// Callers that ask while a listing runs: those that need a listing started
// after a given time (a push) get the next listing, never the one under way,
// and share it; those that do not join the one under way.
func TestRefListingsNeverAnswerWithAnOlderListingThanAsked(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fresh     bool
		wantLate  byte
		wantRuns  int32
		wantFirst byte
	}{
		{name: "after a push", fresh: true, wantLate: '2', wantRuns: 2, wantFirst: '1'},
		{name: "no constraint", fresh: false, wantLate: '1', wantRuns: 1, wantFirst: '1'},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l refListings
			var runs atomic.Int32
			release := make(chan struct{})
			started := make(chan struct{}, 8)
			fn := func() ([]*plumbing.Reference, error) {
				n := runs.Add(1)
				started <- struct{}{}
				if n == 1 {
					<-release
				}
				return []*plumbing.Reference{plumbing.NewHashReference("refs/heads/main", plumbing.NewHash(string(rune('0'+n))+"000000000000000000000000000000000000000"))}, nil
			}
			listingOf := func(refs []*plumbing.Reference) byte { return refs[0].Hash().String()[0] }

			first := make(chan []*plumbing.Reference)
			go func() {
				refs, _ := l.list(context.Background(), "repo", time.Time{}, fn)
				first <- refs
			}()
			<-started // listing 1 is under way

			const late = 5
			var wg sync.WaitGroup
			got := make([][]*plumbing.Reference, late)
			for i := range late {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var notBefore time.Time
					if tc.fresh {
						notBefore = time.Now()
					}
					got[i], _ = l.list(context.Background(), "repo", notBefore, fn)
				}()
			}
			waitFor(t, func() bool { return l.waiters("repo") == late }) // all arrived while listing 1 runs
			close(release)
			if c := listingOf(<-first); c != tc.wantFirst {
				t.Fatalf("the first caller got listing %c", c)
			}
			wg.Wait()
			for i, refs := range got {
				if c := listingOf(refs); c != tc.wantLate {
					t.Errorf("late caller %d got listing %c, want %c", i, c, tc.wantLate)
				}
			}
			if n := runs.Load(); n != tc.wantRuns {
				t.Errorf("%d listings ran for 6 callers, want %d", n, tc.wantRuns)
			}
		})
	}
}

// A finished listing serves a caller only if that caller said how old a
// listing may be and this one is recent enough; one that failed serves
// nobody.
func TestRefListingsReuseAFinishedListingOnlyWhenRecentEnough(t *testing.T) {
	var l refListings
	var runs atomic.Int32
	fail := false
	fn := func() ([]*plumbing.Reference, error) {
		n := runs.Add(1)
		if fail {
			return nil, errors.New("unreachable")
		}
		return []*plumbing.Reference{plumbing.NewHashReference("refs/heads/main", plumbing.NewHash(string(rune('0'+n))+"000000000000000000000000000000000000000"))}, nil
	}
	list := func(notBefore time.Time) {
		t.Helper()
		if _, err := l.list(context.Background(), "repo", notBefore, fn); err != nil && !fail {
			t.Fatal(err)
		}
	}
	before := time.Now()
	list(time.Time{}) // listing 1
	never, now := func() time.Time { return time.Time{} }, time.Now
	early := func() time.Time { return before }
	for _, tc := range []struct {
		name      string
		notBefore func() time.Time
		runs      int32
	}{
		{"no constraint: a new listing, never a finished one", never, 2},
		{"a change seen before the last listing started: reused", early, 2},
		{"a change seen after it started: a new listing", now, 3},
		{"the newest listing serves from then on", early, 3},
	} {
		list(tc.notBefore())
		if got := runs.Load(); got != tc.runs {
			t.Fatalf("%s: %d listings, want %d", tc.name, got, tc.runs)
		}
	}
	fail = true
	list(time.Now()) // fails: listing 4
	fail = false
	list(before)
	if got := runs.Load(); got != 4 {
		t.Fatalf("after a failed listing, the last good one still serves: %d listings, want 4", got)
	}
}

// waitFor polls cond until it holds: a test waits on state, not on time.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition never held")
		}
		time.Sleep(time.Millisecond)
	}
}
