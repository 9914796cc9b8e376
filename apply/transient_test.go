package apply

import (
	"context"
	"errors"
	"net"
	"net/url"
	"syscall"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// A failure the apiserver never answered (the connection refused or cut, a
// timeout) is retried with backoff; one it answered with a verdict on the
// object waits for the source to change.
func TestWhichApplyFailuresAreRetried(t *testing.T) {
	cm := schema.GroupResource{Resource: "configmaps"}
	refused := &url.Error{Op: "Patch", URL: "https://127.0.0.1:6443/api/v1/namespaces/a/configmaps/b",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", refused, true},
		{"connection refused, wrapped", errors.Join(errors.New("dry-run"), refused), true},
		{"deadline", context.DeadlineExceeded, true},
		{"conflict", apierrors.NewConflict(cm, "b", errors.New("changed")), true},
		{"service unavailable", apierrors.NewServiceUnavailable("starting"), true},
		{"invalid object", apierrors.NewInvalid(schema.GroupKind{Kind: "ConfigMap"}, "b", field.ErrorList{field.Required(field.NewPath("data"), "")}), false},
		{"forbidden", apierrors.NewForbidden(cm, "b", errors.New("no")), false},
		{"kind not served", &meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: "example.io", Kind: "Widget"}}, false},
	} {
		if got := isTransient(tc.err); got != tc.want {
			t.Errorf("%s: transient = %v, want %v", tc.name, got, tc.want)
		}
	}
}
