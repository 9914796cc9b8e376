package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/renderers"
)

// renderCache keeps, per ConfigSync, the objects its last render produced
// and what they were rendered from. A resync of the same commit with the
// same spec and inputs reuses them instead of loading, rendering and
// decoding the tree again: most of a no-op resync's CPU. One entry per
// ConfigSync, each object kept as its JSON (a tenth of its decoded size),
// so memory is bounded by what the ConfigSyncs apply.
//
// A side effect users of the peers ask for: a template or chart that draws
// random values or the time renders once per commit and inputs, not at
// every interval, so it does not change the cluster each resync.
type renderCache struct {
	mu      sync.Mutex
	entries map[client.ObjectKey]renderEntry
}

type renderEntry struct {
	key  string
	objs [][]byte
}

// renderKey digests everything a render depends on: the commit, the path,
// the render steps, the targets, the inputs read from the cluster (hashed,
// never kept) and the owner whose labels the objects carry.
func renderKey(cs *configsv1.ConfigSync, commit string, in renderers.Inputs) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, v := range []any{cs.Namespace, cs.Name, commit, cs.Spec.Source.Git.Path, cs.Spec.Render, cs.Spec.Targets, cs.Spec.AllowEmpty, in} {
		_ = enc.Encode(v)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// get returns the objects rendered for key, or nil.
func (c *renderCache) get(cs client.ObjectKey, key string) []*unstructured.Unstructured {
	c.mu.Lock()
	e, ok := c.entries[cs]
	c.mu.Unlock()
	if !ok || e.key != key {
		return nil
	}
	objs := make([]*unstructured.Unstructured, len(e.objs))
	for i, raw := range e.objs {
		objs[i] = &unstructured.Unstructured{}
		if err := objs[i].UnmarshalJSON(raw); err != nil {
			return nil // cannot happen for what put encoded; render again
		}
	}
	return objs
}

// put keeps objs as rendered for key.
func (c *renderCache) put(cs client.ObjectKey, key string, objs []*unstructured.Unstructured) {
	raws := make([][]byte, len(objs))
	for i, o := range objs {
		raw, err := o.MarshalJSON()
		if err != nil {
			c.forget(cs)
			return
		}
		raws[i] = raw
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[client.ObjectKey]renderEntry{}
	}
	c.entries[cs] = renderEntry{key: key, objs: raws}
}

func (c *renderCache) forget(cs client.ObjectKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, cs)
}
