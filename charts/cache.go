package charts

import (
	"container/list"
	"sync"
	"time"
)

// archiveKey is how archives are cached: by digest AND by the identity of
// the credentials they were downloaded with. A tenant must not get a private
// chart's bytes merely by knowing its digest (digests are in status and
// history, which many can read), so a cached archive is served only to
// callers presenting the same credentials (or, for a public chart, none).
// The cost: two tenants with different credentials for one chart download
// it twice, and a public chart is downloaded once more by a caller that
// sends credentials anyway. Re-checking access with the caller's credentials
// (a HEAD of the manifest, an index read) would avoid that, but would also
// tie the answer to the registry's authorization semantics; keying is simple
// and cannot leak.
type archiveKey struct {
	digest   string
	identity string
}

// archiveCache is an LRU of archives bounded by their total bytes.
type archiveCache struct {
	mu       sync.Mutex
	max, cur int64
	order    *list.List // of *archiveEntry, most recent first
	byKey    map[archiveKey]*list.Element
}

type archiveEntry struct {
	key  archiveKey
	data []byte
}

func newArchiveCache(maxBytes int64) *archiveCache {
	return &archiveCache{max: maxBytes, order: list.New(), byKey: map[archiveKey]*list.Element{}}
}

func (c *archiveCache) get(k archiveKey) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[k]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*archiveEntry).data, true
}

// put keeps data unless it alone is over the bound; older entries leave
// until the total fits.
func (c *archiveCache) put(k archiveKey, data []byte) {
	size := int64(len(data))
	if size > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[k]; ok {
		return
	}
	c.byKey[k] = c.order.PushFront(&archiveEntry{key: k, data: data})
	c.cur += size
	for c.cur > c.max {
		last := c.order.Back()
		ent := last.Value.(*archiveEntry)
		c.order.Remove(last)
		delete(c.byKey, ent.key)
		c.cur -= int64(len(ent.data))
	}
}

// ttlCache keeps values (indexes, tag lists) for a while, up to maxBytes
// of what they were read from: distinct repositories a tenant names must
// not grow the manager without bound. Expired entries are dropped when a
// value is stored, then the oldest while over the bound.
type ttlCache struct {
	mu       sync.Mutex
	ttl      time.Duration
	maxBytes int64
	cur      int64
	seq      uint64 // order of puts: the lowest is the oldest
	entries  map[string]ttlEntry
}

type ttlEntry struct {
	value any
	size  int64
	at    time.Time
	seq   uint64
}

// defaultTTLCacheBytes bounds the indexes, tag lists and manifests kept: a
// parsed index takes about what its body took.
const defaultTTLCacheBytes = 64 << 20

func newTTLCache(ttl time.Duration) *ttlCache {
	return &ttlCache{ttl: ttl, maxBytes: defaultTTLCacheBytes, entries: map[string]ttlEntry{}}
}

func (c *ttlCache) get(key string) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || time.Since(e.at) > c.ttl {
		return nil, false
	}
	return e.value, true
}

// put stores value, which took size bytes to read (small values: any
// size; at least 1 KiB is counted).
func (c *ttlCache) put(key string, value any, size int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	size = max(size, 1<<10)
	if size > c.maxBytes {
		return // larger than the whole cache: used once, not kept
	}
	now := time.Now()
	c.remove(key)
	for k, e := range c.entries {
		if now.Sub(e.at) > c.ttl {
			c.remove(k)
		}
	}
	for c.cur+size > c.maxBytes {
		c.remove(c.oldest())
	}
	c.seq++
	c.entries[key] = ttlEntry{value: value, size: size, at: now, seq: c.seq}
	c.cur += size
}

func (c *ttlCache) remove(key string) {
	if e, ok := c.entries[key]; ok {
		delete(c.entries, key)
		c.cur -= e.size
	}
}

func (c *ttlCache) oldest() string {
	var key string
	var seq uint64
	for k, e := range c.entries {
		if key == "" || e.seq < seq {
			key, seq = k, e.seq
		}
	}
	return key
}

// tagsSize is about what a tag list takes.
func tagsSize(tags []string) int64 {
	var n int64
	for _, t := range tags {
		n += int64(len(t)) + 16
	}
	return n
}
