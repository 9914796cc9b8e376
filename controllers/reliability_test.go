package controllers_test

import (
	"context"
	"encoding/json"
	"errors"
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
	// A parallel top-level test starts only when every sequential one has
	// finished (the suite's tests are sequential at the top), so this search
	// comes after all the syncing that -run selected, whatever the order.
	t.Parallel()
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

// writeReliabilityReport renders the findings of the fault, hostile-input
// and tenant-escape suites into docs/reliability.md once the tests have run
// (runSuite calls it after m.Run): with -update-reliability it writes the
// file, otherwise, when every suite ran in full, it returns an error if the
// file is stale. A partial run (-run, -skip, -short) or a repeated one
// (-count) writes and checks nothing.
func writeReliabilityReport() error {
	findings.Lock()
	rows := append([]finding(nil), findings.rows...)
	findings.Unlock()
	suites := map[string]int{}
	for _, r := range rows {
		suites[r.Suite]++
	}
	if count := flag.Lookup("test.count"); count != nil && count.Value.String() != "1" {
		return nil
	}
	if suites["hostile input"] < minHostileCases || suites["fault"] < minFaultCases || suites["tenant escape"] < minEscapeCases || suites["secret leaks"] == 0 {
		if *updateReliability {
			fmt.Fprintf(os.Stderr, "the suites ran partly (%v): docs/reliability.md not written\n", suites)
		}
		return nil
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
		return os.WriteFile(path, []byte(report), 0o644)
	}
	committed, err := os.ReadFile(path)
	if err != nil || string(committed) != report {
		return errors.New("docs/reliability.md is stale: run go test ./controllers -update-reliability and commit it")
	}
	return nil
}

// The report counts each suite's cases and passes in its summary, and lists
// the cases under one heading per suite, in the order given.
func TestReliabilityReportSummarisesEachSuite(t *testing.T) {
	g := NewWithT(t)
	report := renderReliability([]finding{
		{Suite: "fault", Case: "git down", Want: "retried", Got: "converged, nothing lost", Pass: true},
		{Suite: "fault", Case: "apiserver down", Want: "retried", Got: "FAILED (see the test log)", Pass: false},
		{Suite: "hostile input", Case: "billion laughs", Want: "refused", Got: "refused", Applied: 2, Pass: false},
		{Suite: "secret leaks", Case: "logs", Want: "none", Got: "0 found", Pass: true},
		{Suite: "tenant escape", Case: "symlink", Want: "refused", Got: "refused", Pass: true},
		{Suite: "tenant escape", Case: "ssrf", Want: "refused", Got: "reached", Lost: 1, Pass: false},
	})
	g.Expect(report).To(HavePrefix("# Reliability\n"))
	for _, line := range []string{
		"| faults survived | 1 of 2 |",
		"| hostile inputs tried | 1, 0 handled as promised |",
		"| tenant escapes tried / escapes that worked | 2 / 1 |",
		"| objects applied from bad input | 2 |",
		"| objects lost | 1 |",
		"| secret values found in logs, Events, status, metrics | 1 channels of 1 clean |",
		"| all cases passing | 3 of 6 |",
		"| apiserver down | retried | FAILED (see the test log) | 0 | 0 | FAIL |",
		"| ssrf | refused | reached | 0 | 1 | FAIL |",
	} {
		g.Expect(report).To(ContainSubstring(line + "\n"))
	}
	var headings []string
	for _, l := range strings.Split(report, "\n") {
		if strings.HasPrefix(l, "## ") {
			headings = append(headings, l)
		}
	}
	g.Expect(headings).To(Equal([]string{"## fault", "## hostile input", "## secret leaks", "## tenant escape"}))
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
