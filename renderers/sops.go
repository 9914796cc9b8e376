package renderers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	"github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/cmd/sops/common"
	"github.com/getsops/sops/v3/cmd/sops/formats"
	sopsconfig "github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/keyservice"
	"google.golang.org/grpc"

	"github.com/configsync/configsync/internal/filetree"
)

// Sops decrypts every SOPS-encrypted file of the tree in place, as
// `sops -d` does, with the age identities and armored PGP private keys it is
// given: keys never come from the operator's environment or a keyring on
// disk. Files that are not SOPS-encrypted pass through.
//
// Other key types (AWS KMS, GCP KMS, Azure Key Vault, HashiCorp Vault,
// HuaweiCloud KMS) would decrypt with the operator's own ambient identity
// (its pod's cloud credentials, VAULT_TOKEN, network position), which a
// tenant must not borrow: they are never tried unless AllowCloudKMS is set.
type Sops struct {
	AgeIdentities []string
	PGPKeys       [][]byte
	// AllowCloudKMS lets key groups of cloud KMS and Vault keys decrypt
	// through sops' own key service, with the operator's ambient
	// credentials. Off by default; the cluster admin turns it on
	// (Inputs.AllowCloudKMS, from a manager flag).
	AllowCloudKMS bool
}

// Render decrypts the tree.
func (s *Sops) Render(ctx context.Context, in filetree.Tree) (filetree.Tree, error) {
	keys, err := s.keyService()
	if err != nil {
		return nil, err
	}
	return eachFile(ctx, in, func(name string, data []byte) ([]byte, bool, error) {
		keys.failures = nil
		plain, err := decryptFile(name, data, keys)
		if err != nil {
			// Name the file, never its content.
			return nil, false, fmt.Errorf("decrypt %s: %w", name, err)
		}
		return plain, true, nil
	})
}

func (s *Sops) keyService() (*memoryKeyService, error) {
	ks := &memoryKeyService{allowCloudKMS: s.AllowCloudKMS}
	for i, id := range s.AgeIdentities {
		if err := ks.age.Import(strings.TrimSpace(id)); err != nil {
			return nil, fmt.Errorf("age identity %d: %w", i+1, err)
		}
	}
	for i, armored := range s.PGPKeys {
		ring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armored))
		if err != nil {
			return nil, fmt.Errorf("PGP key %d: %w", i+1, err)
		}
		ks.pgp = append(ks.pgp, ring...)
	}
	return ks, nil
}

// decryptFile returns data decrypted, or unchanged when it carries no SOPS metadata.
func decryptFile(name string, data []byte, keys *memoryKeyService) ([]byte, error) {
	if !bytes.Contains(data, []byte("sops")) || !bytes.Contains(data, []byte("mac")) {
		return data, nil // cheap test first: every SOPS file holds both words
	}
	store := common.StoreForFormat(formats.FormatForPath(name), sopsconfig.NewStoresConfig())
	tree, err := store.LoadEncryptedFile(data)
	if errors.Is(err, sops.MetadataNotFound) {
		return data, nil
	}
	if err != nil {
		if formats.FormatForPath(name) == formats.Binary {
			return data, nil // an arbitrary file that happens to hold both words
		}
		return nil, fmt.Errorf("read SOPS metadata: %w", err)
	}
	if _, err := common.DecryptTree(common.DecryptTreeOpts{
		Tree:        &tree,
		KeyServices: []keyservice.KeyServiceClient{keys},
		Cipher:      aes.NewCipher(),
	}); err != nil {
		if len(keys.failures) > 0 && len(tree.Metadata.KeyGroups) == 1 {
			// One line naming each key and why it failed, rather than sops'
			// multi-line report for a terminal.
			return nil, fmt.Errorf("no key decrypts the data key: %w", keys.failures)
		}
		if len(keys.failures) > 0 {
			return nil, fmt.Errorf("%w: %w", err, keys.failures)
		}
		return nil, err
	}
	plain, err := store.EmitPlainFile(tree.Branches)
	if err != nil {
		return nil, fmt.Errorf("write plain file: %w", err)
	}
	return plain, nil
}

// memoryKeyService decrypts SOPS data keys with age and PGP keys held in
// memory. Other key types (cloud KMS, Vault) are refused, without a request,
// unless allowCloudKMS sends them to sops' own local key service, which uses
// the pod's ambient credentials. failures records why each key failed, for
// the file's error.
type memoryKeyService struct {
	age           age.ParsedIdentities
	pgp           openpgp.EntityList
	allowCloudKMS bool
	failures      keyFailures
}

// keyFailures are the reasons each key of a file failed, in the order tried.
type keyFailures []error

func (k keyFailures) Error() string {
	msgs := make([]string, len(k))
	for i, err := range k {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (k keyFailures) Unwrap() []error { return k }

// ErrCloudKMSDisabled is wrapped by the error of a file no age or PGP key
// could decrypt when it also has cloud KMS or Vault keys, which were not tried.
var ErrCloudKMSDisabled = errors.New("cloud KMS and Vault keys are not used: they would decrypt with the operator's own cloud identity and credentials, not the tenant's; the cluster admin allows them with the sops step's AllowCloudKMS option (a manager flag)")

var _ keyservice.KeyServiceClient = (*memoryKeyService)(nil)

func (m *memoryKeyService) Decrypt(ctx context.Context, req *keyservice.DecryptRequest, opts ...grpc.CallOption) (*keyservice.DecryptResponse, error) {
	resp, err := m.decrypt(ctx, req)
	if err != nil {
		m.failures = append(m.failures, fmt.Errorf("%s: %w", describeKey(req.Key), err))
	}
	return resp, err
}

func (m *memoryKeyService) decrypt(ctx context.Context, req *keyservice.DecryptRequest) (*keyservice.DecryptResponse, error) {
	switch k := req.Key.KeyType.(type) {
	case *keyservice.Key_AgeKey:
		if len(m.age) == 0 {
			return nil, errors.New("no age identity was provided")
		}
		mk := &age.MasterKey{Recipient: k.AgeKey.Recipient, EncryptedKey: string(req.Ciphertext)}
		m.age.ApplyToMasterKey(mk)
		plain, err := mk.Decrypt()
		if err != nil {
			return nil, err
		}
		return &keyservice.DecryptResponse{Plaintext: plain}, nil
	case *keyservice.Key_PgpKey:
		plain, err := m.decryptPGP(req.Ciphertext)
		if err != nil {
			return nil, fmt.Errorf("PGP key %s: %w", k.PgpKey.Fingerprint, err)
		}
		return &keyservice.DecryptResponse{Plaintext: plain}, nil
	default:
		if !m.allowCloudKMS {
			return nil, ErrCloudKMSDisabled
		}
		return keyservice.Server{}.Decrypt(ctx, req)
	}
}

// describeKey names a key as sops' metadata does, without secret material.
func describeKey(k *keyservice.Key) string {
	switch t := k.KeyType.(type) {
	case *keyservice.Key_AgeKey:
		return "age key " + t.AgeKey.Recipient
	case *keyservice.Key_PgpKey:
		return "PGP key " + t.PgpKey.Fingerprint
	case *keyservice.Key_KmsKey:
		return "AWS KMS key " + t.KmsKey.Arn
	case *keyservice.Key_GcpKmsKey:
		return "GCP KMS key " + t.GcpKmsKey.ResourceId
	case *keyservice.Key_AzureKeyvaultKey:
		return "Azure Key Vault key " + t.AzureKeyvaultKey.VaultUrl + "/keys/" + t.AzureKeyvaultKey.Name
	case *keyservice.Key_VaultKey:
		return "HashiCorp Vault key " + t.VaultKey.VaultAddress + "/v1/" + t.VaultKey.EnginePath + "/keys/" + t.VaultKey.KeyName
	case *keyservice.Key_HckmsKey:
		return "HuaweiCloud KMS key " + t.HckmsKey.KeyId
	}
	return fmt.Sprintf("key %T", k.KeyType)
}

func (m *memoryKeyService) decryptPGP(ciphertext []byte) ([]byte, error) {
	if len(m.pgp) == 0 {
		return nil, errors.New("no PGP key was provided")
	}
	block, err := armor.Decode(bytes.NewReader(ciphertext))
	if err != nil {
		return nil, fmt.Errorf("read armored data key: %w", err)
	}
	md, err := openpgp.ReadMessage(block.Body, m.pgp, nil, nil)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(md.UnverifiedBody)
}

func (m *memoryKeyService) Encrypt(context.Context, *keyservice.EncryptRequest, ...grpc.CallOption) (*keyservice.EncryptResponse, error) {
	return nil, errors.New("the sops render step only decrypts")
}
