package charts

import (
	"fmt"
	"testing"
	"time"

	"github.com/configsync/configsync/internal/failure"
)

// A tenant naming many repositories (or many spellings of one) with large
// indexes grows the kept indexes only to the bound: a review grew the
// manager's heap by 198 MiB with 40 spellings of one 4 MiB index.
func TestKeptIndexesAreBounded(t *testing.T) {
	c := newTTLCache(time.Hour)
	for i := range 100 {
		c.put(fmt.Sprint("index|", i), i, 4<<20)
	}
	if c.cur > c.maxBytes {
		t.Fatalf("%d MiB kept, bound %d MiB", c.cur>>20, c.maxBytes>>20)
	}
	if len(c.entries) != int(c.maxBytes/(4<<20)) {
		t.Errorf("%d indexes kept, want %d", len(c.entries), c.maxBytes/(4<<20))
	}
	if _, ok := c.get("index|99"); !ok {
		t.Error("the newest index was evicted")
	}
	if _, ok := c.get("index|0"); ok {
		t.Error("the oldest index was kept past the bound")
	}
}

// The spellings themselves are refused: a query or fragment in repoURL.
func TestRepoURLQueriesAreRefused(t *testing.T) {
	f := New(Options{})
	for _, u := range []string{"https://charts.example.com/?n=1", "https://charts.example.com/#x", "https://charts.example.com/?"} {
		if _, err := f.admit(u, "app"); failure.ReasonOf(err) != ReasonChartInvalid {
			t.Errorf("%s: %v, want %s", u, err, ReasonChartInvalid)
		}
	}
}
