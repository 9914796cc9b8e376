package controllers

import (
	"context"
	"sync"

	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
)

// writtenVersions remembers, per ConfigSync, the newest resourceVersion
// this replica wrote or read from the apiserver. The informer cache a reconcile starts from
// can be a step behind that write: a push that lands just after a sync
// finds the copy from before the sync's status. A resync working from that
// copy would redo the sync's bookkeeping (a new history entry, transition
// times, an Event) and write the status again.
type writtenVersions struct {
	mu sync.Mutex
	rv map[client.ObjectKey]string
}

func (w *writtenVersions) record(cs *configsv1.ConfigSync) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.rv == nil {
		w.rv = map[client.ObjectKey]string{}
	}
	w.rv[client.ObjectKeyFromObject(cs)] = cs.ResourceVersion
}

func (w *writtenVersions) get(key client.ObjectKey) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rv[key]
}

func (w *writtenVersions) forget(key client.ObjectKey) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.rv, key)
}

// getConfigSync reads a ConfigSync from the cache, or from the apiserver
// when the cache holds a version other than the newest this replica knows:
// either the cache has not caught up with its write, or someone else wrote
// since. That costs one GET, and only then; a periodic resync
// finds its own version in the cache.
func (r *ConfigSyncReconciler) getConfigSync(ctx context.Context, key client.ObjectKey) (*configsv1.ConfigSync, error) {
	cs := &configsv1.ConfigSync{}
	if err := r.Client.Get(ctx, key, cs); err != nil {
		return nil, err
	}
	if written := r.written.get(key); written == "" || written == cs.ResourceVersion {
		return cs, nil
	}
	live := &configsv1.ConfigSync{}
	if err := r.APIReader.Get(ctx, key, live); err != nil {
		return nil, err
	}
	// The cache will catch up with this version too: a later reconcile
	// that finds it there (say, after someone changed a label) need not
	// read again.
	r.written.record(live)
	return live, nil
}
