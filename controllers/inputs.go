package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/renderers/inputs"
	"github.com/configsync/configsync/source"
)

// specReader reads what cs's render steps and source name (valuesFrom,
// sops keys, chart credentials and keyrings, the Git credentials) as cs's
// identity (readInput), straight from the apiserver, so the manager never
// caches every Secret of the cluster. (The kubeconfig Secret goes through
// readInput too, in applierFor.)
type specReader struct {
	r  *ConfigSyncReconciler
	cs *configsv1.ConfigSync
}

func (r *ConfigSyncReconciler) specReader(cs *configsv1.ConfigSync) specReader {
	return specReader{r: r, cs: cs}
}

// Read returns the data of a ConfigMap (data and binaryData) or a Secret.
func (s specReader) Read(ctx context.Context, ref inputs.Ref) (map[string][]byte, error) {
	key := client.ObjectKey{Namespace: s.cs.Namespace, Name: ref.Name}
	if ref.Kind == "Secret" {
		secret := &corev1.Secret{}
		if err := s.r.readInput(ctx, s.cs, ref.Field, ref.Kind, key, secret); err != nil {
			return nil, err
		}
		return secret.Data, nil
	}
	cm := &corev1.ConfigMap{}
	if err := s.r.readInput(ctx, s.cs, ref.Field, "ConfigMap", key, cm); err != nil {
		return nil, err
	}
	data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	for k, v := range cm.Data {
		data[k] = []byte(v) // data wins, as it did when read first
	}
	return data, nil
}

// gitAuth reads the source's credentials Secret as cs's identity.
func (r *ConfigSyncReconciler) gitAuth(ctx context.Context, cs *configsv1.ConfigSync) (*source.Auth, error) {
	git := cs.Spec.Source.Git
	if !git.NeedsAuth() {
		return nil, nil
	}
	if git.AuthSecretRef == nil {
		return nil, configErr(configsv1.ReasonAuthenticationFailed, fmt.Errorf("authMethod %s needs authSecretRef", git.AuthMethod))
	}
	data, err := r.specReader(cs).Read(ctx, inputs.Ref{Field: "authSecretRef", Kind: "Secret", Name: git.AuthSecretRef.Name})
	if hasStageReason(err) {
		return nil, err // AccessDenied
	}
	if err != nil {
		// A Secret created after the ConfigSync is picked up by the retry.
		return nil, transientErr(configsv1.ReasonAuthenticationFailed, fmt.Errorf("read auth Secret %s/%s: %w", cs.Namespace, git.AuthSecretRef.Name, err))
	}
	auth, err := source.AuthFromSecret(source.Method(git.AuthMethod), data, git.InsecureSkipHostKeyVerification)
	if err != nil {
		return nil, configErr(configsv1.ReasonAuthenticationFailed, fmt.Errorf("auth Secret %s/%s: %w", cs.Namespace, git.AuthSecretRef.Name, err))
	}
	return auth, nil
}
