package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
)

// kubeOptions say which cluster and namespace the cluster commands talk to,
// as kubectl does: --kubeconfig, else $KUBECONFIG, else ~/.kube/config.
type kubeOptions struct {
	kubeconfig, context, namespace string
	timeout                        time.Duration
}

func (k *kubeOptions) bind(root *cobra.Command) {
	f := root.PersistentFlags()
	f.StringVar(&k.kubeconfig, "kubeconfig", "", "path to the kubeconfig (default: $KUBECONFIG or ~/.kube/config)")
	f.StringVar(&k.context, "context", "", "kubeconfig context to use")
	f.StringVarP(&k.namespace, "namespace", "n", "", "namespace of the ConfigSync (default: the context's)")
	f.DurationVar(&k.timeout, "timeout", 2*time.Minute, "how long to wait for the operator")
}

// client connects and resolves the namespace.
func (k *kubeOptions) client() (client.Client, string, error) {
	return k.clientWithWatch()
}

// clientWithWatch is client, able to watch too (for the web UI).
func (k *kubeOptions) clientWithWatch() (client.WithWatch, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = k.kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: k.context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("load kubeconfig: %w", err)
	}
	ns := k.namespace
	if ns == "" {
		if ns, _, err = cc.Namespace(); err != nil {
			return nil, "", err
		}
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, "", err
	}
	if err := configsv1.AddToScheme(scheme); err != nil {
		return nil, "", err
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, "", fmt.Errorf("connect: %w", err)
	}
	return c, ns, nil
}

// named connects and returns the key of the ConfigSync name in the namespace.
func (k *kubeOptions) named(name string) (client.Client, client.ObjectKey, error) {
	c, ns, err := k.client()
	if err != nil {
		return nil, client.ObjectKey{}, err
	}
	return c, client.ObjectKey{Namespace: ns, Name: name}, nil
}
