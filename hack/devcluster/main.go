// Command devcluster starts the test control plane (kube-apiserver + etcd,
// built by hack/control-plane.sh) on loopback, writes an admin kubeconfig, and
// runs until interrupted. It gives `make run` a cluster on a machine that has
// none: go run ./hack/devcluster -out /tmp/configsync.kubeconfig
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/configsync/configsync/internal/testenv"
)

func main() {
	kubeconfig := flag.String("out", "configsync.kubeconfig", "where to write the admin kubeconfig")
	flag.Parse()
	if err := run(*kubeconfig); err != nil {
		fmt.Fprintln(os.Stderr, "devcluster:", err)
		os.Exit(1)
	}
}

func run(kubeconfig string) error {
	env, err := testenv.New()
	if err != nil {
		return err
	}
	// The CRD is the manager's to install (make run does), as on a real cluster.
	env.CRDDirectoryPaths = nil
	if _, err := env.Start(); err != nil {
		return fmt.Errorf("start control plane: %w", err)
	}
	defer env.Stop()
	user, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("add admin user: %w", err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return err
	}
	if err := os.WriteFile(kubeconfig, data, 0o600); err != nil {
		return err
	}
	fmt.Printf("control plane up; KUBECONFIG=%s; Ctrl-C stops it\n", kubeconfig)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
	return nil
}
