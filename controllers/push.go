package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/source"
)

// TriggerPush reconciles now every ConfigSync (of namespace, or of every
// namespace when it is empty) that follows one of repos
// (normalised repository URLs) on one of branches. An empty branches list
// matches every ConfigSync of the repository. A ConfigSync without a branch
// follows the remote's HEAD, which any branch push may have moved, so it is
// matched too: its reconcile costs one ref listing when nothing changed.
// ConfigSyncs pinned to a commit SHA or suspended are left alone.
func (r *ConfigSyncReconciler) TriggerPush(ctx context.Context, namespace string, repos map[string]bool, branches []string) (int, error) {
	at := time.Now() // the push was announced: refs listed from now on show it
	list := &configsv1.ConfigSyncList{}
	if err := r.Client.List(ctx, list, client.InNamespace(namespace)); err != nil {
		return 0, fmt.Errorf("list ConfigSyncs: %w", err)
	}
	n := 0
	for i := range list.Items {
		cs := &list.Items[i]
		git := cs.Spec.Source.Git
		if cs.Spec.Suspend || !repos[source.NormalizeURL(git.URL())] {
			continue
		}
		branch, follows := followedBranch(git)
		if !follows {
			continue
		}
		if branch != "" && len(branches) > 0 && !slices.Contains(branches, branch) {
			continue
		}
		if err := r.enqueue(ctx, cs, at); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// ServesNamespace says whether ns has ConfigSyncs this replica watches (a
// read of its cache): only those namespaces have a webhook endpoint.
func (r *ConfigSyncReconciler) ServesNamespace(ns string) bool {
	list := &configsv1.ConfigSyncList{}
	return r.Client.List(context.Background(), list, client.InNamespace(ns), client.Limit(1)) == nil && len(list.Items) > 0
}

// followedBranch tells which branch a push must move for git's commit to
// change: its branch, or a revision that may name one (`revision: main`).
// A revision that is a commit SHA never moves; nor, in practice, does a
// tag, but a name cannot be told from a branch without listing the refs, so
// it is matched and costs one listing. An empty branch is the remote's HEAD.
func followedBranch(git configsv1.GitSource) (string, bool) {
	rev := git.Revision
	switch {
	case rev == "":
		return git.Branch, true
	case len(rev) == 40 && strings.Trim(rev, "0123456789abcdef") == "":
		return "", false
	case strings.HasPrefix(rev, "refs/heads/"):
		return strings.TrimPrefix(rev, "refs/heads/"), true
	case strings.HasPrefix(rev, "refs/"):
		return "", false
	default:
		return rev, true
	}
}

// enqueue puts cs on this replica's workqueue when this replica leads, at no
// cost to the apiserver. A replica that does not lead (its controller is not
// running) or whose queue of pushes is full sets the reconcile annotation
// instead, which the leader watches.
func (r *ConfigSyncReconciler) enqueue(ctx context.Context, cs *configsv1.ConfigSync, at time.Time) error {
	select {
	case <-r.elected:
		r.pushed.record(client.ObjectKeyFromObject(cs), at)
		select {
		case r.pushes <- event.GenericEvent{Object: cs}:
			return nil
		default:
		}
	default:
	}
	patch := client.MergeFrom(cs.DeepCopy())
	cs.RequestReconcile(time.Now())
	if err := r.Client.Patch(ctx, cs, patch); err != nil {
		return fmt.Errorf("request reconcile of %s/%s: %w", cs.Namespace, cs.Name, err)
	}
	return nil
}

// eventTimes remembers, per ConfigSync, the latest moment something
// announced new work for it (a push; its creation or a spec change) that
// its fetch has not yet answered: the fetch must list the refs after it.
type eventTimes struct {
	mu sync.Mutex
	at map[client.ObjectKey]time.Time
}

func (p *eventTimes) record(key client.ObjectKey, t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.at == nil {
		p.at = map[client.ObjectKey]time.Time{}
	}
	if t.After(p.at[key]) {
		p.at[key] = t
	}
}

func (p *eventTimes) get(key client.ObjectKey) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.at[key]
}

// answered forgets the event of time t once a fetch that listed the refs
// after it succeeded; a later event stays.
func (p *eventTimes) answered(key client.ObjectKey, t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !t.IsZero() && p.at[key].Equal(t) {
		delete(p.at, key)
	}
}

func (p *eventTimes) forget(key client.ObjectKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.at, key)
}
