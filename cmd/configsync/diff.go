package main

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/apply"
	"github.com/configsync/configsync/desired"
	"github.com/configsync/configsync/internal/objdiff"
	"github.com/configsync/configsync/prune"
)

func newDiffCommand(kube *kubeOptions) *cobra.Command {
	o := &renderOptions{kube: kube}
	cmd := &cobra.Command{
		Use:   "diff -f configsync.yaml --source DIR",
		Short: "Show what syncing a local checkout would change in a cluster",
		Long: `diff renders a local checkout as render does, server-side dry-runs every
object against the cluster as the operator would apply it, and prints a
unified diff per object that would change (Secret values and kubectl's
last-applied-configuration masked, managedFields left out), then the
objects the ConfigSync would prune. Exit status: 0 nothing differs, 1 something
differs, 2 an error (including an object the cluster refuses).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			differs, err := o.diff(cmd.Context(), cmd.OutOrStdout())
			if err != nil {
				return err
			}
			if differs {
				return exitCode(1)
			}
			return nil
		},
	}
	o.bind(cmd)
	return cmd
}

func (o *renderOptions) diff(ctx context.Context, out io.Writer) (bool, error) {
	c, ns, err := o.kube.client()
	if err != nil {
		return false, err
	}
	if o.kube.namespace == "" {
		o.kube.namespace = ns
	}
	cs, tree, err := o.render()
	if err != nil {
		return false, err
	}
	objs, err := desired.Objects(cs, tree)
	if err != nil {
		return false, err
	}
	printCharts(out, o.charts)
	differs := false
	want := prune.Inventory{}
	for _, obj := range objs {
		if obj.GetNamespace() == "" {
			if namespaced, err := c.IsObjectNamespaced(obj); err == nil && namespaced {
				obj.SetNamespace(cs.Namespace)
			}
		}
		ref := apply.RefOf(obj)
		want.Add(desired.Reference(ref))
		changed, err := diffObject(ctx, c, obj, desired.FieldOwnerFor(cs.Namespace, cs.Name), cs.Spec.Force, out)
		if err != nil {
			return false, fmt.Errorf("%s: %w", ref, err)
		}
		differs = differs || changed
	}
	live := &configsv1.ConfigSync{}
	err = c.Get(ctx, client.ObjectKeyFromObject(cs), live)
	if client.IgnoreNotFound(err) != nil {
		return false, err
	}
	if err == nil && len(live.Status.Charts) > 0 && !slices.Equal(live.Status.Charts, o.charts) {
		fmt.Fprintln(out, "# the cluster's last sync rendered other charts:")
		printCharts(out, live.Status.Charts)
	}
	if err == nil && live.Spec.Prune {
		for _, ref := range prune.Stale(prune.FromStatus(live.Status.Inventory), want) {
			fmt.Fprintf(out, "--- %s/%s %s (would be pruned)\n", ref.Kind, ref.Name, ref.Namespace)
			differs = true
		}
	}
	return differs, nil
}

// diffObject dry-runs obj and prints the unified diff between the live
// object and the dry-run result, both without server-managed fields.
func diffObject(ctx context.Context, c client.Client, obj *unstructured.Unstructured, owner string, force bool, out io.Writer) (bool, error) {
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(obj.GroupVersionKind())
	err := c.Get(ctx, client.ObjectKeyFromObject(obj), live)
	if apierrors.IsNotFound(err) {
		live = nil
	} else if err != nil {
		return false, err
	}
	merged := obj.DeepCopy()
	opts := []client.ApplyOption{client.FieldOwner(owner), client.DryRunAll}
	if force {
		opts = append(opts, client.ForceOwnership)
	}
	if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(merged), opts...); err != nil {
		return false, fmt.Errorf("dry-run: %w", err)
	}
	before, after := objdiff.Comparable(live), objdiff.Comparable(merged)
	objdiff.Mask(before, after, objdiff.IsSecret(obj))
	name := apply.RefOf(obj).String()
	from := name
	if live == nil {
		from = "/dev/null"
	}
	text, err := objdiff.Unified(before, after, from, name)
	if err != nil || text == "" {
		return false, err
	}
	fmt.Fprint(out, text)
	return true, nil
}
