package source

// ListingWaiters tells how many fetches of url (without credentials) wait
// for a ref listing that another fetch runs, so that tests wait for them
// to arrive instead of sleeping.
func (f *GitFetcher) ListingWaiters(url string) int { return f.listings.waiters(cacheKey(url, nil)) }

// SetMaxSnapshotEntries lowers the snapshot's entry bound for a test.
func SetMaxSnapshotEntries(n int) (restore func()) {
	old := maxSnapshotEntries
	maxSnapshotEntries = n
	return func() { maxSnapshotEntries = old }
}

// TruncateMessage exposes truncateMessage.
var TruncateMessage = truncateMessage
