package controllers_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/controllers"
	"github.com/configsync/configsync/internal/testgit"
)

// Given twenty ConfigSyncs of one repository that an operator instance
// finds when it starts (a fresh install, or a restart before they synced):
// the Git server is asked for the repository's refs once for the listing
// and once by the download, not once per ConfigSync, and all twenty sync
// the same commit.
func TestConfigSyncsFoundTogetherShareOneRefListing(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	var adverts atomic.Int32
	count := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/info/refs") {
				adverts.Add(1)
			}
			next.ServeHTTP(w, r)
		})
	}
	repo := testgit.StartWith(t, testgit.Options{Middleware: count}).NewRepo(t, "fleet.git")
	const fleet = 20
	files := map[string]string{}
	for i := range fleet {
		files[fmt.Sprintf("apps/%02d/cm.yaml", i)] = configMap(fmt.Sprintf("app-%02d", i), "v1")
	}
	sha := repo.Commit(t, files, "twenty apps")
	for i := range fleet {
		cs := newConfigSync(ns, fmt.Sprintf("app-%02d", i), repo.URL, fmt.Sprintf("apps/%02d", i))
		g.Expect(k8s.Create(ctx, inShard(cs, "fleet"))).To(Succeed())
	}
	g.Expect(adverts.Load()).To(BeZero())

	startShard(t, "fleet", controllers.Options{Workers: 4})
	g.Eventually(func(g Gomega) {
		for i := range fleet {
			cs := getConfigSync(g, ns, fmt.Sprintf("app-%02d", i))
			g.Expect(condition(cs, configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue), condition(cs, configsv1.ConditionReady).Message)
			g.Expect(cs.Status.SourceRevision).To(HaveSuffix(sha))
		}
	}, timeout).Should(Succeed())
	// One listing and the download's own advertisement; a ConfigSync whose
	// creation the instance saw only after the first listing started may
	// list again.
	g.Expect(adverts.Load()).To(BeNumerically("<=", 3), "ref advertisements for %d ConfigSyncs", fleet)
}
