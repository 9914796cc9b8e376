// Command demo is `make demo`: the ConfigSync walkthrough on a control plane
// it starts on loopback (or, with DEMO_CLUSTER=existing, on $KUBECONFIG's
// cluster). DEMO_NONINTERACTIVE=1 exits when the walkthrough ends instead of
// waiting for Ctrl-C. -record FILE also writes an asciinema recording.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/configsync/configsync/internal/demo"
)

func main() {
	example := flag.String("example", "examples/template-sops", "the example folder to sync")
	kubeconfig := flag.String("kubeconfig-out", "demo.kubeconfig", "where to write the demo cluster's kubeconfig")
	record := flag.String("record", "", "also write an asciinema v2 recording of the narration to this file")
	flag.Parse()
	// The narration tells the story; the operator's and the Git server's
	// own logs would drown it.
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	log.SetOutput(io.Discard)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var out io.Writer = os.Stdout
	if *record != "" {
		cast, err := newCast(*record, os.Stdout)
		if err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
			os.Exit(1)
		}
		defer cast.Close()
		out = cast
	}
	_, err := demo.Run(ctx, demo.Options{
		Out:        out,
		Example:    *example,
		Kubeconfig: *kubeconfig,
		Existing:   os.Getenv("DEMO_CLUSTER") == "existing",
		Hold:       os.Getenv("DEMO_NONINTERACTIVE") == "" && *record == "",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}
