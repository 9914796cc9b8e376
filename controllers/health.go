package controllers

import (
	"context"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/apply"
)

// health waits until the objects this sync created or changed are healthy,
// when spec.wait or rollback.onFailure asks for it. Unchanged objects are
// not waited for: a resync that changed nothing costs no health reads.
func (r *ConfigSyncReconciler) health(ctx context.Context, run *syncRun) error {
	cs := run.cs
	if !cs.Spec.Wait && !cs.RollsBackOnFailure() {
		return nil
	}
	var refs []apply.ObjectRef
	for _, c := range run.changes {
		if c.Action == apply.Created || c.Action == apply.Configured {
			refs = append(refs, c.Ref)
		}
	}
	if err := run.applier.WaitHealthy(ctx, refs, cs.GetHealthTimeout()); err != nil {
		return configErr(configsv1.ReasonHealthCheckFailed, err)
	}
	return nil
}
