package controllers_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"github.com/prometheus/common/expfmt"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/testgit"
)

var updateReliability = flag.Bool("update-reliability", false, "rewrite docs/reliability.md from the fault and hostile-input suites")

// TestZZNoSecretLeaks runs after the suite synced with HTTPS passwords,
// bearer tokens, SSH keys and SOPS-encrypted values (it syncs some itself
// too), and searches every channel the operator reports through: the
// manager's logs, every Event, every ConfigSync's status, and the metrics
// endpoint's output.
func TestZZNoSecretLeaks(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	const password, token = "leak-check-password-5519", "leak-check-token-8846"
	registerSecret(password, token)
	srv := testgit.StartWith(t, testgit.Options{Username: "deploy", Password: password})
	repo := srv.NewRepo(t, "leak.git")
	repo.Commit(t, map[string]string{"cm.yaml": configMap("leak-config", "blue")}, "first")
	createSecret(t, ns, "good", map[string]string{"username": "deploy", "password": password})
	createSecret(t, ns, "bad", map[string]string{"username": "deploy", "password": token})
	g.Expect(k8s.Create(ctx, withAuth(newConfigSync(ns, "good", repo.URL, ""), configsv1.AuthHTTPS, "good"))).To(Succeed())
	g.Expect(k8s.Create(ctx, withAuth(newConfigSync(ns, "bad", repo.URL, ""), configsv1.AuthHTTPS, "bad"))).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(condition(getConfigSync(g, ns, "good"), configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(condition(getConfigSync(g, ns, "bad"), configsv1.ConditionReady).Reason).To(Equal(configsv1.ReasonAuthenticationFailed))
	}, timeout).Should(Succeed())

	events := &eventsv1.EventList{}
	g.Expect(k8s.List(ctx, events)).To(Succeed())
	var notes strings.Builder
	for _, e := range events.Items {
		notes.WriteString(e.Note + "\n")
	}
	list := &configsv1.ConfigSyncList{}
	g.Expect(k8s.List(ctx, list)).To(Succeed())
	var statuses strings.Builder
	for _, cs := range list.Items {
		b, _ := json.Marshal(cs.Status)
		statuses.Write(b)
	}
	families, err := ctrlmetrics.Registry.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	var metricsText strings.Builder
	for _, f := range families {
		_, _ = expfmt.MetricFamilyToText(&metricsText, f)
	}
	channels := map[string]string{"logs": managerLogs.String(), "Events": notes.String(), "status": statuses.String(), "metrics": metricsText.String()}
	secrets.Lock()
	values := append([]string(nil), secrets.values...)
	secrets.Unlock()
	for _, name := range []string{"logs", "Events", "status", "metrics"} {
		text := channels[name]
		var found []string
		for _, v := range values {
			if v != "" && strings.Contains(text, v) {
				found = append(found, v[:min(4, len(v))]+"…")
			}
		}
		record(finding{Suite: "secret leaks", Case: name, Want: sprintf("none of the %d secret values", len(values)),
			Got: sprintf("%d found", len(found)), Pass: len(found) == 0})
		t.Logf("%s: searched %d KiB", name, len(text)>>10)
		if len(found) > 0 {
			t.Errorf("%s contain secret values starting %v", name, found)
		}
	}
	if len(channels["logs"]) == 0 || len(channels["Events"]) == 0 || len(channels["metrics"]) == 0 {
		t.Fatal("a channel is empty: the search proves nothing")
	}
}

// TestZZReliabilityReport runs last (files run in name order) and renders
// the findings of the fault and hostile-input suites into
// docs/reliability.md: with -update-reliability it writes the file,
// otherwise, when both suites ran in full, it fails if the file is stale.
func TestZZReliabilityReport(t *testing.T) {
	findings.Lock()
	rows := append([]finding(nil), findings.rows...)
	findings.Unlock()
	suites := map[string]int{}
	for _, r := range rows {
		suites[r.Suite]++
	}
	if suites["hostile input"] < minHostileCases || suites["fault"] < minFaultCases || suites["tenant escape"] < minEscapeCases || suites["secret leaks"] == 0 {
		t.Skipf("the suites ran partly (%v): no report", suites)
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].Suite != rows[j].Suite {
			return rows[i].Suite < rows[j].Suite
		}
		return rows[i].Case < rows[j].Case
	})
	report := renderReliability(rows)
	const path = "../docs/reliability.md"
	if *updateReliability {
		if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	committed, err := os.ReadFile(path)
	if err != nil || string(committed) != report {
		t.Errorf("docs/reliability.md is stale: run go test ./controllers -update-reliability and commit it")
	}
}

func renderReliability(rows []finding) string {
	var b strings.Builder
	passed, applied, lost := 0, 0, 0
	bySuite := map[string]int{}
	for _, r := range rows {
		bySuite[r.Suite]++
		if r.Pass {
			passed++
		}
		applied += r.Applied
		lost += r.Lost
	}
	b.WriteString(`# Reliability

Generated by ` + "`go test ./controllers -update-reliability`" + ` from the fault-injection,
hostile-input and tenant-escape suites in controllers/ (faults_test.go, hostile_test.go,
escape_test.go and the other attack tests that record a row), which run in ` + "`make test`" + `;
do not edit. A stale file fails the tests. The threat model behind the tenant escapes
is in docs/security.md.

The promises: nothing the source still wants is deleted; a failure applies
nothing of its set; the inventory stays true; the system converges by
itself once a fault clears; every bad input gets a clear reason and message;
the manager stays up with bounded memory; no secret value leaks.

`)
	fmt.Fprintf(&b, "| | |\n|---|---|\n| faults survived | %d of %d |\n| hostile inputs tried | %d, %d handled as promised |\n| tenant escapes tried / escapes that worked | %d / %d |\n| objects applied from bad input | %d |\n| objects lost | %d |\n| secret values found in logs, Events, status, metrics | %d channels of %d clean |\n| all cases passing | %d of %d |\n\n",
		countPass(rows, "fault"), bySuite["fault"], bySuite["hostile input"], countPass(rows, "hostile input"),
		bySuite["tenant escape"], bySuite["tenant escape"]-countPass(rows, "tenant escape"), applied, lost,
		countPass(rows, "secret leaks"), bySuite["secret leaks"], passed, len(rows))
	suite := ""
	for _, r := range rows {
		if r.Suite != suite {
			suite = r.Suite
			fmt.Fprintf(&b, "\n## %s\n\n| case | expected | outcome | applied | lost | |\n|---|---|---|---|---|---|\n", suite)
		}
		mark := "pass"
		if !r.Pass {
			mark = "FAIL"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %d | %s |\n", r.Case, r.Want, r.Got, r.Applied, r.Lost, mark)
	}
	return b.String()
}

func countPass(rows []finding, suite string) int {
	n := 0
	for _, r := range rows {
		if r.Suite == suite && r.Pass {
			n++
		}
	}
	return n
}
