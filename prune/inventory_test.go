package prune_test

import (
	"testing"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/prune"
)

func ref(kind, ns, name string) configsv1.ObjectReference {
	return configsv1.ObjectReference{APIVersion: "v1", Kind: kind, Namespace: ns, Name: name}
}

func TestStaleIsOldMinusCurrent(t *testing.T) {
	a, b, c := ref("ConfigMap", "x", "a"), ref("ConfigMap", "x", "b"), ref("Secret", "x", "a")
	tests := []struct {
		name         string
		old, current []configsv1.ObjectReference
		want         []configsv1.ObjectReference
	}{
		{"nothing left", []configsv1.ObjectReference{a, b}, []configsv1.ObjectReference{a, b}, nil},
		{"one left the source", []configsv1.ObjectReference{a, b}, []configsv1.ObjectReference{a}, []configsv1.ObjectReference{b}},
		{"same name, other kind", []configsv1.ObjectReference{a, c}, []configsv1.ObjectReference{c}, []configsv1.ObjectReference{a}},
		{"new objects are not stale", []configsv1.ObjectReference{a}, []configsv1.ObjectReference{a, b, c}, nil},
		{"empty current set", []configsv1.ObjectReference{a, b}, nil, []configsv1.ObjectReference{a, b}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := prune.Stale(prune.FromStatus(tt.old), prune.FromStatus(tt.current))
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}
