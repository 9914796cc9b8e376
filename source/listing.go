package source

import (
	"context"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
)

// refListings shares ref listings of one repository between concurrent
// fetches, without ever answering a caller with a listing that started
// before it asked. singleflight would let a fetch triggered by a push join
// a listing already under way, one that may predate the push, and the push
// would be missed until the next interval. Here a caller that finds a
// listing running waits for the next one, which all callers that arrived
// meanwhile share: at most one listing per repository runs, one waits.
type refListings struct {
	mu   sync.Mutex
	byID map[string]*listingState
}

type listingState struct {
	running, next *listing
}

type listing struct {
	done chan struct{}
	refs []*plumbing.Reference
	err  error
}

// list returns a listing of key started after the call, running fn for it
// or sharing the run of another caller.
func (l *refListings) list(ctx context.Context, key string, fn func() ([]*plumbing.Reference, error)) ([]*plumbing.Reference, error) {
	l.mu.Lock()
	if l.byID == nil {
		l.byID = map[string]*listingState{}
	}
	st := l.byID[key]
	if st == nil {
		st = &listingState{}
		l.byID[key] = st
	}
	switch {
	case st.running == nil:
		c := &listing{done: make(chan struct{})}
		st.running = c
		l.mu.Unlock()
		l.run(key, st, c, fn)
		return c.refs, c.err
	case st.next != nil:
		c := st.next
		l.mu.Unlock()
		return wait(ctx, c)
	default:
		c := &listing{done: make(chan struct{})}
		st.next = c
		prev := st.running
		l.mu.Unlock()
		<-prev.done // not ctx: others may be waiting for this caller to run the next listing
		l.mu.Lock()
		st.running, st.next = c, nil
		l.mu.Unlock()
		l.run(key, st, c, fn)
		return c.refs, c.err
	}
}

func (l *refListings) run(key string, st *listingState, c *listing, fn func() ([]*plumbing.Reference, error)) {
	c.refs, c.err = fn()
	close(c.done)
	l.mu.Lock()
	defer l.mu.Unlock()
	if st.running == c {
		st.running = nil
	}
	if st.running == nil && st.next == nil {
		delete(l.byID, key)
	}
}

func wait(ctx context.Context, c *listing) ([]*plumbing.Reference, error) {
	select {
	case <-c.done:
		return c.refs, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
