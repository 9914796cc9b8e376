package ui_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/ui"
)

// Every POST acts with the user's credentials, so one that a page of
// another site could make the browser send is refused, and a Host other
// than the listen address's (DNS rebinding) is refused on every request;
// the same POST from the UI's own page goes through.
func TestRefusesCrossSiteRequests(t *testing.T) {
	ns := newNamespace(t)
	cs := newConfigSync(ns, "app", "https://git.example.com/app.git", "", true)
	if err := k8s.Create(context.Background(), cs); err != nil {
		t.Fatal(err)
	}
	base := startUI(t, adminCfg, "")
	u, _ := url.Parse(base)
	confirm := fetch(t, base+"cs/"+ns+"/app/confirm/reconcile")
	m := regexp.MustCompile(`name="csrf" value="([0-9a-f]{64})"`).FindStringSubmatch(confirm)
	if m == nil {
		t.Fatalf("no CSRF token in the confirmation page:\n%s", confirm)
	}
	token := m[1]
	action := base + "cs/" + ns + "/app/reconcile"
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	for _, tc := range []struct {
		name    string
		method  string
		host    string
		form    url.Values
		headers map[string]string
		want    int
	}{
		{"no token", http.MethodPost, "", url.Values{}, nil, http.StatusForbidden},
		{"wrong token", http.MethodPost, "", url.Values{"csrf": {strings.Repeat("0", 64)}}, nil, http.StatusForbidden},
		{"foreign origin", http.MethodPost, "", url.Values{"csrf": {token}}, map[string]string{"Origin": "http://evil.example"}, http.StatusForbidden},
		{"null origin", http.MethodPost, "", url.Values{"csrf": {token}}, map[string]string{"Origin": "null"}, http.StatusForbidden},
		{"cross-site fetch", http.MethodPost, "", url.Values{"csrf": {token}}, map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"same-site fetch", http.MethodPost, "", url.Values{"csrf": {token}}, map[string]string{"Sec-Fetch-Site": "same-site"}, http.StatusForbidden},
		{"rebound host", http.MethodPost, "evil.example:" + u.Port(), url.Values{"csrf": {token}}, nil, http.StatusMisdirectedRequest},
		{"rebound host, a page", http.MethodGet, "evil.example:" + u.Port(), nil, nil, http.StatusMisdirectedRequest},
		{"GET on an action", http.MethodGet, "", nil, nil, http.StatusMethodNotAllowed},
		{"PUT", http.MethodPut, "", url.Values{"csrf": {token}}, nil, http.StatusForbidden},
		{"from the UI's page", http.MethodPost, "", url.Values{"csrf": {token}}, map[string]string{"Origin": strings.TrimSuffix(base, "/"), "Sec-Fetch-Site": "same-origin"}, http.StatusSeeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body *strings.Reader
			if tc.form != nil {
				body = strings.NewReader(tc.form.Encode())
			} else {
				body = strings.NewReader("")
			}
			req, err := http.NewRequest(tc.method, action, body)
			if err != nil {
				t.Fatal(err)
			}
			if tc.form != nil {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			if tc.host != "" {
				req.Host = tc.host
			}
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("%s: %s, want %d", tc.name, resp.Status, tc.want)
			}
		})
	}
	// Only the last request acted.
	got := &configsv1.ConfigSync{}
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(cs), got); err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Annotations[configsv1.AnnotationReconcileRequestedAt]; !ok {
		t.Fatal("the accepted POST did not request a reconcile")
	}
}

// The UI listens on loopback unless told otherwise.
func TestListenRefusesNonLoopbackAddresses(t *testing.T) {
	for _, tc := range []struct {
		addr        string
		allowRemote bool
		refused     bool
	}{
		{"127.0.0.1:0", false, false},
		{"localhost:0", false, false},
		{"0.0.0.0:0", false, true},
		{":0", false, true},
		{"192.0.2.10:0", false, true},
		{"0.0.0.0:0", true, false},
	} {
		l, hosts, err := ui.Listen(tc.addr, tc.allowRemote)
		if refused := errors.Is(err, ui.ErrRemote); refused != tc.refused {
			t.Errorf("Listen(%q, %v): %v, want refused=%v", tc.addr, tc.allowRemote, err, tc.refused)
		}
		if err != nil {
			continue
		}
		l.Close()
		if tc.allowRemote != (hosts == nil) {
			t.Errorf("Listen(%q, %v): hosts %v", tc.addr, tc.allowRemote, hosts)
		}
	}
}

func TestStateOf(t *testing.T) {
	cond := func(typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: status, Reason: reason}
	}
	for _, tc := range []struct {
		name    string
		suspend bool
		conds   []metav1.Condition
		want    string
	}{
		{"nothing yet", false, nil, ui.StateUnknown},
		{"first sync", false, []metav1.Condition{cond("Reconciling", "True", "Progressing"), cond("Ready", "Unknown", "Progressing")}, ui.StateReconciling},
		{"synced", false, []metav1.Condition{cond("Ready", "True", "Succeeded")}, ui.StateReady},
		{"rolled back", false, []metav1.Condition{cond("Ready", "True", "RolledBack")}, ui.StateReady},
		{"failed", false, []metav1.Condition{cond("Ready", "False", "ApplyFailed"), cond("Degraded", "True", "ApplyFailed")}, ui.StateDegraded},
		{"stalled", false, []metav1.Condition{cond("Ready", "False", "PathNotFound"), cond("Stalled", "True", "PathNotFound")}, ui.StateStalled},
		{"suspended wins", true, []metav1.Condition{cond("Ready", "True", "Succeeded")}, ui.StateSuspended},
	} {
		cs := &configsv1.ConfigSync{Spec: configsv1.ConfigSyncSpec{Suspend: tc.suspend}, Status: configsv1.ConfigSyncStatus{Conditions: tc.conds}}
		if got := ui.StateOf(cs); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}
