package source

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// The source's metrics, served on the manager's metrics endpoint.
var (
	// FetchDuration times fetches, ref listing included.
	FetchDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "configsync_source_fetch_duration_seconds",
		Help:    "Duration of Git fetches (listing refs included), by repository host and result (Success or a failure reason).",
		Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"host", "result"})

	// ArtifactLookups counts cache hits (commit already cached) and misses.
	ArtifactLookups = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "configsync_source_artifact_cache_total",
		Help: "Artifact cache lookups after listing the remote's refs, by repository host and result (hit or miss).",
	}, []string{"host", "result"})

	// Downloads counts the downloads a cache miss caused, by kind: a fresh
	// clone, or an update of the repository's last clone with the new
	// objects only.
	Downloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "configsync_source_downloads_total",
		Help: "Git downloads, by repository host and kind (clone: everything; update: only the objects the last download lacked).",
	}, []string{"host", "kind"})
)

func init() {
	ctrlmetrics.Registry.MustRegister(FetchDuration, ArtifactLookups, Downloads)
}
