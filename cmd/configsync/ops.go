package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/control"
)

// namedCommand is a command on the one ConfigSync its argument names: run
// gets a client and the ConfigSync's key in kube's namespace.
func namedCommand(kube *kubeOptions, use, short string, run func(cmd *cobra.Command, c client.Client, key client.ObjectKey) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, key, err := kube.named(args[0])
			if err != nil {
				return err
			}
			return run(cmd, c, key)
		},
	}
}

func newHistoryCommand(kube *kubeOptions) *cobra.Command {
	return namedCommand(kube, "history NAME", "List the revisions a ConfigSync applied, newest first",
		func(cmd *cobra.Command, c client.Client, key client.ObjectKey) error {
			cs := &configsv1.ConfigSync{}
			if err := c.Get(cmd.Context(), key, cs); err != nil {
				return err
			}
			return control.PrintHistory(cmd.OutOrStdout(), cs)
		})
}

func newRollbackCommand(kube *kubeOptions) *cobra.Command {
	var to string
	var clear, wait bool
	cmd := namedCommand(kube, "rollback NAME [--to SHA|previous] [--clear]",
		"Pin a ConfigSync to an earlier revision from its history, or release the pin",
		func(cmd *cobra.Command, c client.Client, key client.ObjectKey) error {
			want := to
			if clear {
				want = ""
			}
			if !wait {
				return control.SetRollback(cmd.Context(), c, key, want)
			}
			cs, err := control.Rollback(cmd.Context(), c, key, want, kube.timeout, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if want == "" {
				fmt.Fprintf(cmd.OutOrStdout(), "released: following %s again\n", cs.Status.SourceRevision)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rolled back to %s\n", configsv1.ShortRevision(cs.Status.RolledBackTo))
			return nil
		})
	cmd.Long = `rollback sets spec.rollback.toRevision: the operator re-renders and applies that
commit and holds it, against new commits, until the pin is released with --clear.`
	cmd.Flags().StringVar(&to, "to", "previous", "a commit SHA (or prefix) from the history, or previous")
	cmd.Flags().BoolVar(&clear, "clear", false, "release the pin: follow the branch again")
	cmd.Flags().BoolVar(&wait, "wait", true, "wait until the operator has applied it")
	return cmd
}

func newReconcileCommand(kube *kubeOptions) *cobra.Command {
	return namedCommand(kube, "reconcile NAME", "Sync a ConfigSync now and wait for the result",
		func(cmd *cobra.Command, c client.Client, key client.ObjectKey) error {
			fmt.Fprintf(cmd.ErrOrStderr(), "► reconciling %s\n", key)
			ready, err := control.Reconcile(cmd.Context(), c, key, kube.timeout, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "✔ %s\n", ready.Message)
			return nil
		})
}
