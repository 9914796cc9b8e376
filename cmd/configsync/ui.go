package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/spf13/cobra"

	"github.com/configsync/configsync/ui"
)

func newUICommand(kube *kubeOptions) *cobra.Command {
	var addr string
	var allowRemote bool
	cmd := &cobra.Command{
		Use:   "ui [--listen 127.0.0.1:9898]",
		Short: "Serve a web page to see and steer every ConfigSync, with your own credentials",
		Long: `ui serves a web page on loopback that shows every ConfigSync your kubeconfig's
credentials may list (state, revision, pipeline, objects, Events, history
with diffs) and follows changes live. Its actions (reconcile now,
suspend/resume, roll back, clear a rollback pin) ask for a confirmation and
are done as you: Kubernetes RBAC decides. Nothing is installed in the
cluster and no token is stored. Open the URL it prints.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ns, err := kube.clientWithWatch()
			if err != nil {
				return err
			}
			l, hosts, err := ui.Listen(addr, allowRemote)
			if err != nil {
				return err
			}
			srv, err := ui.New(ui.Options{Client: c, Namespace: ns, Hosts: hosts, Log: stderrLogger()})
			if err != nil {
				l.Close()
				return err
			}
			ctx, stop := signal.NotifyContext(cmdContextOf(cmd), os.Interrupt, syscall.SIGTERM)
			defer stop()
			fmt.Fprintf(cmd.OutOrStdout(), "ConfigSync UI: %s (Ctrl-C to stop)\n", ui.URL(l))
			return ui.Serve(ctx, l, srv)
		},
	}
	cmd.Flags().StringVar(&addr, "listen", ui.DefaultAddress, "address to serve on; loopback only unless --allow-remote")
	cmd.Flags().BoolVar(&allowRemote, "allow-remote", false, "allow a non-loopback listen address (anyone who reaches it acts with your credentials, behind the CSRF checks)")
	return cmd
}

func cmdContextOf(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

func stderrLogger() logr.Logger {
	return funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, "configsync ui:", prefix, args) }, funcr.Options{})
}
