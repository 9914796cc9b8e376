package receiver

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// SecretKey is the key of a receiver's Secret that holds the shared token.
// A key SecretKey + "." + provider ("token.github") holds a token of that
// provider's own, which it then must use: GitLab sends its token in clear in
// a header, and a token seen there must not sign GitHub's or the generic
// provider's deliveries.
const SecretKey = "token"

// NamespaceSecretName is the Secret of a namespace whose token signs the
// deliveries to that namespace's endpoint, /hooks/<provider>/<namespace>.
const NamespaceSecretName = "configsync-webhook"

// tokenFor is the token provider's deliveries must be signed with.
func tokenFor(data map[string][]byte, provider string) []byte {
	if own := data[SecretKey+"."+provider]; len(own) > 0 {
		return own
	}
	return data[SecretKey]
}

// SecretFromCluster reads the tokens from a Secret. The Handler calls it at
// most once per SecretTTL (30 s by default), so a rotated token takes
// effect within that and unauthenticated requests cost no read each.
// reader should not cache Secrets (no informer on every Secret).
func SecretFromCluster(reader client.Reader, key client.ObjectKey) SecretFunc {
	return func(ctx context.Context) (map[string][]byte, error) {
		s := &corev1.Secret{}
		if err := reader.Get(ctx, key, s); err != nil {
			return nil, fmt.Errorf("read webhook Secret %s: %w", key, err)
		}
		return s.Data, nil
	}
}
