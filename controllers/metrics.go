package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/apply"
)

// The reconciler's metrics, served on the manager's metrics endpoint beside
// controller-runtime's own. Labels never carry secrets: only names,
// namespaces, phases and reasons.
var (
	reconcileDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "configsync_reconcile_duration_seconds",
		Help:    "Duration of ConfigSync reconciles, by result (Succeeded, RolledBack or the failure reason).",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
	}, []string{"result"})

	phaseDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "configsync_phase_duration_seconds",
		Help:    "Duration of each reconcile phase: fetch, render, decode, apply, prune, health.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
	}, []string{"phase"})

	objectsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "configsync_objects_total",
		Help: "Objects handled by syncs, by action: created, configured, unchanged, pruned.",
	}, []string{"action"})

	conditionGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "configsync_condition",
		Help: "1 for the current status of a ConfigSync's Ready condition (True, False, Unknown), 0 for the others.",
	}, []string{"namespace", "name", "type", "status"})

	lastSyncTimestamp = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "configsync_last_sync_timestamp_seconds",
		Help: "Unix time of a ConfigSync's last successful sync.",
	}, []string{"namespace", "name"})
)

func init() {
	ctrlmetrics.Registry.MustRegister(reconcileDuration, phaseDuration, objectsTotal, conditionGauge, lastSyncTimestamp)
}

// recordConditionMetric sets the Ready gauge of cs.
func recordConditionMetric(cs *configsv1.ConfigSync, status string) {
	for _, s := range []string{"True", "False", "Unknown"} {
		v := 0.0
		if s == status {
			v = 1
		}
		conditionGauge.WithLabelValues(cs.Namespace, cs.Name, configsv1.ConditionReady, s).Set(v)
	}
}

// forgetMetrics drops the per-ConfigSync series of a deleted ConfigSync.
func forgetMetrics(namespace, name string) {
	conditionGauge.DeletePartialMatch(prometheus.Labels{"namespace": namespace, "name": name})
	lastSyncTimestamp.DeleteLabelValues(namespace, name)
}

func countObjects(changes apply.ChangeSet) {
	for _, c := range changes {
		switch c.Action {
		case apply.Created:
			objectsTotal.WithLabelValues("created").Inc()
		case apply.Configured:
			objectsTotal.WithLabelValues("configured").Inc()
		case apply.Unchanged:
			objectsTotal.WithLabelValues("unchanged").Inc()
		}
	}
}
