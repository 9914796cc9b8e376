package controllers_test

import (
	"context"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/controllers"
	"github.com/configsync/configsync/internal/testenv/testoperator"
	"github.com/configsync/configsync/internal/testgit"
	"github.com/configsync/configsync/source"
)

// laggingReads is a client whose reads of one ConfigSync return an older
// copy while one is set, as an informer cache does that has not yet seen
// the latest write.
type laggingReads struct {
	client.Client
	mu    sync.Mutex
	stale *configsv1.ConfigSync
}

func (c *laggingReads) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.mu.Lock()
	stale := c.stale
	c.mu.Unlock()
	if cs, ok := obj.(*configsv1.ConfigSync); ok && stale != nil && key == client.ObjectKeyFromObject(stale) {
		stale.DeepCopyInto(cs)
		return nil
	}
	return c.Client.Get(ctx, key, obj, opts...)
}

func (c *laggingReads) lag(cs *configsv1.ConfigSync) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stale = cs
}

// Given a ConfigSync synced to a first commit and then to a second, and a
// push that arrives while the cache still holds the copy from the first
// sync: the resync that push starts writes nothing. It reads the
// ConfigSync from the apiserver instead, as the cache holds a version
// other than the operator's last write. (Working from the old copy, it
// took the second commit for news and wrote the status again.)
func TestAResyncFromACacheThatLagsWritesNothing(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	repo := testgit.Start(t).NewRepo(t, "lag.git")
	repo.Commit(t, map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {level: one}\n"}, "one")

	// A reconciler of its own, called directly, on a shard no running
	// instance takes; its manager only runs the cache.
	mgr := newShardManager(t, restConfig, "lagging")
	r := testoperator.NewReconciler(mgr, &source.GitFetcher{}, controllers.Options{})
	reads := &laggingReads{Client: r.Client}
	r.Client = reads
	stop := testoperator.Start(mgr)
	t.Cleanup(func() { g.Expect(stop()).To(Succeed()) })

	g.Expect(k8s.Create(ctx, inShard(newConfigSync(ns, "app", repo.URL, ""), "lagging"))).To(Succeed())
	req := ctrl.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: "app"}}
	syncTo := func(level string) {
		t.Helper()
		g.Eventually(func(g Gomega) {
			_, err := r.Reconcile(ctx, req)
			g.Expect(err).NotTo(HaveOccurred())
			cm := &corev1.ConfigMap{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "settings"}, cm)).To(Succeed())
			g.Expect(cm.Data).To(HaveKeyWithValue("level", level))
			g.Expect(condition(getConfigSync(g, ns, "app"), configsv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		}, timeout).Should(Succeed())
	}
	syncTo("one")
	first := getConfigSync(g, ns, "app")

	repo.Commit(t, map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {level: two}\n"}, "two")
	syncTo("two")
	synced := getConfigSync(g, ns, "app")
	g.Expect(synced.Status.SourceRevision).NotTo(Equal(first.Status.SourceRevision))

	reads.lag(first)
	_, err := r.Reconcile(ctx, req)
	g.Expect(err).NotTo(HaveOccurred())
	now := getConfigSync(g, ns, "app")
	g.Expect(now.ResourceVersion).To(Equal(synced.ResourceVersion), "the resync wrote the ConfigSync")
	g.Expect(now.Status.History).To(HaveLen(2))
}
