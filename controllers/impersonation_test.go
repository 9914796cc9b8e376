package controllers_test

import (
	"context"
	"os"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/controllers"
	"github.com/configsync/configsync/internal/testgit"
)

// Given a manager running with deploy/'s own ClusterRoles, where the admin
// replaced the cluster-wide impersonation binding by a RoleBinding in
// namespace "allowed" only: a ConfigSync there applies as its
// ServiceAccount; the same ConfigSync in another namespace is refused with
// AccessDenied naming the missing binding, and applies nothing.
func TestImpersonationCanBeHeldToTenantNamespaces(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	managerNS, allowed, other := newNamespace(t), newNamespace(t), newNamespace(t)
	manager := rbacv1.Subject{Kind: "ServiceAccount", Name: "manager", Namespace: managerNS}
	g.Expect(k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: managerNS, Name: "manager"}})).To(Succeed())
	own := installClusterRole(t, "../deploy/rbac/role.yaml", "manager-"+managerNS)
	impersonate := installClusterRole(t, "../deploy/rbac/impersonate-role.yaml", "impersonate-"+managerNS)
	create(t, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "manager-" + managerNS},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: own}, Subjects: []rbacv1.Subject{manager}})
	create(t, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: allowed, Name: "configsync-impersonate"},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: impersonate}, Subjects: []rbacv1.Subject{manager}})

	cfg := rest.AnonymousClientConfig(restConfig)
	cfg.BearerToken = serviceAccountToken(t, managerNS, "manager")
	const shard = "narrow-impersonation"
	startShardOn(t, cfg, shard, controllers.Options{Workers: 2})

	server := testgit.Start(t)
	repo := server.NewRepo(t, "narrow.git")
	repo.Commit(t, map[string]string{"cm.yaml": configMap("app", "blue")}, "v1")
	for _, ns := range []string{allowed, other} {
		grantConfigMaps(t, ns, "deployer")
		cs := inShard(newConfigSync(ns, "app", repo.URL, ""), shard)
		cs.Spec.ServiceAccountName = "deployer"
		g.Expect(k8s.Create(ctx, cs)).To(Succeed())
	}
	g.Eventually(func(g Gomega) {
		g.Expect(configMapData(g, allowed, "app")).To(HaveKeyWithValue("color", "blue"))
	}, timeout).Should(Succeed())
	g.Eventually(func(g Gomega) {
		ready := apimeta.FindStatusCondition(getConfigSync(g, other, "app").Status.Conditions, configsv1.ConditionReady)
		g.Expect(ready).NotTo(BeNil())
		g.Expect(ready.Reason).To(Equal(configsv1.ReasonAccessDenied), ready.Message)
		g.Expect(ready.Message).To(ContainSubstring("may not impersonate system:serviceaccount:" + other + ":deployer"))
		g.Expect(ready.Message).To(ContainSubstring("configsync-impersonate"))
	}, timeout).Should(Succeed())
	g.Expect(appliedBy(g, other, "app")).To(BeEmpty())
}

// installClusterRole creates the ClusterRole of file under name.
func installClusterRole(t *testing.T, file, name string) string {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.Unmarshal(raw, role); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	role.ObjectMeta = metav1.ObjectMeta{Name: name}
	create(t, role)
	return name
}
