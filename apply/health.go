package apply

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// HealthError lists the objects that were not healthy when the wait ended.
type HealthError struct {
	Timeout time.Duration
	// Unhealthy maps each object to its last kstatus status and message.
	Unhealthy map[ObjectRef]string
}

func (e *HealthError) Error() string {
	msgs := make([]string, 0, len(e.Unhealthy))
	for ref, msg := range e.Unhealthy {
		msgs = append(msgs, fmt.Sprintf("%s: %s", ref, msg))
	}
	sort.Strings(msgs)
	return fmt.Sprintf("%d object(s) not healthy after %s: %s", len(msgs), e.Timeout, strings.Join(msgs, "; "))
}

// HealthPollInterval is how often WaitHealthy reads the objects again.
var HealthPollInterval = time.Second

// WaitHealthy polls refs until kstatus says each is Current, or timeout
// passes. A Failed status (a Job that failed, a custom resource whose Ready
// condition is False with Stalled) ends the wait early: waiting longer will
// not help. It reads the objects directly, not through an informer, so the
// manager holds no cache of every Deployment it ever applied.
func (m *Manager) WaitHealthy(ctx context.Context, refs []ObjectRef, timeout time.Duration) error {
	if len(refs) == 0 {
		return nil
	}
	deadline := time.Now().Add(timeout)
	pending := append([]ObjectRef(nil), refs...)
	for {
		unhealthy, failed := m.unhealthy(ctx, pending)
		if len(unhealthy) == 0 {
			return nil
		}
		if failed || !time.Now().Before(deadline) {
			return &HealthError{Timeout: timeout, Unhealthy: unhealthy}
		}
		pending = pending[:0]
		for ref := range unhealthy {
			pending = append(pending, ref)
		}
		select {
		case <-ctx.Done():
			return &HealthError{Timeout: timeout, Unhealthy: unhealthy}
		case <-time.After(HealthPollInterval):
		}
	}
}

// unhealthy computes the kstatus of each object and returns those that are
// not Current, and whether any has Failed.
func (m *Manager) unhealthy(ctx context.Context, refs []ObjectRef) (map[ObjectRef]string, bool) {
	out := map[ObjectRef]string{}
	failed := false
	for _, ref := range refs {
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(schema.FromAPIVersionAndKind(ref.APIVersion, ref.Kind))
		err := m.Client.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, live)
		if apierrors.IsNotFound(err) && m.hooks.ranAny(ref) {
			continue // a hook that ran and was deleted by its policy or a TTL
		}
		if apierrors.IsNotFound(err) {
			out[ref] = "NotFound"
			continue
		}
		if err != nil {
			out[ref] = fmt.Sprintf("read: %v", err)
			continue
		}
		res, err := status.Compute(live)
		if err != nil {
			out[ref] = fmt.Sprintf("compute status: %v", err)
			continue
		}
		if res.Status == status.CurrentStatus {
			continue
		}
		if res.Status == status.FailedStatus {
			failed = true
		}
		out[ref] = fmt.Sprintf("%s: %s", res.Status, res.Message)
	}
	return out, failed
}
