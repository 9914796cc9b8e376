// Package control drives a ConfigSync in a cluster the way a user does:
// request a reconcile, pin or release a rollback, wait for the operator's
// answer, show the history. The configsync CLI and the demo share it.
package control

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
)

// PrintHistory writes the history as a table; * marks the applied revision.
func PrintHistory(out io.Writer, cs *configsv1.ConfigSync) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	withCharts := false
	for _, h := range cs.Status.History {
		withCharts = withCharts || len(h.Charts) > 0
	}
	header := "\tREVISION\tRESULT\tAPPLIED\tDURATION\tDIGEST"
	if withCharts {
		header += "\tCHARTS"
	}
	fmt.Fprintln(w, header)
	marked := false
	for _, h := range cs.Status.History {
		current := ""
		if !marked && strings.HasSuffix(cs.Status.SourceRevision, h.Revision) {
			current, marked = "*", true
		}
		took := ""
		if h.Duration != nil {
			took = h.Duration.Duration.String()
		}
		line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", current, configsv1.ShortRevision(h.Revision), h.Result,
			h.AppliedAt.UTC().Format(time.RFC3339), took, shortDigest(h.Digest))
		if withCharts {
			line += "\t" + chartList(h.Charts)
		}
		fmt.Fprintln(w, line)
	}
	return w.Flush()
}

func shortDigest(s string) string {
	if len(s) > len("sha256:")+12 {
		return s[:len("sha256:")+12]
	}
	return s
}

// SetRollback sets spec.rollback.toRevision; "" releases the pin.
func SetRollback(ctx context.Context, c client.Client, key client.ObjectKey, to string) error {
	cs := &configsv1.ConfigSync{}
	if err := c.Get(ctx, key, cs); err != nil {
		return err
	}
	patch := client.MergeFrom(cs.DeepCopy())
	if cs.Spec.Rollback == nil {
		cs.Spec.Rollback = &configsv1.Rollback{}
	}
	cs.Spec.Rollback.ToRevision = to
	if *cs.Spec.Rollback == (configsv1.Rollback{}) {
		cs.Spec.Rollback = nil
	}
	return c.Patch(ctx, cs, patch)
}

// RequestReconcile sets the reconcile annotation and returns its value.
func RequestReconcile(ctx context.Context, c client.Client, key client.ObjectKey) (string, error) {
	cs := &configsv1.ConfigSync{}
	if err := c.Get(ctx, key, cs); err != nil {
		return "", err
	}
	patch := client.MergeFrom(cs.DeepCopy())
	at := cs.RequestReconcile(time.Now())
	return at, c.Patch(ctx, cs, patch)
}

// WaitFor polls the ConfigSync until done says so, printing each new
// progress message (the Reconciling condition) on progress.
func WaitFor(ctx context.Context, c client.Client, key client.ObjectKey, timeout time.Duration, progress io.Writer, done func(*configsv1.ConfigSync) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := ""
	for {
		cs := &configsv1.ConfigSync{}
		if err := c.Get(ctx, key, cs); err != nil {
			return err
		}
		if r := apimeta.FindStatusCondition(cs.Status.Conditions, configsv1.ConditionReconciling); r != nil && r.Status == "True" && r.Message != last {
			last = r.Message
			fmt.Fprintf(progress, "◎ %s\n", r.Message)
		}
		ok, err := done(cs)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: no result after %s", key, timeout)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Reconcile requests a reconcile of key and waits until the operator has
// handled it. It returns the Ready condition, and an error when the sync
// did not end Ready.
func Reconcile(ctx context.Context, c client.Client, key client.ObjectKey, timeout time.Duration, progress io.Writer) (*metav1.Condition, error) {
	requested, err := RequestReconcile(ctx, c, key)
	if err != nil {
		return nil, err
	}
	var ready *metav1.Condition
	err = WaitFor(ctx, c, key, timeout, progress, func(cs *configsv1.ConfigSync) (bool, error) {
		if cs.Status.LastHandledReconcileAt != requested {
			return false, nil
		}
		if r := apimeta.FindStatusCondition(cs.Status.Conditions, configsv1.ConditionReconciling); r != nil && r.Reason == configsv1.ReasonProgressing {
			return false, nil
		}
		ready = apimeta.FindStatusCondition(cs.Status.Conditions, configsv1.ConditionReady)
		if ready == nil {
			return false, nil
		}
		if ready.Status != metav1.ConditionTrue {
			return true, fmt.Errorf("%s: %s", ready.Reason, ready.Message)
		}
		return true, nil
	})
	return ready, err
}

// Rollback pins key to revision to ("previous" or a SHA from its history),
// or releases the pin when to is "", and waits until the operator has
// applied that. It returns the ConfigSync as the operator left it.
func Rollback(ctx context.Context, c client.Client, key client.ObjectKey, to string, timeout time.Duration, progress io.Writer) (*configsv1.ConfigSync, error) {
	if err := SetRollback(ctx, c, key, to); err != nil {
		return nil, err
	}
	var last *configsv1.ConfigSync
	err := WaitFor(ctx, c, key, timeout, progress, func(cs *configsv1.ConfigSync) (bool, error) {
		last = cs
		ready := apimeta.FindStatusCondition(cs.Status.Conditions, configsv1.ConditionReady)
		if cs.Status.ObservedGeneration != cs.Generation || ready == nil || ready.ObservedGeneration != cs.Generation {
			if stalled := apimeta.FindStatusCondition(cs.Status.Conditions, configsv1.ConditionStalled); stalled != nil && stalled.ObservedGeneration == cs.Generation {
				return true, fmt.Errorf("%s: %s", stalled.Reason, stalled.Message)
			}
			return false, nil
		}
		if to == "" {
			return cs.Status.RolledBackTo == "", nil
		}
		return cs.Status.RolledBackTo != "", nil
	})
	return last, err
}

// SetSuspend sets spec.suspend: a suspended ConfigSync is not synced until
// it is resumed.
func SetSuspend(ctx context.Context, c client.Client, key client.ObjectKey, suspend bool) error {
	cs := &configsv1.ConfigSync{}
	if err := c.Get(ctx, key, cs); err != nil {
		return err
	}
	patch := client.MergeFrom(cs.DeepCopy())
	cs.Spec.Suspend = suspend
	return c.Patch(ctx, cs, patch)
}

// chartList names the remote charts of a history entry as name@version, a
// dependency as alias=name@version: what a rollback to it renders.
func chartList(pins []configsv1.PinnedChart) string {
	parts := make([]string, len(pins))
	for i, p := range pins {
		parts[i] = p.Name + "@" + p.Version
		if p.Dependency != "" {
			parts[i] = p.Dependency + "=" + parts[i]
		}
	}
	return strings.Join(parts, ",")
}
