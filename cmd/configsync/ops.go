package main

import (
	"fmt"

	"github.com/spf13/cobra"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/control"
)

func newHistoryCommand(kube *kubeOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "history NAME",
		Short: "List the revisions a ConfigSync applied, newest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, key, err := kube.named(args[0])
			if err != nil {
				return err
			}
			cs := &configsv1.ConfigSync{}
			if err := c.Get(cmd.Context(), key, cs); err != nil {
				return err
			}
			return control.PrintHistory(cmd.OutOrStdout(), cs)
		},
	}
}

func newRollbackCommand(kube *kubeOptions) *cobra.Command {
	var to string
	var clear, wait bool
	cmd := &cobra.Command{
		Use:   "rollback NAME [--to SHA|previous] [--clear]",
		Short: "Pin a ConfigSync to an earlier revision from its history, or release the pin",
		Long: `rollback sets spec.rollback.toRevision: the operator re-renders and applies that
commit and holds it, against new commits, until the pin is released with --clear.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, key, err := kube.named(args[0])
			if err != nil {
				return err
			}
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
			fmt.Fprintf(cmd.OutOrStdout(), "rolled back to %s\n", control.Short(cs.Status.RolledBackTo))
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "previous", "a commit SHA (or prefix) from the history, or previous")
	cmd.Flags().BoolVar(&clear, "clear", false, "release the pin: follow the branch again")
	cmd.Flags().BoolVar(&wait, "wait", true, "wait until the operator has applied it")
	return cmd
}

func newReconcileCommand(kube *kubeOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "reconcile NAME",
		Short: "Sync a ConfigSync now and wait for the result",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, key, err := kube.named(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "► reconciling %s\n", key)
			ready, err := control.Reconcile(cmd.Context(), c, key, kube.timeout, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "✔ %s\n", ready.Message)
			return nil
		},
	}
}
