package controllers

import (
	"context"
	"fmt"
	"slices"

	"sigs.k8s.io/controller-runtime/pkg/event"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/source"
)

// TriggerPush reconciles now every ConfigSync that follows one of repos
// (normalised repository URLs) on one of branches. An empty branches list
// matches every ConfigSync of the repository. A ConfigSync without a branch
// follows the remote's HEAD, which any branch push may have moved, so it is
// matched too: its reconcile costs one ref listing when nothing changed.
// ConfigSyncs pinned to a revision or suspended are left alone.
func (r *ConfigSyncReconciler) TriggerPush(ctx context.Context, repos map[string]bool, branches []string) (int, error) {
	list := &configsv1.ConfigSyncList{}
	if err := r.Client.List(ctx, list); err != nil {
		return 0, fmt.Errorf("list ConfigSyncs: %w", err)
	}
	n := 0
	for i := range list.Items {
		cs := &list.Items[i]
		git := cs.Spec.Source.Git
		if cs.Spec.Suspend || git.Revision != "" || !repos[source.NormalizeURL(git.RepoURL)] {
			continue
		}
		if git.Branch != "" && len(branches) > 0 && !slices.Contains(branches, git.Branch) {
			continue
		}
		select {
		case r.pushes <- event.GenericEvent{Object: cs}:
			n++
		case <-ctx.Done():
			return n, ctx.Err()
		}
	}
	return n, nil
}
