package receiver

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// SecretKey is the key of the receiver's Secret that holds the shared token.
const SecretKey = "token"

// SecretFromCluster reads the shared token from a Secret. The Handler calls
// it at most once per SecretTTL (30 s by default), so a rotated token takes
// effect within that and unauthenticated requests cost no read each.
// reader should not cache Secrets (no informer on every Secret).
func SecretFromCluster(reader client.Reader, key client.ObjectKey) SecretFunc {
	return func(ctx context.Context) ([]byte, error) {
		s := &corev1.Secret{}
		if err := reader.Get(ctx, key, s); err != nil {
			return nil, fmt.Errorf("read webhook Secret %s: %w", key, err)
		}
		token := s.Data[SecretKey]
		if len(token) == 0 {
			return nil, fmt.Errorf("webhook Secret %s has no %q key", key, SecretKey)
		}
		return token, nil
	}
}
