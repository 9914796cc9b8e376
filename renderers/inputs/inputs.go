// Package inputs resolves what a ConfigSync's render steps need besides the
// source tree: valuesFrom maps, sops decryption keys, the cluster's
// capabilities, and remote Helm charts. Renderers never touch the cluster or
// the network; whoever renders (the reconciler as the ConfigSync's
// identity, the CLI from local files, the golden tests from case files)
// reads the objects the spec names through a Reader, and this package turns
// them into renderers.Inputs the same way for all of them.
package inputs

import (
	"context"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/renderers"
)

// Ref names an object of the ConfigSync's namespace that its spec points at.
type Ref struct {
	// Field is the spec field naming it ("valuesFrom",
	// "decryptionSecretRef", "authSecretRef", "keyringSecretRef"), for
	// messages.
	Field string
	// Kind is "ConfigMap" or "Secret".
	Kind string
	Name string
	// Key is the key asked for, when one is.
	Key string
}

func (r Ref) String() string { return r.Kind + "/" + r.Name }

// Reader reads the data of a ConfigMap (data and binaryData) or a Secret
// that the spec names. The returned map holds at least ref.Key when the
// object has it. A missing object is an error apierrors.IsNotFound
// recognises.
type Reader interface {
	Read(ctx context.Context, ref Ref) (map[string][]byte, error)
}

// Objects is a Reader over objects held in memory, by "Kind/name": what
// renders without a cluster (the CLI, tests) pass.
type Objects map[string]map[string][]byte

// Read returns the object's data, or NotFound.
func (o Objects) Read(_ context.Context, ref Ref) (map[string][]byte, error) {
	data, ok := o[ref.String()]
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: strings.ToLower(ref.Kind) + "s"}, ref.Name)
	}
	return data, nil
}

// Put adds key=value to the object kind/name.
func (o Objects) Put(kind, name, key string, value []byte) {
	ref := Ref{Kind: kind, Name: name}.String()
	if o[ref] == nil {
		o[ref] = map[string][]byte{}
	}
	o[ref][key] = value
}

// DefaultValuesKey is the key valuesFrom reads when it names none.
const DefaultValuesKey = "values.yaml"

// Options are what the resolving side knows of its own.
type Options struct {
	// AllowCloudKMS lets sops steps decrypt with cloud KMS and Vault keys
	// through the process's ambient credentials.
	AllowCloudKMS bool
	// Capabilities are the cluster's version and API groups, for helm
	// steps; nil leaves Helm's defaults.
	Capabilities func() (kubeVersion string, apiVersions []string)
}

// Resolve reads what steps need through rd: each template step's
// valuesFrom, each sops step's decryption keys, and for helm steps the
// cluster's capabilities. Errors name the step (counted from 1); rd's own
// errors are wrapped, so a caller can still tell them apart.
func Resolve(ctx context.Context, namespace string, steps []configsv1.RenderStep, rd Reader, opts Options) (renderers.Inputs, error) {
	in := renderers.Inputs{Namespace: namespace, Steps: map[int]renderers.StepInputs{}, AllowCloudKMS: opts.AllowCloudKMS}
	for i, step := range steps {
		var own renderers.StepInputs
		var err error
		switch {
		case step.Template != nil:
			own.ValuesFrom, err = valuesFrom(ctx, rd, step.Template.ValuesFrom)
		case step.Sops != nil:
			own.AgeIdentities, own.PGPKeys, err = sopsKeys(ctx, rd, step.Sops.DecryptionSecretRef.Name)
		case step.Helm != nil && in.KubeVersion == "" && opts.Capabilities != nil:
			in.KubeVersion, in.APIVersions = opts.Capabilities()
		}
		if err != nil {
			return in, fmt.Errorf("%s: %w", renderers.StepName(i, step), err)
		}
		in.Steps[i] = own
	}
	return in, nil
}

func valuesFrom(ctx context.Context, rd Reader, refs []configsv1.ValuesReference) ([]map[string]any, error) {
	var out []map[string]any
	for _, vr := range refs {
		ref := Ref{Field: "valuesFrom", Kind: vr.Kind, Name: vr.Name, Key: vr.Key}
		if ref.Key == "" {
			ref.Key = DefaultValuesKey
		}
		data, err := rd.Read(ctx, ref)
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
		raw, found := data[ref.Key]
		if !found {
			if vr.Optional {
				continue
			}
			return nil, fmt.Errorf("valuesFrom %s %s: key %q not found", ref.Kind, ref.Name, ref.Key)
		}
		values := map[string]any{}
		if err := yaml.Unmarshal(raw, &values); err != nil {
			// The parser's message may quote the content: say where, not what.
			return nil, fmt.Errorf("valuesFrom %s %s key %q is not a YAML map", ref.Kind, ref.Name, ref.Key)
		}
		out = append(out, values)
	}
	return out, nil
}

// sopsKeys reads a decryption Secret: keys ending in .agekey hold age
// identities, keys ending in .asc armored PGP private keys (Flux's convention).
func sopsKeys(ctx context.Context, rd Reader, name string) ([]string, [][]byte, error) {
	data, err := rd.Read(ctx, Ref{Field: "decryptionSecretRef", Kind: "Secret", Name: name})
	if apierrors.IsNotFound(err) {
		return nil, nil, fmt.Errorf("decryption Secret %s not found", name)
	}
	if err != nil {
		return nil, nil, err
	}
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var age []string
	var pgp [][]byte
	for _, k := range keys {
		switch {
		case strings.HasSuffix(k, ".agekey"):
			age = append(age, string(data[k]))
		case strings.HasSuffix(k, ".asc"):
			pgp = append(pgp, data[k])
		}
	}
	if len(age) == 0 && len(pgp) == 0 {
		return nil, nil, fmt.Errorf("decryption Secret %s has no key ending in .agekey or .asc", name)
	}
	return age, pgp, nil
}
