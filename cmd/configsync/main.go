// Command configsync runs ConfigSync's pipeline outside the operator, with
// the packages the operator uses: `render` (offline), `diff` (render, then a
// server-side dry-run against a cluster), and `history`, `rollback`,
// `reconcile` on a ConfigSync in a cluster.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/charts"
	"github.com/configsync/configsync/desired"
	"github.com/configsync/configsync/internal/failure"
	"github.com/configsync/configsync/internal/filetree"
	"github.com/configsync/configsync/renderers"
	"github.com/configsync/configsync/renderers/inputs"
	"github.com/configsync/configsync/source"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	err := newRootCommand().Execute()
	var code exitCode
	switch {
	case errors.As(err, &code):
		os.Exit(int(code))
	case err != nil:
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(2)
	}
}

// exitCode ends the command with a status and no error message: diff's
// "something differs" is 1, like diff(1) and kubectl diff.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "configsync",
		Short:         "Render and inspect ConfigSyncs",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	kube := &kubeOptions{}
	kube.bind(root)
	root.AddCommand(newRenderCommand(kube), newDiffCommand(kube), newHistoryCommand(kube), newRollbackCommand(kube), newReconcileCommand(kube), newUICommand(kube), &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), version) },
	})
	return root
}

type renderOptions struct {
	file       string
	sourceDir  string
	outDir     string
	valuesFrom []string
	ageKeys    []string
	pgpKeys    []string
	// chartSecrets are NAME=FILE: a Secret manifest standing for a helm
	// step's authSecretRef NAME.
	chartSecrets []string
	// helmPlainHTTP accepts http:// chart repositories and plain registries.
	helmPlainHTTP bool
	kube          *kubeOptions
	// charts are the remote charts the last render pinned.
	charts []configsv1.PinnedChart
}

func newRenderCommand(kube *kubeOptions) *cobra.Command {
	o := &renderOptions{kube: kube}
	cmd := &cobra.Command{
		Use:   "render -f configsync.yaml --source DIR",
		Short: "Render a ConfigSync's source offline, as the operator would",
		Long: `Render reads a ConfigSync manifest and a local checkout of its repository,
runs the spec's render pipeline with no cluster, and prints the objects the
operator would apply (or writes the rendered files with -o).

Inputs the operator reads from the cluster come from flags:
  --values-from Kind/name=FILE   a valuesFrom entry (e.g. ConfigMap/shared-values=values.yaml)
  --age-key-file FILE            age identities for sops steps
  --pgp-key-file FILE            an armored PGP private key for sops steps
  --chart-secret NAME=FILE       a Secret manifest for a helm step's authSecretRef NAME

Remote charts (a helm step's repoURL, remote Chart.yaml dependencies) are
resolved now, from their repositories and registries, and printed as
comment lines before the objects: the exact version and digest the
operator would pin.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.OutOrStdout()) },
	}
	o.bind(cmd)
	cmd.Flags().StringVarP(&o.outDir, "output-dir", "o", "", "write the rendered files here instead of printing objects")
	return cmd
}

// bind registers the flags that say what to render and with which inputs.
func (o *renderOptions) bind(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&o.file, "file", "f", "", "the ConfigSync manifest")
	cmd.Flags().StringVar(&o.sourceDir, "source", ".", "a local checkout of the ConfigSync's repository")
	cmd.Flags().StringArrayVar(&o.valuesFrom, "values-from", nil, "Kind/name=FILE for a template step's valuesFrom entry")
	cmd.Flags().StringArrayVar(&o.ageKeys, "age-key-file", nil, "a file of age identities for sops steps")
	cmd.Flags().StringArrayVar(&o.pgpKeys, "pgp-key-file", nil, "an armored PGP private key for sops steps")
	cmd.Flags().StringArrayVar(&o.chartSecrets, "chart-secret", nil, "NAME=FILE: a Secret manifest (username/password, tls.crt/tls.key/ca.crt, or .dockerconfigjson) for a helm step's authSecretRef NAME, or (key keyring) its verify.keyringSecretRef")
	cmd.Flags().BoolVar(&o.helmPlainHTTP, "helm-allow-plain-http", false, "accept http:// Helm repositories and plain-HTTP OCI registries")
	_ = cmd.MarkFlagRequired("file")
}

func (o *renderOptions) run(stdout io.Writer) error {
	cs, out, err := o.render()
	if err != nil {
		return err
	}
	printCharts(stdout, o.charts)
	if o.outDir != "" {
		return writeTree(o.outDir, out)
	}
	objs, err := desired.Objects(cs, out)
	if err != nil {
		return err
	}
	for _, obj := range objs {
		y, err := yaml.Marshal(obj.Object)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "---\n%s", y)
	}
	return nil
}

// render reads the ConfigSync manifest and renders the local source with it.
func (o *renderOptions) render() (*configsv1.ConfigSync, filetree.Tree, error) {
	cs, err := readConfigSync(o.file)
	if err != nil {
		return nil, nil, err
	}
	if cs.Namespace == "" {
		cs.Namespace = o.kube.namespace
	}
	if cs.Namespace == "" {
		cs.Namespace = "default"
	}
	art := source.DirArtifact(o.sourceDir, "folder "+o.sourceDir)
	tree, err := art.Load(cs.Spec.Source.Git.Path, filetree.DefaultLimits)
	if err != nil {
		return nil, nil, fmt.Errorf("read the source: %w", err)
	}
	objs, err := o.objects(cs)
	if err != nil {
		return nil, nil, err
	}
	in, err := inputs.Resolve(cmdContext(), cs.Namespace, cs.Spec.Render, objs, inputs.Options{})
	if err != nil {
		return nil, nil, err
	}
	o.charts, err = inputs.FetchCharts(cmdContext(), cs.Spec.Render, &in, inputs.ChartFetch{
		Fetcher: charts.New(charts.Options{AllowPlainHTTP: o.helmPlainHTTP}),
		Source:  art, Path: cs.Spec.Source.Git.Path, Reader: chartSecrets{objs}, Refresh: true,
	})
	if reason := failure.ReasonOf(err); reason != "" {
		return nil, nil, fmt.Errorf("%s: %w", reason, err) // the reason the operator would report
	}
	if err != nil {
		return nil, nil, err
	}
	ref, commit := checkoutHead(o.sourceDir)
	in.Context = renderers.ContextOf(cs, source.RedactURL(cs.Spec.Source.Git.URL()), ref, commit)
	out, err := renderers.Run(cmdContext(), cs.Spec.Render, in, tree)
	if err != nil {
		return nil, nil, err
	}
	return cs, out, nil
}

func readConfigSync(name string) (*configsv1.ConfigSync, error) {
	cs := &configsv1.ConfigSync{}
	if err := readManifest(name, cs, yaml.UnmarshalStrict); err != nil {
		return nil, err
	}
	if cs.Kind != "ConfigSync" {
		return nil, fmt.Errorf("%s: kind is %q, want ConfigSync", name, cs.Kind)
	}
	return cs, nil
}

// objects builds, from the flags, the objects the operator would read from
// the cluster for cs's render steps: valuesFrom ConfigMaps and Secrets,
// decryption Secrets (every key file serves every sops step) and chart
// Secrets. A step whose input no flag gives is refused here, naming the
// flag.
func (o *renderOptions) objects(cs *configsv1.ConfigSync) (inputs.Objects, error) {
	objs := inputs.Objects{}
	values := map[string][]byte{}
	for _, spec := range o.valuesFrom {
		ref, file, ok := strings.Cut(spec, "=")
		if !ok {
			return nil, fmt.Errorf("--values-from %q: want Kind/name=FILE", spec)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		values[ref] = data
	}
	keys, err := o.decryptionKeys()
	if err != nil {
		return nil, err
	}
	for i, step := range cs.Spec.Render {
		switch {
		case step.Template != nil:
			for _, ref := range step.Template.ValuesFrom {
				data, ok := values[ref.Kind+"/"+ref.Name]
				if !ok && !ref.Optional {
					return nil, fmt.Errorf("%s: valuesFrom %s/%s: pass --values-from %s/%s=FILE", renderers.StepName(i, step), ref.Kind, ref.Name, ref.Kind, ref.Name)
				}
				if ok {
					objs.Put(ref.Kind, ref.Name, valuesKey(ref), data)
				}
			}
		case step.Sops != nil:
			if len(keys) == 0 {
				return nil, fmt.Errorf("%s: pass --age-key-file or --pgp-key-file", renderers.StepName(i, step))
			}
			for k, v := range keys {
				objs.Put("Secret", step.Sops.DecryptionSecretRef.Name, k, v)
			}
		}
	}
	for _, spec := range o.chartSecrets {
		name, file, ok := strings.Cut(spec, "=")
		if !ok {
			return nil, fmt.Errorf("--chart-secret %q: want NAME=FILE", spec)
		}
		data, err := secretData(name, file)
		if err != nil {
			return nil, err
		}
		for k, v := range data {
			objs.Put("Secret", name, k, v)
		}
	}
	return objs, nil
}

func valuesKey(ref configsv1.ValuesReference) string {
	if ref.Key == "" {
		return inputs.DefaultValuesKey
	}
	return ref.Key
}

// decryptionKeys reads the key files, named as a decryption Secret's keys
// are (.agekey, .asc).
func (o *renderOptions) decryptionKeys() (map[string][]byte, error) {
	keys := map[string][]byte{}
	for _, kf := range []struct {
		files  []string
		suffix string
	}{{o.ageKeys, ".agekey"}, {o.pgpKeys, ".asc"}} {
		for i, f := range kf.files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			keys[fmt.Sprintf("%d%s", i, kf.suffix)] = data
		}
	}
	return keys, nil
}

// checkoutHead is the ref and commit a local source folder is checked out
// at, as the operator's templates would see them; empty outside a Git
// checkout.
func checkoutHead(dir string) (ref, commit string) {
	repo, err := git.PlainOpen(dir)
	if err != nil {
		return "", ""
	}
	head, err := repo.Head()
	if err != nil {
		return "", ""
	}
	if head.Name().IsBranch() || head.Name().IsTag() {
		ref = head.Name().String()
	}
	return ref, head.Hash().String()
}

func writeTree(dir string, tree filetree.Tree) error {
	for _, name := range tree.Paths() {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, tree[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}

func cmdContext() context.Context { return context.Background() }

// readManifest decodes the YAML manifest in file into obj.
func readManifest(file string, obj any, unmarshal func([]byte, any, ...yaml.JSONOpt) error) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if err := unmarshal(data, obj); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// secretData reads a Secret manifest's data and stringData.
func secretData(name, file string) (map[string][]byte, error) {
	secret := &corev1.Secret{}
	if err := readManifest(file, secret, yaml.Unmarshal); err != nil {
		return nil, fmt.Errorf("--chart-secret %s: %w", name, err)
	}
	data := map[string][]byte{}
	for k, v := range secret.Data {
		data[k] = v
	}
	for k, v := range secret.StringData {
		data[k] = []byte(v)
	}
	return data, nil
}

// printCharts says which remote charts a render pinned, as YAML comments
// so that the output stays a valid stream of objects.
func printCharts(w io.Writer, pins []configsv1.PinnedChart) {
	for _, p := range pins {
		step := fmt.Sprintf("step %d", p.Step)
		if p.Dependency != "" {
			step += ", dependency " + p.Dependency
		}
		fmt.Fprintf(w, "# chart (%s): %s %s %s from %s\n", step, p.Name, p.Version, p.Digest, p.RepoURL)
	}
}

// chartSecrets reads a helm step's Secrets from --chart-secret, and names
// the flag when one is missing.
type chartSecrets struct{ objs inputs.Objects }

func (c chartSecrets) Read(ctx context.Context, ref inputs.Ref) (map[string][]byte, error) {
	data, err := c.objs.Read(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("pass --chart-secret %s=FILE (a Secret manifest)", ref.Name)
	}
	return data, nil
}
