package source

import (
	"context"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// refListings shares ref listings of one repository between fetches,
// without answering a caller with a listing older than it allows.
// A fetch triggered by a push must not join a listing already under way: it
// may predate the push, which would then be missed until the next interval.
// Such a caller (notBefore after the running listing's start) waits for the
// next listing, shared by all who arrive meanwhile; other callers join the
// running one. At most one listing per repository runs, one waits.
//
// A caller that names its notBefore may also take the last listing that
// succeeded, when that started late enough: a thousand ConfigSyncs of one
// repository created at once then cost the Git server one listing, not a
// thousand. A caller without notBefore never does, so a listing is never
// reused by someone who did not say how old it may be.
type refListings struct {
	mu   sync.Mutex
	byID map[string]*listingState
}

type listingState struct {
	running, next *listing
	// last is the newest listing that succeeded, kept for keepListing.
	last *listing
	// waiting counts the callers waiting for a listing another runs (or
	// for the running one to end before they run the next), so that tests
	// can wait for them to arrive instead of sleeping.
	waiting int
}

// keepListing bounds how long a finished listing may serve callers.
const keepListing = time.Minute

type listing struct {
	started time.Time
	done    chan struct{}
	refs    []*plumbing.Reference
	err     error
}

// list returns a listing of key started no earlier than notBefore, running
// fn for it or sharing the run of another caller.
func (l *refListings) list(ctx context.Context, key string, notBefore time.Time, fn func() ([]*plumbing.Reference, error)) ([]*plumbing.Reference, error) {
	l.mu.Lock()
	if l.byID == nil {
		l.byID = map[string]*listingState{}
	}
	l.forgetOld()
	st := l.byID[key]
	if st == nil {
		st = &listingState{}
		l.byID[key] = st
	}
	switch {
	case !notBefore.IsZero() && st.last != nil && !st.last.started.Before(notBefore):
		c := st.last
		l.mu.Unlock()
		return c.refs, nil
	case st.running != nil && !st.running.started.Before(notBefore):
		c := st.running
		st.waiting++
		l.mu.Unlock()
		defer l.doneWaiting(st)
		return wait(ctx, c)
	case st.running == nil:
		c := &listing{started: time.Now(), done: make(chan struct{})}
		st.running = c
		l.mu.Unlock()
		l.run(key, st, c, fn)
		return c.refs, c.err
	case st.next != nil:
		c := st.next
		st.waiting++
		l.mu.Unlock()
		defer l.doneWaiting(st)
		return wait(ctx, c)
	default:
		c := &listing{done: make(chan struct{})}
		st.next = c
		prev := st.running
		st.waiting++
		l.mu.Unlock()
		<-prev.done // not ctx: others may be waiting for this caller to run the next listing
		l.mu.Lock()
		st.waiting--
		st.running, st.next = c, nil
		c.started = time.Now()
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
	if c.err == nil && (st.last == nil || c.started.After(st.last.started)) {
		st.last = c
	}
	if st.running == nil && st.next == nil && st.last == nil && st.waiting == 0 {
		delete(l.byID, key)
	}
}

func (l *refListings) doneWaiting(st *listingState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st.waiting--
}

// waiters tells how many callers wait for a listing of key.
func (l *refListings) waiters(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if st := l.byID[key]; st != nil {
		return st.waiting
	}
	return 0
}

// forgetOld drops finished listings older than keepListing, and the state
// of repositories with nothing left. The caller holds l.mu.
func (l *refListings) forgetOld() {
	for key, st := range l.byID {
		if st.last != nil && time.Since(st.last.started) > keepListing {
			st.last = nil
		}
		if st.running == nil && st.next == nil && st.last == nil && st.waiting == 0 {
			delete(l.byID, key)
		}
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
