package main

import (
	"reflect"
	"testing"
	"time"

	"github.com/configsync/configsync/charts"
)

// The chart flags become the one fetcher's options: the allowlist split
// and trimmed, remote charts off when the admin says so.
func TestChartOptionsFromFlags(t *testing.T) {
	c := config{helmRemoteCharts: true, helmAllowedHosts: " charts.example.com, registry.example.com:5000 ,,",
		charts: charts.Options{MaxChartBytes: 1 << 20, IndexTTL: time.Minute}}
	got := chartOptions(c)
	want := charts.Options{AllowedHosts: []string{"charts.example.com", "registry.example.com:5000"}, MaxChartBytes: 1 << 20, IndexTTL: time.Minute}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	c.helmRemoteCharts, c.helmAllowedHosts = false, ""
	if got := chartOptions(c); !got.Disabled || got.AllowedHosts != nil {
		t.Errorf("--helm-remote-charts=false: got %+v", got)
	}
	// Without an allowlist, the operator's own addresses are refused.
	c.helmRemoteCharts = true
	if got := chartOptions(c); !got.RefuseLocalAddresses {
		t.Errorf("no --helm-allowed-hosts: got %+v, want local addresses refused", got)
	}
}
