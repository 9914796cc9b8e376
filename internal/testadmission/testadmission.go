// Package testadmission serves a validating admission webhook to the test
// apiserver, so tests can make it reject what they choose: an apply that
// passed its dry-run, a delete, a whole kind.
package testadmission

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Decide answers one admission request: allowed, or refused with a message.
type Decide func(req *admissionv1.AdmissionRequest) (allowed bool, message string)

// Server is a webhook on a loopback TLS port.
type Server struct {
	srv    *httptest.Server
	decide Decide
	probes atomic.Int64
	// Refused counts the requests Decide refused.
	Refused atomic.Int64
}

const probeLabel = "testadmission.configsync.dev/probe"

// Start serves decide until the test ends.
func Start(t *testing.T, decide Decide) *Server {
	t.Helper()
	s := &Server{decide: decide}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	review := &admissionv1.AdmissionReview{}
	if err := json.NewDecoder(r.Body).Decode(review); err != nil || review.Request == nil {
		http.Error(w, "bad review", http.StatusBadRequest)
		return
	}
	req := review.Request
	resp := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	if r.URL.Path == "/probe" {
		s.probes.Add(1)
	} else if ok, msg := s.decide(req); !ok {
		s.Refused.Add(1)
		resp.Allowed = false
		resp.Result = &metav1.Status{Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden, Message: msg}
	}
	review.Response = resp
	review.Request = nil
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(review)
}

func (s *Server) caBundle() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}

// Install registers the webhook for rules in namespace ns only, and waits
// until the apiserver calls it. It is removed when the test ends.
func (s *Server) Install(t *testing.T, c client.Client, ns string, rules ...admissionregistrationv1.RuleWithOperations) {
	t.Helper()
	ctx := context.Background()
	inNamespace := &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: ns}}
	webhook := func(name, path string, rules []admissionregistrationv1.RuleWithOperations, objects *metav1.LabelSelector) admissionregistrationv1.ValidatingWebhook {
		return admissionregistrationv1.ValidatingWebhook{
			Name:                    name,
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To(s.srv.URL + path), CABundle: s.caBundle()},
			Rules:                   rules,
			NamespaceSelector:       inNamespace,
			ObjectSelector:          objects,
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			AdmissionReviewVersions: []string{"v1"},
			TimeoutSeconds:          ptr.To(int32(5)),
		}
	}
	probeRule := admissionregistrationv1.RuleWithOperations{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
	}
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "testadmission-" + ns},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{
			webhook("decide.testadmission.configsync.dev", "/decide", rules, nil),
			webhook("probe.testadmission.configsync.dev", "/probe", []admissionregistrationv1.RuleWithOperations{probeRule},
				&metav1.LabelSelector{MatchLabels: map[string]string{probeLabel: "true"}}),
		},
	}
	if err := c.Create(ctx, cfg); err != nil {
		t.Fatalf("install webhook: %v", err)
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), cfg) })

	// The apiserver loads webhook configurations asynchronously: wait until
	// a dry-run create of a probe object reaches us.
	deadline := time.Now().Add(30 * time.Second)
	for s.probes.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the apiserver never called the admission webhook")
		}
		probe := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "probe-", Labels: map[string]string{probeLabel: "true"}}}
		_ = c.Create(ctx, probe, client.DryRunAll)
		time.Sleep(100 * time.Millisecond)
	}
}

// Rule matches operations on resources of one API group and version.
func Rule(group, version, resource string, ops ...admissionregistrationv1.OperationType) admissionregistrationv1.RuleWithOperations {
	return admissionregistrationv1.RuleWithOperations{
		Operations: ops,
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{group}, APIVersions: []string{version}, Resources: []string{resource}},
	}
}

// DryRun says whether req is a dry run.
func DryRun(req *admissionv1.AdmissionRequest) bool { return req.DryRun != nil && *req.DryRun }
