package source

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage/memory"
)

// DefaultMaxBytes bounds the objects one fetch may download (uncompressed)
// when a GitFetcher sets no limit. A fetch holds its objects and then the
// commit's snapshot, up to twice this, while it runs; --concurrent (4)
// ConfigSyncs on different repositories fetch at once, beside the artifact
// cache (128 MiB). 64 MiB keeps two fetches at their bound (256 MiB) and
// the cache inside the manager's 512 MiB memory limit with 128 MiB for
// renders. It was 512 MiB, the whole limit: one tenant's repository could
// take the manager down. A commit of a config repository is rarely over a
// few MiB; raise the flag with the memory limit for larger ones.
const DefaultMaxBytes int64 = 64 << 20

// maxSnapshotEntries bounds the files and folders of one commit's snapshot:
// each costs a map entry and a node beside its bytes, so a commit of
// millions of empty files would exhaust memory within the byte limit. Real
// monorepositories stay far below (the Linux kernel: about 90,000).
var maxSnapshotEntries = 500_000

// maxMessageBytes bounds the part of a fetch error a message quotes: go-git
// puts a server's whole error page (401/403/404 bodies) in its errors, and
// the message goes to status, Events and logs.
const maxMessageBytes = 1024

// truncateMessage cuts msg to max bytes on a rune boundary, saying so.
func truncateMessage(msg string, max int) string {
	if len(msg) <= max {
		return msg
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + fmt.Sprintf("… (%d more bytes)", len(msg)-cut)
}

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
