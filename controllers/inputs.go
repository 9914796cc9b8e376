package controllers

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/renderers"
)

// DefaultValuesKey is the key valuesFrom reads when it names none.
const DefaultValuesKey = "values.yaml"

// renderInputs reads what the render steps need from the cluster: valuesFrom
// ConfigMaps and Secrets, and sops decryption keys. Renderers never touch
// the cluster themselves. They are read as the ConfigSync's ServiceAccount
// when it has one (readInput), straight from the apiserver, so the manager
// never caches every Secret of the cluster.
func (r *ConfigSyncReconciler) renderInputs(ctx context.Context, cs *configsv1.ConfigSync) (renderers.Inputs, error) {
	in := renderers.Inputs{Namespace: cs.Namespace, Steps: map[int]renderers.StepInputs{}, AllowCloudKMS: r.opts.SopsAllowCloudKMS}
	for i, step := range cs.Spec.Render {
		var own renderers.StepInputs
		var err error
		switch {
		case step.Template != nil:
			own.ValuesFrom, err = r.valuesFrom(ctx, cs, step.Template.ValuesFrom)
		case step.Sops != nil:
			own.AgeIdentities, own.PGPKeys, err = r.sopsKeys(ctx, cs, step.Sops.DecryptionSecretRef.Name)
		case step.Helm != nil && in.KubeVersion == "":
			in.KubeVersion, in.APIVersions = r.capabilities.get()
		}
		if err != nil {
			return in, fmt.Errorf("render step %d (%s): %w", i+1, renderers.KindOf(step), err)
		}
		in.Steps[i] = own
	}
	return in, nil
}

func (r *ConfigSyncReconciler) valuesFrom(ctx context.Context, cs *configsv1.ConfigSync, refs []configsv1.ValuesReference) ([]map[string]any, error) {
	var out []map[string]any
	for _, ref := range refs {
		key := ref.Key
		if key == "" {
			key = DefaultValuesKey
		}
		data, found, err := r.readKey(ctx, cs, ref.Kind, client.ObjectKey{Namespace: cs.Namespace, Name: ref.Name}, key)
		if err != nil {
			return nil, err
		}
		if !found {
			if ref.Optional {
				continue
			}
			return nil, fmt.Errorf("valuesFrom %s %s: key %q not found", ref.Kind, ref.Name, key)
		}
		values := map[string]any{}
		if err := yaml.Unmarshal(data, &values); err != nil {
			// The parser's message may quote the content: say where, not what.
			return nil, fmt.Errorf("valuesFrom %s %s key %q is not a YAML map", ref.Kind, ref.Name, key)
		}
		out = append(out, values)
	}
	return out, nil
}

// readKey reads one key of a ConfigMap or Secret, as cs's identity (see
// readInput); found is false when the object or the key does not exist.
func (r *ConfigSyncReconciler) readKey(ctx context.Context, cs *configsv1.ConfigSync, kind string, key client.ObjectKey, k string) ([]byte, bool, error) {
	switch kind {
	case "Secret":
		s := &corev1.Secret{}
		if err := r.readInput(ctx, cs, "valuesFrom", "Secret", key, s); err != nil {
			return nil, false, client.IgnoreNotFound(err)
		}
		v, ok := s.Data[k]
		return v, ok, nil
	default:
		cm := &corev1.ConfigMap{}
		if err := r.readInput(ctx, cs, "valuesFrom", "ConfigMap", key, cm); err != nil {
			return nil, false, client.IgnoreNotFound(err)
		}
		if v, ok := cm.Data[k]; ok {
			return []byte(v), true, nil
		}
		v, ok := cm.BinaryData[k]
		return v, ok, nil
	}
}

// sopsKeys reads a decryption Secret: keys ending in .agekey hold age
// identities, keys ending in .asc armored PGP private keys (Flux's convention).
func (r *ConfigSyncReconciler) sopsKeys(ctx context.Context, cs *configsv1.ConfigSync, name string) ([]string, [][]byte, error) {
	s := &corev1.Secret{}
	if err := r.readInput(ctx, cs, "decryptionSecretRef", "Secret", client.ObjectKey{Namespace: cs.Namespace, Name: name}, s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, fmt.Errorf("decryption Secret %s not found", name)
		}
		return nil, nil, err
	}
	keys := make([]string, 0, len(s.Data))
	for k := range s.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var age []string
	var pgp [][]byte
	for _, k := range keys {
		switch {
		case strings.HasSuffix(k, ".agekey"):
			age = append(age, string(s.Data[k]))
		case strings.HasSuffix(k, ".asc"):
			pgp = append(pgp, s.Data[k])
		}
	}
	if len(age) == 0 && len(pgp) == 0 {
		return nil, nil, fmt.Errorf("decryption Secret %s has no key ending in .agekey or .asc", name)
	}
	return age, pgp, nil
}
