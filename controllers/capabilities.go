package controllers

import (
	"sync"
	"time"

	"k8s.io/client-go/discovery"
)

// capabilitiesTTL bounds how stale the cluster's version and API list may be
// for Helm's Capabilities; discovery is not worth a request per reconcile.
const capabilitiesTTL = 5 * time.Minute

// clusterCapabilities caches what Helm charts see as .Capabilities.
type clusterCapabilities struct {
	discovery discovery.DiscoveryInterface

	mu          sync.Mutex
	at          time.Time
	kubeVersion string
	apiVersions []string
}

// get returns the cluster's version and group/versions; on a discovery error,
// empty values, and Helm falls back to its defaults.
func (c *clusterCapabilities) get() (string, []string) {
	if c == nil || c.discovery == nil {
		return "", nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) < capabilitiesTTL {
		return c.kubeVersion, c.apiVersions
	}
	v, err := c.discovery.ServerVersion()
	if err != nil {
		return c.kubeVersion, c.apiVersions
	}
	groups, err := c.discovery.ServerGroups()
	if err != nil {
		return c.kubeVersion, c.apiVersions
	}
	var apis []string
	for _, g := range groups.Groups {
		for _, gv := range g.Versions {
			apis = append(apis, gv.GroupVersion)
		}
	}
	c.at, c.kubeVersion, c.apiVersions = time.Now(), v.GitVersion, apis
	return c.kubeVersion, c.apiVersions
}
