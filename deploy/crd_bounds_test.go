package deploy_test

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/configsync/configsync/internal/testenv"
)

// The CRD holds bounds a tenant cannot lift: refreshInterval at least 1s,
// the fetch timeout and healthTimeout at most 1h.
func TestCRDBoundsIntervalsAndTimeouts(t *testing.T) {
	c := testenv.Start(t).Client
	cases := []struct {
		name  string
		field []string
		value string
		want  string // "" accepted, else part of the refusal
	}{
		{"refresh 1ms", []string{"spec", "refreshInterval"}, "1ms", "refreshInterval must be at least 1s"},
		{"refresh 999ms", []string{"spec", "refreshInterval"}, "999ms", "at least 1s"},
		{"refresh 1s", []string{"spec", "refreshInterval"}, "1s", ""},
		{"refresh 24h", []string{"spec", "refreshInterval"}, "24h", ""},
		{"timeout 2h", []string{"spec", "source", "git", "timeout"}, "2h", "timeout must be at most 1h"},
		{"timeout 1h", []string{"spec", "source", "git", "timeout"}, "1h", ""},
		{"timeout 59m59s", []string{"spec", "source", "git", "timeout"}, "59m59s", ""},
		{"health 1h1s", []string{"spec", "healthTimeout"}, "1h0m1s", "healthTimeout must be at most 1h"},
		{"health 30m", []string{"spec", "healthTimeout"}, "30m", ""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cs := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "configs.example.io/v1alpha1", "kind": "ConfigSync",
				"metadata": map[string]any{"name": "bounds-" + strings.ReplaceAll(tc.value, ".", "-") + "-" + string(rune('a'+i)), "namespace": "default"},
				"spec":     map[string]any{"source": map[string]any{"git": map[string]any{"repoURL": "https://git.example.com/org/app.git"}}},
			}}
			if err := unstructured.SetNestedField(cs.Object, tc.value, tc.field...); err != nil {
				t.Fatal(err)
			}
			err := c.Create(context.Background(), cs, client.DryRunAll)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
