package controllers

import (
	"fmt"

	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
)

// CacheOptions makes the manager watch only the ConfigSyncs that selector
// matches (--watch-label-selector), so that several operator instances can
// share a cluster's ConfigSyncs. An empty selector watches all of them.
func CacheOptions(selector string) (cache.Options, error) {
	if selector == "" {
		return cache.Options{}, nil
	}
	sel, err := labels.Parse(selector)
	if err != nil {
		return cache.Options{}, fmt.Errorf("watch label selector %q: %w", selector, err)
	}
	return cache.Options{ByObject: map[client.Object]cache.ByObject{&configsv1.ConfigSync{}: {Label: sel}}}, nil
}
