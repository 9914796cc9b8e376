package source

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// A fetch that asks while a listing runs gets the next listing, never the
// one under way (it may predate a push); all who ask meanwhile share it.
func TestRefListingsNeverAnswerWithAnOlderListing(t *testing.T) {
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

	first := make(chan []*plumbing.Reference)
	go func() {
		refs, _ := l.list(context.Background(), "repo", fn)
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
			got[i], _ = l.list(context.Background(), "repo", fn)
		}()
	}
	time.Sleep(50 * time.Millisecond) // let them all queue behind listing 1
	close(release)
	if refs := <-first; refs[0].Hash().String()[0] != '1' {
		t.Fatalf("the first caller got listing %c", refs[0].Hash().String()[0])
	}
	wg.Wait()
	for i, refs := range got {
		if refs[0].Hash().String()[0] != '2' {
			t.Errorf("late caller %d got listing %c, want 2 (the one started after it asked)", i, refs[0].Hash().String()[0])
		}
	}
	if n := runs.Load(); n != 2 {
		t.Errorf("%d listings ran for 6 callers, want 2", n)
	}
}
