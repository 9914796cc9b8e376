package control

import (
	"bytes"
	"strings"
	"testing"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
)

// The history names the chart versions each entry rendered, so a user picks
// a rollback target by chart version too; without remote charts the table
// is as before.
func TestPrintHistoryNamesTheCharts(t *testing.T) {
	cs := &configsv1.ConfigSync{Status: configsv1.ConfigSyncStatus{
		SourceRevision: "0123456789abcdef0123456789abcdef01234567",
		History: []configsv1.HistoryEntry{
			{Revision: "0123456789abcdef0123456789abcdef01234567", Result: configsv1.HistorySucceeded, Charts: []configsv1.PinnedChart{
				{Step: 1, Name: "app", Version: "1.2.0"}, {Step: 2, Dependency: "cache", Name: "redis", Version: "19.0.1"}}},
			{Revision: "0123456789abcdef0123456789abcdef01234567", Result: configsv1.HistorySucceeded, Charts: []configsv1.PinnedChart{
				{Step: 1, Name: "app", Version: "1.1.0"}, {Step: 2, Dependency: "cache", Name: "redis", Version: "19.0.1"}}},
		},
	}}
	var out bytes.Buffer
	if err := PrintHistory(&out, cs); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasSuffix(lines[0], "CHARTS") ||
		!strings.HasSuffix(lines[1], "app@1.2.0,cache=redis@19.0.1") || !strings.HasSuffix(lines[2], "app@1.1.0,cache=redis@19.0.1") {
		t.Errorf("history:\n%s", out.String())
	}

	cs.Status.History[0].Charts, cs.Status.History[1].Charts = nil, nil
	out.Reset()
	if err := PrintHistory(&out, cs); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "CHARTS") {
		t.Errorf("a history without remote charts has a CHARTS column:\n%s", out.String())
	}
}
