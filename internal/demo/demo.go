// Package demo is the walkthrough `make demo` runs: a control plane on
// loopback (or an existing cluster), a Git server with an example
// repository, the operator in-process, and a ConfigSync that decrypts a SOPS
// file and renders templates with an environment overlay; then a new commit
// and its resync, and a rollback. It narrates what happens as it goes.
package demo

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/control"
	"github.com/configsync/configsync/controllers"
	"github.com/configsync/configsync/deploy"
	"github.com/configsync/configsync/internal/testenv"
	"github.com/configsync/configsync/internal/testgit"
	"github.com/configsync/configsync/source"
	"github.com/configsync/configsync/ui"
)

// Options configure a walkthrough.
type Options struct {
	// Out receives the narration.
	Out io.Writer
	// Example is the example folder: configsync.yaml, age.agekey, repo/.
	Example string
	// Kubeconfig is where an admin kubeconfig for the demo's control plane
	// is written, so the user can `kubectl get csync` meanwhile.
	Kubeconfig string
	// Existing uses the cluster of $KUBECONFIG instead of starting one.
	Existing bool
	// Hold keeps everything running after the walkthrough until ctx ends
	// (the interactive mode: Ctrl-C stops it).
	Hold bool
	// Timeout bounds each wait for the operator.
	Timeout time.Duration
	// UIAddress is where the web UI listens; empty is configsync ui's
	// default, or any free loopback port when that one is taken.
	UIAddress string
}

// Outcome is what the walkthrough observed, for its test.
type Outcome struct {
	// Owners is the ConfigMap's OWNER after the first sync, the new commit
	// and the rollback.
	Owners []string
	// Password is the decrypted Secret value the cluster received.
	Password string
	// Revisions are the commits synced, in order.
	Revisions []string
	// UIURL is where the walkthrough served `configsync ui`.
	UIURL string
}

// Run runs the walkthrough and cleans up after itself.
func Run(ctx context.Context, o Options) (*Outcome, error) {
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Minute
	}
	d := &demo{Options: o, outcome: &Outcome{}}
	defer d.Close()
	if err := d.run(ctx); err != nil {
		return d.outcome, err
	}
	if o.Hold {
		d.say("Everything keeps running: try `KUBECONFIG=%s kubectl get csync -A`, or the web UI at %s. Ctrl-C stops and cleans up.", o.Kubeconfig, d.outcome.UIURL)
		<-ctx.Done()
	}
	return d.outcome, nil
}

type demo struct {
	Options
	// Standalone is the demo's testgit.T and its list of clean-ups.
	testgit.Standalone
	outcome *Outcome
	k8s     client.Client
}

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.Out, format+"\n", args...)
}

func (d *demo) step(format string, args ...any) {
	fmt.Fprintf(d.Out, "\n==> "+format+"\n", args...)
}

func (d *demo) run(ctx context.Context) (err error) {
	defer testgit.RecoverFatal(&err)
	cfg, err := d.cluster()
	if err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, configsv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return err
		}
	}
	if d.k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		return err
	}
	d.step("Installing the ConfigSync CRD")
	if err := deploy.InstallCRD(ctx, d.k8s); err != nil {
		return err
	}

	d.step("Starting a Git server on loopback with the example repository (%s)", filepath.Join(d.Example, "repo"))
	files, err := readTree(filepath.Join(d.Example, "repo"))
	if err != nil {
		return err
	}
	repo := testgit.Start(d).NewRepo(d, "billing.git")
	first := repo.Commit(d, files, "billing config")
	d.say("%s: commit %s", repo.URL, configsv1.ShortRevision(first))

	d.step("Starting the operator (in this process)")
	if err := d.startOperator(ctx, cfg, scheme); err != nil {
		return err
	}

	d.step("Serving the web UI (configsync ui, in this process)")
	if err := d.startUI(ctx, cfg, scheme); err != nil {
		return err
	}

	cs, err := d.createConfigSync(ctx, repo.URL)
	if err != nil {
		return err
	}
	key := client.ObjectKeyFromObject(cs)
	if err := d.synced(ctx, key, first); err != nil {
		return err
	}

	d.step("Pushing a commit: the payments team hands billing over to checkout")
	files["values.yaml"] = strings.Replace(files["values.yaml"], "team: payments", "team: checkout", 1)
	second := repo.Commit(d, files, "hand billing to checkout")
	d.say("commit %s; asking for a sync now instead of waiting for the interval (what a push webhook does)", configsv1.ShortRevision(second))
	if _, err := control.Reconcile(ctx, d.k8s, key, d.Timeout, d.Out); err != nil {
		return err
	}
	if err := d.synced(ctx, key, second); err != nil {
		return err
	}

	d.step("Rolling back to the previous revision (spec.rollback.toRevision: previous)")
	rolled, err := control.Rollback(ctx, d.k8s, key, "previous", d.Timeout, d.Out)
	if err != nil {
		return err
	}
	d.say("rolled back to %s; it holds until spec.rollback is removed", configsv1.ShortRevision(rolled.Status.RolledBackTo))
	d.showStatus(rolled)
	if err := d.showObjects(ctx, cs.Namespace); err != nil {
		return err
	}
	d.step("History (configsync history %s -n %s)", key.Name, key.Namespace)
	if err := control.PrintHistory(d.Out, rolled); err != nil {
		return err
	}
	return nil
}

// cluster starts the control plane, or connects to $KUBECONFIG's.
func (d *demo) cluster() (*rest.Config, error) {
	if d.Existing {
		d.step("Using the cluster of $KUBECONFIG")
		return ctrl.GetConfig()
	}
	d.step("Starting kube-apiserver and etcd on loopback (built from source on first use, then cached)")
	env, err := testenv.New()
	if err != nil {
		return nil, err
	}
	env.CRDDirectoryPaths = nil // installed below, as on a real cluster
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start control plane: %w", err)
	}
	d.Cleanup(func() { _ = env.Stop() })
	user, err := env.AddUser(envtest.User{Name: "demo-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, err
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return nil, err
	}
	if d.Kubeconfig != "" {
		if err := os.WriteFile(d.Kubeconfig, kubeconfig, 0o600); err != nil {
			return nil, err
		}
		d.Cleanup(func() { _ = os.Remove(d.Kubeconfig) })
		d.say("control plane at %s; kubeconfig: %s", cfg.Host, d.Kubeconfig)
	}
	return clientcmd.RESTConfigFromKubeConfig(kubeconfig)
}

// startUI serves `configsync ui` as the demo's user, so that the sync, the
// push and the rollback can be followed, and steered, in a browser.
func (d *demo) startUI(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme) error {
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	addr := d.UIAddress
	if addr == "" {
		addr = ui.DefaultAddress
	}
	l, hosts, err := ui.Listen(addr, false)
	if err != nil && d.UIAddress == "" { // the default port is taken: any free one
		l, hosts, err = ui.Listen("127.0.0.1:0", false)
	}
	if err != nil {
		return err
	}
	srv, err := ui.New(ui.Options{Client: c, Hosts: hosts, Namespace: metav1.NamespaceDefault})
	if err != nil {
		l.Close()
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := ui.Serve(ctx, l, srv); err != nil {
			d.say("web UI stopped: %v", err)
		}
	}()
	d.Cleanup(func() { cancel(); <-done })
	d.outcome.UIURL = ui.URL(l)
	d.say("open %s to watch the walkthrough live; on your own cluster, `configsync ui` serves the same page", d.outcome.UIURL)
	return nil
}

func (d *demo) startOperator(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme) error {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return err
	}
	fetcher := &source.GitFetcher{}
	if err := controllers.New(mgr, fetcher, controllers.Options{Workers: 2, SkipNameValidation: true}).SetupWithManager(mgr); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			d.say("operator stopped: %v", err)
		}
	}()
	d.Cleanup(func() { cancel(); <-done })
	return nil
}

func (d *demo) createConfigSync(ctx context.Context, repoURL string) (*configsv1.ConfigSync, error) {
	raw, err := os.ReadFile(filepath.Join(d.Example, "configsync.yaml"))
	if err != nil {
		return nil, err
	}
	cs := &configsv1.ConfigSync{}
	if err := yaml.UnmarshalStrict(raw, cs); err != nil {
		return nil, fmt.Errorf("configsync.yaml: %w", err)
	}
	cs.Spec.Source.Git.RepoURL = repoURL
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cs.Namespace}}
	if err := client.IgnoreAlreadyExists(d.k8s.Create(ctx, ns)); err != nil {
		return nil, err
	}
	key, err := os.ReadFile(filepath.Join(d.Example, "age.agekey"))
	if err != nil {
		return nil, err
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: cs.Namespace, Name: cs.Spec.Render[0].Sops.DecryptionSecretRef.Name},
		Data: map[string][]byte{"demo.agekey": key}}
	d.step("Creating the SOPS key Secret %s/%s and the ConfigSync %s/%s", secret.Namespace, secret.Name, cs.Namespace, cs.Name)
	if err := d.k8s.Create(ctx, secret); err != nil {
		return nil, err
	}
	d.Cleanup(func() { _ = d.k8s.Delete(context.Background(), secret) })
	if err := d.k8s.Create(ctx, cs); err != nil {
		return nil, err
	}
	d.Cleanup(func() { d.deleteConfigSync(cs) })
	fmt.Fprintf(d.Out, "%s", raw)
	return cs, nil
}

// deleteConfigSync deletes it and waits for its finalizer to prune.
func (d *demo) deleteConfigSync(cs *configsv1.ConfigSync) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d.step("Cleaning up: deleting the ConfigSync prunes what it applied")
	if err := d.k8s.Delete(ctx, cs); err != nil {
		return
	}
	for ctx.Err() == nil {
		if err := d.k8s.Get(ctx, client.ObjectKeyFromObject(cs), &configsv1.ConfigSync{}); client.IgnoreNotFound(err) == nil && err != nil {
			d.say("done")
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// synced waits until the ConfigSync applied commit, records the commit in
// the outcome and shows what it applied.
func (d *demo) synced(ctx context.Context, key client.ObjectKey, commit string) error {
	if err := d.waitSynced(ctx, key, commit); err != nil {
		return err
	}
	d.outcome.Revisions = append(d.outcome.Revisions, commit)
	return d.showObjects(ctx, key.Namespace)
}

// waitSynced waits until the ConfigSync applied commit and is Ready.
func (d *demo) waitSynced(ctx context.Context, key client.ObjectKey, commit string) error {
	d.say("waiting for the operator to sync %s ...", configsv1.ShortRevision(commit))
	var last *configsv1.ConfigSync
	err := control.WaitFor(ctx, d.k8s, key, d.Timeout, d.Out, func(cs *configsv1.ConfigSync) (bool, error) {
		last = cs
		ready := apimeta.FindStatusCondition(cs.Status.Conditions, configsv1.ConditionReady)
		if stalled := apimeta.FindStatusCondition(cs.Status.Conditions, configsv1.ConditionStalled); stalled != nil {
			return true, fmt.Errorf("%s: %s", stalled.Reason, stalled.Message)
		}
		return ready != nil && ready.Status == metav1.ConditionTrue && strings.HasSuffix(cs.Status.SourceRevision, commit), nil
	})
	if err != nil {
		return err
	}
	d.showStatus(last)
	return nil
}

func (d *demo) showStatus(cs *configsv1.ConfigSync) {
	d.say("status: revision %s, %d target(s) applied", cs.Status.SourceRevision, cs.Status.AppliedTargets)
	for _, c := range cs.Status.Conditions {
		d.say("  %-10s %-5s %-12s %s", c.Type, c.Status, c.Reason, c.Message)
	}
}

// showObjects prints the ConfigMaps and Secrets the ConfigSync applied,
// with Secret values masked, and records them in the outcome.
func (d *demo) showObjects(ctx context.Context, ns string) error {
	sel := client.MatchingLabels{configsv1.LabelNamespace: ns}
	cms := &corev1.ConfigMapList{}
	if err := d.k8s.List(ctx, cms, client.InNamespace(ns), sel); err != nil {
		return err
	}
	for _, cm := range cms.Items {
		d.sayData(cm.Data, "ConfigMap %s/%s:", cm.Namespace, cm.Name)
		if owner, ok := cm.Data["OWNER"]; ok {
			d.outcome.Owners = append(d.outcome.Owners, owner)
		}
	}
	secrets := &corev1.SecretList{}
	if err := d.k8s.List(ctx, secrets, client.InNamespace(ns), sel); err != nil {
		return err
	}
	for _, s := range secrets.Items {
		masked := make(map[string]string, len(s.Data))
		for k, v := range s.Data {
			masked[k] = fmt.Sprintf("*** (%d bytes)", len(v))
		}
		d.sayData(masked, "Secret %s/%s (decrypted by the sops step; values masked here):", s.Namespace, s.Name)
		if p, ok := s.Data["DB_PASSWORD"]; ok {
			d.outcome.Password = string(p)
		}
	}
	return nil
}

// sayData says what format and args say, then data one key a line, in key
// order.
func (d *demo) sayData(data map[string]string, format string, args ...any) {
	d.say(format, args...)
	for _, k := range slices.Sorted(maps.Keys(data)) {
		d.say("  %s: %s", k, data[k])
	}
}

// readTree reads every file under dir, keyed by slash path.
func readTree(dir string) (map[string]string, error) {
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		files[filepath.ToSlash(rel)] = string(data)
		return err
	})
	return files, err
}
