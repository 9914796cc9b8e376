package source

import (
	"context"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
)

// branchChecks remembers which commits were found on which branch head, so
// that a ConfigSync setting both branch and revision clones the branch's
// history once per new branch head, not at every sync.
type branchChecks struct {
	mu   sync.Mutex
	seen map[string]string // key/branch head/revision → commit
}

// maxBranchChecks bounds the memory of branchChecks; past it, it starts over.
const maxBranchChecks = 4096

func (b *branchChecks) get(id string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seen[id]
}

func (b *branchChecks) put(id, commit string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seen == nil || len(b.seen) >= maxBranchChecks {
		b.seen = map[string]string{}
	}
	b.seen[id] = commit
}

// onBranch returns the commit that revision names, once it is known to be
// on t.onBranch: the branch's head or one of its ancestors, as `git
// merge-base --is-ancestor` would say. Only the branch's history can tell, so
// the branch is cloned with history, within the download size limit.
func (f *GitFetcher) onBranch(ctx context.Context, key string, c conn, t target, revision string) (string, error) {
	id := key + "/" + t.branchHead + "/" + revision
	if commit := f.branches.get(id); commit != "" {
		return commit, nil
	}
	commit, err, _ := f.group.Do("branch/"+id, func() (any, error) {
		max := f.MaxBytes
		if max <= 0 {
			max = DefaultMaxBytes
		}
		repo, err := clone(ctx, c, target{}, newLimitedStorage(max))
		if err != nil {
			return "", err
		}
		Downloads.WithLabelValues(Host(c.url), "clone").Inc()
		want := t.commit
		if want == "" {
			want = revision
		}
		commit, err := commitOf(repo, want)
		if err != nil {
			return "", err
		}
		head, err := repo.CommitObject(plumbing.NewHash(t.branchHead))
		if err != nil {
			return "", fail(ReasonRevisionNotFound, "branch %s: %w", t.onBranch.Short(), err)
		}
		if commit.Hash != head.Hash {
			if ok, err := commit.IsAncestor(head); err != nil || !ok {
				return "", fail(ReasonRevisionNotFound, "revision %q (%.12s) is not on branch %q", revision, commit.Hash, t.onBranch.Short())
			}
		}
		f.branches.put(id, commit.Hash.String())
		return commit.Hash.String(), nil
	})
	if err != nil {
		return "", err
	}
	return commit.(string), nil
}
