package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/testgit"
)

// sameRequests sends, with a bare client and no Git, the requests the
// operator's first sync of n ConfigSyncs sends: per ConfigSync its create
// (the user's), the finalizer patch, a dry-run and an apply of each object,
// one status patch with the same status and one Event. It is what the
// apiserver needs for this API with zero cost in the operator, so the gap
// between it and the mass sync is the operator's own (its CPU and its Git
// traffic, on the same two cores).
func (b *bench) sameRequests(ns string, repo *testgit.Repo, n, objs int) (time.Duration, error) {
	if err := b.namespace(ns); err != nil {
		return 0, err
	}
	b.profileAPIServer("bench-mass-same")
	cpuBefore := processCPU()
	start := time.Now()
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(b.workers)
	for i := range n {
		g.Go(func() error { return b.sameRequestsOf(ctx, ns, repo, i, objs) })
	}
	if err := g.Wait(); err != nil {
		return 0, fmt.Errorf("same requests as the operator: %w", err)
	}
	took := time.Since(start)
	b.baselineCPU = logCPU(ns, cpuBefore, processCPU(), took)
	return took, b.clearConfigSyncs(ns)
}

// clearConfigSyncs deletes the ConfigSyncs sameRequests made, and their
// objects. Their finalizer goes first: no operator runs yet to remove it,
// and the one started next must find nothing left to finalize.
func (b *bench) clearConfigSyncs(ns string) error {
	list := &configsv1.ConfigSyncList{}
	if err := b.k8s.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("clear %s: %w", ns, err)
	}
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(b.workers)
	for i := range list.Items {
		cs := &list.Items[i]
		g.Go(func() error {
			patch := client.MergeFrom(cs.DeepCopy())
			cs.Finalizers = nil
			if err := b.k8s.Patch(ctx, cs, patch); err != nil {
				return err
			}
			return client.IgnoreNotFound(b.k8s.Delete(ctx, cs))
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("clear %s: %w", ns, err)
	}
	return b.clearConfigMaps(ns)
}

func (b *bench) sameRequestsOf(ctx context.Context, ns string, repo *testgit.Repo, i, objs int) error {
	cs := benchConfigSync(ns, repo.URL, i)
	if err := b.k8s.Create(ctx, cs); err != nil {
		return err
	}
	if err := b.addFinalizer(ctx, cs); err != nil {
		return err
	}
	before := cs.DeepCopy()
	cms := benchObjects(ns, cs.Name, i, objs)
	owner := client.FieldOwner("configsync/" + ns + "/" + cs.Name)
	for _, opts := range [][]client.PatchOption{{owner, client.DryRunAll}, {owner}} {
		pass, pctx := errgroup.WithContext(ctx)
		pass.SetLimit(b.applyConc)
		for _, cm := range cms {
			pass.Go(func() error {
				return b.ssa(pctx, cm, opts...)
			})
		}
		if err := pass.Wait(); err != nil {
			return err
		}
	}
	syncedStatus(cs, cms)
	if err := b.k8s.Status().Patch(ctx, cs, client.MergeFrom(before)); err != nil {
		return err
	}
	return b.k8s.Create(ctx, syncedEvent(cs, objs))
}

// ssa server-side-applies obj as the operator's applier does: the object as
// a raw apply patch, the answer asked for as metadata only (protobuf). Every
// baseline applies this way, so that none spends client CPU decoding whole
// answers that the operator does not, on the cores the apiserver shares.
func (b *bench) ssa(ctx context.Context, obj *unstructured.Unstructured, opts ...client.PatchOption) error {
	body, err := obj.MarshalJSON()
	if err != nil {
		return err
	}
	answer := &metav1.PartialObjectMetadata{}
	answer.SetGroupVersionKind(obj.GroupVersionKind())
	answer.SetNamespace(obj.GetNamespace())
	answer.SetName(obj.GetName())
	return b.k8s.Patch(ctx, answer, client.RawPatch(types.ApplyPatchType, body), opts...)
}

// benchConfigSync is the i-th ConfigSync of a fleet, as createConfigSyncs
// makes it.
func benchConfigSync(ns, repoURL string, i int) *configsv1.ConfigSync {
	return &configsv1.ConfigSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("app-%04d", i), Labels: map[string]string{"bench": ns}},
		Spec: configsv1.ConfigSyncSpec{
			Source:          configsv1.Source{Git: configsv1.GitSource{RepoURL: repoURL, Branch: "main", Path: fmt.Sprintf("apps/%04d", i)}},
			RefreshInterval: &metav1.Duration{Duration: time.Hour},
		},
	}
}

func (b *bench) addFinalizer(ctx context.Context, cs *configsv1.ConfigSync) error {
	patch := client.MergeFromWithOptions(cs.DeepCopy(), client.MergeFromWithOptimisticLock{})
	cs.Finalizers = []string{configsv1.Finalizer}
	return b.k8s.Patch(ctx, cs, patch)
}

// benchObjects are the objs ConfigMaps of app i as the operator applies
// them: with the ownership labels of the ConfigSync name.
func benchObjects(ns, name string, i, objs int) []*unstructured.Unstructured {
	cms := make([]*unstructured.Unstructured, objs)
	for j := range cms {
		cm := &unstructured.Unstructured{}
		cm.SetAPIVersion("v1")
		cm.SetKind("ConfigMap")
		cm.SetNamespace(ns)
		cm.SetName(fmt.Sprintf("same-%04d-%02d", i, j))
		cm.SetLabels(map[string]string{configsv1.LabelName: name, configsv1.LabelNamespace: ns})
		_ = unstructured.SetNestedField(cm.Object, strconv.Itoa(j), "data", "value")
		cms[j] = cm
	}
	return cms
}

// syncedEvent is the Normal Synced Event of a first sync of objs objects.
func syncedEvent(cs *configsv1.ConfigSync, objs int) *eventsv1.Event {
	return &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Namespace: cs.Namespace, Name: fmt.Sprintf("%s.%x", cs.Name, time.Now().UnixNano())},
		EventTime:           metav1.NowMicro(),
		ReportingController: "configsync",
		ReportingInstance:   "configsync-bench",
		Action:              "Sync",
		Reason:              "Synced",
		Regarding:           corev1.ObjectReference{APIVersion: configsv1.GroupVersion.String(), Kind: "ConfigSync", Namespace: cs.Namespace, Name: cs.Name, UID: cs.UID},
		Note:                fmt.Sprintf("applied revision main@%040d: %d object(s) (%d created, 0 configured, 0 unchanged)", 0, objs, objs),
		Type:                corev1.EventTypeNormal,
	}
}

// syncedStatus fills in the status the operator writes after a first sync
// of cms.
func syncedStatus(cs *configsv1.ConfigSync, cms []*unstructured.Unstructured) {
	now := metav1.Now()
	rev := fmt.Sprintf("%040d", 0)
	msg := fmt.Sprintf("applied revision main@%s: %d object(s)", rev, len(cms))
	cs.Status.ObservedGeneration = cs.Generation
	cs.Status.SourceRevision = rev
	cs.Status.SourceRef = "refs/heads/main"
	cs.Status.SourcePath = cs.Spec.Source.Git.Path
	cs.Status.LastSyncedTime = &now
	for _, cm := range cms {
		ref := configsv1.ObjectReference{APIVersion: "v1", Kind: "ConfigMap", Namespace: cm.GetNamespace(), Name: cm.GetName()}
		cs.Status.Inventory = append(cs.Status.Inventory, ref)
		cs.Status.Targets = append(cs.Status.Targets, configsv1.TargetStatus{APIVersion: ref.APIVersion, Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name, Result: configsv1.TargetApplied})
	}
	cs.Status.AppliedTargets = int32(len(cms))
	cs.Status.History = []configsv1.HistoryEntry{{Revision: fmt.Sprintf("%040d", 0), Digest: fmt.Sprintf("sha256:%064d", 0), AppliedAt: now,
		Result: configsv1.HistorySucceeded, Duration: &metav1.Duration{Duration: 120 * time.Millisecond}}}
	for _, typ := range []string{configsv1.ConditionReady, configsv1.ConditionAvailable} {
		cs.Status.Conditions = append(cs.Status.Conditions, metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: configsv1.ReasonSucceeded,
			Message: msg, ObservedGeneration: cs.Generation, LastTransitionTime: now})
	}
	cs.Status.Conditions = append(cs.Status.Conditions, metav1.Condition{Type: configsv1.ConditionDegraded, Status: metav1.ConditionFalse,
		Reason: configsv1.ReasonSucceeded, ObservedGeneration: cs.Generation, LastTransitionTime: now})
}
