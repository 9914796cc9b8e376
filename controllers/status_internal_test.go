package controllers

import (
	"fmt"
	"strings"
	"testing"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
)

// summarize is the one place conditions come from: for each outcome, the
// conditions a ConfigSync ends with, whatever it had before (written as
// Type=Status/Reason, absent ones left out).
func TestSummarizeDerivesEveryCondition(t *testing.T) {
	everything := func() *configsv1.ConfigSync {
		cs := &configsv1.ConfigSync{}
		cs.Generation = 3
		for _, typ := range []string{configsv1.ConditionReady, configsv1.ConditionAvailable, configsv1.ConditionDegraded, configsv1.ConditionReconciling, configsv1.ConditionStalled} {
			apimeta.SetStatusCondition(&cs.Status.Conditions, metav1.Condition{Type: typ, Status: metav1.ConditionUnknown, Reason: "Before"})
		}
		return cs
	}
	cases := []struct {
		name string
		o    outcome
		want string
	}{
		{"progressing", outcome{state: stateProgressing, message: "rendering"},
			"Ready=Unknown/Before Available=Unknown/Before Degraded=Unknown/Before Reconciling=True/Progressing Stalled=Unknown/Before"},
		{"suspended", outcome{state: stateSuspended},
			"Ready=Unknown/Before Available=Unknown/Before Degraded=Unknown/Before Reconciling=False/Suspended Stalled=Unknown/Before"},
		{"synced", outcome{state: stateSynced, reason: configsv1.ReasonSucceeded, message: "applied"},
			"Ready=True/Succeeded Available=True/Succeeded Degraded=False/Succeeded"},
		{"held by spec.rollback", outcome{state: stateSynced, reason: configsv1.ReasonRolledBack, message: "rolled back"},
			"Ready=True/RolledBack Available=True/RolledBack Degraded=False/Succeeded"},
		{"rolled back on failure", outcome{state: stateRolledBack, message: "rolled back from abc"},
			"Ready=False/RolledBack Available=True/RolledBack Degraded=True/RolledBack"},
		{"failed, retrying", outcome{state: stateFailed, reason: configsv1.ReasonSourceUnreachable, message: "no route", transient: true},
			"Ready=False/SourceUnreachable Available=Unknown/Before Degraded=True/SourceUnreachable Reconciling=True/SourceUnreachable"},
		{"failed, waiting for the user", outcome{state: stateFailed, reason: configsv1.ReasonRenderFailed, message: "bad template"},
			"Ready=False/RenderFailed Available=Unknown/Before Degraded=True/RenderFailed Stalled=True/RenderFailed"},
		{"deletion blocked", outcome{state: stateDeleteBlocked, reason: configsv1.ReasonPruneFailed, message: "2 object(s) left"},
			"Ready=False/PruneFailed Available=Unknown/Before Degraded=Unknown/Before Reconciling=Unknown/Before Stalled=Unknown/Before"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cs := everything()
			summarize(cs, c.o)
			var got []string
			for _, typ := range []string{configsv1.ConditionReady, configsv1.ConditionAvailable, configsv1.ConditionDegraded, configsv1.ConditionReconciling, configsv1.ConditionStalled} {
				if cond := apimeta.FindStatusCondition(cs.Status.Conditions, typ); cond != nil {
					got = append(got, fmt.Sprintf("%s=%s/%s", typ, cond.Status, cond.Reason))
					if cond.Reason != "Before" && cond.ObservedGeneration != 3 {
						t.Errorf("%s: observedGeneration %d, want 3", typ, cond.ObservedGeneration)
					}
				}
			}
			if strings.Join(got, " ") != c.want {
				t.Errorf("conditions\n got %s\nwant %s", strings.Join(got, " "), c.want)
			}
		})
	}
}

// Every condition reason lands in one of the few Event reasons users filter
// on; the operator's own trouble is not passed off as the source's.
func TestEventReasonGroupsConditionReasons(t *testing.T) {
	for reason, want := range map[string]string{
		configsv1.ReasonRevisionNotFound:     configsv1.ReasonFetchFailed,
		configsv1.ReasonAuthenticationFailed: configsv1.ReasonFetchFailed,
		"ChartNotFound":                      configsv1.ReasonFetchFailed,
		configsv1.ReasonRenderFailed:         configsv1.ReasonRenderFailed,
		configsv1.ReasonDryRunFailed:         configsv1.ReasonApplyFailed,
		configsv1.ReasonAccessDenied:         configsv1.ReasonApplyFailed,
		configsv1.ReasonHealthCheckFailed:    configsv1.ReasonHealthCheckFailed,
		configsv1.ReasonStatusWriteFailed:    configsv1.ReasonStatusWriteFailed,
		configsv1.ReasonReconciliationFailed: configsv1.ReasonReconciliationFailed,
	} {
		if got := eventReason(reason); got != want {
			t.Errorf("eventReason(%s) = %s, want %s", reason, got, want)
		}
	}
}

// A zero outcome is a bug of the caller, refused loudly rather than
// written as progress.
func TestSummarizeRefusesAnOutcomeWithoutState(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("summarize accepted an outcome without a state")
		}
	}()
	summarize(&configsv1.ConfigSync{}, outcome{})
}
