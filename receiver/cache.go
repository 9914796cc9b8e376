package receiver

import (
	"container/list"
	"context"
	"strings"
	"sync"
	"time"
)

// DefaultSecretTTL is how long the receiver keeps the token it read: a flood
// of unauthenticated requests costs at most one apiserver read per TTL, and
// a rotated token is used within it.
const DefaultSecretTTL = 30 * time.Second

// secretReadTimeout bounds one read of the token; the callers waiting for it
// wait no longer.
const secretReadTimeout = 10 * time.Second

// Replay protection: the delivery IDs of verified requests are remembered
// this long, and at most this many.
const (
	DefaultDeliveryTTL   = 10 * time.Minute
	DefaultMaxDeliveries = 10000
)

// secretCache holds the result of the last read, error included, for ttl.
// Callers that find it stale while another reads wait for that read.
type secretCache struct {
	read    SecretFunc
	ttl     time.Duration
	now     func() time.Time
	onError func(error)

	mu      sync.Mutex
	tokens  map[string][]byte
	err     error
	fetched time.Time
}

func (c *secretCache) get(ctx context.Context) (map[string][]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if !c.fetched.IsZero() && now.Sub(c.fetched) < c.ttl {
		return c.tokens, c.err
	}
	// One caller's cancellation must not leave a cached error for everyone,
	// so the read has its own deadline instead of the request's.
	readCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), secretReadTimeout)
	defer cancel()
	tokens, err := c.read(readCtx)
	if err == nil && !hasToken(tokens) {
		err = errEmptyToken
	}
	c.tokens, c.err, c.fetched = tokens, err, now
	if err != nil && c.onError != nil {
		c.onError(err) // once per TTL, not once per request
	}
	return tokens, err
}

// hasToken says whether data holds a token for some provider.
func hasToken(data map[string][]byte) bool {
	for k, v := range data {
		if len(v) > 0 && (k == SecretKey || strings.HasPrefix(k, SecretKey+".")) {
			return true
		}
	}
	return false
}

// deliveries remembers recent delivery IDs: a bounded LRU whose entries
// expire after ttl.
type deliveries struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu    sync.Mutex
	order *list.List // front: most recent; values are *delivery
	byID  map[string]*list.Element
}

type delivery struct {
	id   string
	seen time.Time
}

func newDeliveries(ttl time.Duration, max int, now func() time.Time) *deliveries {
	return &deliveries{ttl: ttl, max: max, now: now, order: list.New(), byID: map[string]*list.Element{}}
}

// add records id and says whether it was new (not seen within ttl).
func (d *deliveries) add(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	// Expire from the back: the oldest entries.
	for e := d.order.Back(); e != nil && now.Sub(e.Value.(*delivery).seen) >= d.ttl; e = d.order.Back() {
		d.remove(e)
	}
	if _, ok := d.byID[id]; ok {
		return false
	}
	d.byID[id] = d.order.PushFront(&delivery{id: id, seen: now})
	for d.order.Len() > d.max {
		d.remove(d.order.Back())
	}
	return true
}

// forget drops id, so that a delivery the receiver failed to act on can be
// retried with the same ID.
func (d *deliveries) forget(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.byID[id]; ok {
		d.remove(e)
	}
}

func (d *deliveries) remove(e *list.Element) {
	delete(d.byID, e.Value.(*delivery).id)
	d.order.Remove(e)
}
