package source

import (
	"context"
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
			time.Sleep(50 * time.Millisecond) // let them all arrive while listing 1 runs
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
