package source

import (
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage/memory"
)

// DefaultMaxBytes bounds the objects one fetch may download (uncompressed)
// when a GitFetcher sets no limit.
const DefaultMaxBytes int64 = 512 << 20

var errTooLarge = errors.New("repository too large")

// limitedStorage is go-git's in-memory storage with a byte budget: the
// packfile parser stores objects one by one, so a repository larger than the
// budget stops the clone there instead of exhausting the operator's memory.
// It works the same for HTTP and SSH.
type limitedStorage struct {
	*memory.Storage
	max, left int64
}

func newLimitedStorage(max int64) *limitedStorage {
	return &limitedStorage{Storage: memory.NewStorage(), max: max, left: max}
}

func (s *limitedStorage) SetEncodedObject(obj plumbing.EncodedObject) (plumbing.Hash, error) {
	s.left -= obj.Size()
	if s.left < 0 {
		return plumbing.ZeroHash, fmt.Errorf("the fetched objects exceed %d bytes: %w", s.max, errTooLarge)
	}
	return s.Storage.SetEncodedObject(obj)
}
