package controllers_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apimeta "k8s.io/apimachinery/pkg/api/meta"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/controllers"
	"github.com/configsync/configsync/internal/testgit"
	"github.com/configsync/configsync/renderers/sandbox"
)

// A tenant's repository asks a renderer for more memory or time than any
// configuration needs. The manager renders in a sandbox (as the manager
// binary does by default, --render-sandbox): the render fails with a clear
// reason, nothing is applied, and the same manager goes on serving.
// (renderers/sandbox's tests show what the same programs do in-process.)
func TestRenderBombsStayInTheirSandbox(t *testing.T) {
	const shard = "sandbox"
	runner := &sandbox.Runner{MemoryLimit: 64 << 20, StepTimeout: 3 * time.Second}
	startShard(t, shard, controllers.Options{Workers: 2, Render: runner.Run})
	server := testgit.Start(t)
	loop := "{{- range until 100000 }}{{- range until 100000 }}{{- range until 100000 }}{{- end }}{{- end }}{{- end }}"
	jsonnet := []configsv1.RenderStep{{Jsonnet: &configsv1.JsonnetStep{Entrypoint: "main.jsonnet"}}}
	helm := []configsv1.RenderStep{{Helm: &configsv1.HelmStep{Chart: "chart"}}}
	for _, tc := range []struct {
		name    string
		files   map[string]string
		steps   []configsv1.RenderStep
		message string
	}{
		{"jsonnet memory bomb (std.makeArray of a billion)", map[string]string{
			"main.jsonnet": `{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "stolen" }, data: { n: std.toString(std.length(std.makeArray(1e9, function(i) i))) } }`,
		}, jsonnet, "more memory than the sandbox allows (64 MiB)"},
		{"jsonnet time bomb (10^10 additions)", map[string]string{
			"main.jsonnet": `local sum(n) = std.foldl(function(a, j) a + j, std.range(1, n), 0); { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "stolen" }, data: { n: std.toString(std.foldl(function(acc, i) acc + sum(100000), std.range(1, 100000), 0)) } }`,
		}, jsonnet, "stopped after 3s"},
		{"helm time bomb (10^15 template loop)", map[string]string{
			"chart/Chart.yaml":        "apiVersion: v2\nname: bomb\nversion: 0.1.0\n",
			"chart/templates/cm.yaml": loop + manifest("ConfigMap", "stolen", "data: {a: b}\n"),
		}, helm, "stopped after 3s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := NewWithT(t)
			ns := newNamespace(t)
			repo := server.NewRepo(t, sprintf("bomb-%s.git", ns))
			repo.Commit(t, tc.files, tc.name)
			cs := inShard(newConfigSync(ns, "bomb", repo.URL, ""), shard)
			cs.Spec.Render = tc.steps
			g.Expect(k8s.Create(context.Background(), cs)).To(Succeed())
			g.Eventually(func(g Gomega) {
				ready := apimeta.FindStatusCondition(getConfigSync(g, ns, "bomb").Status.Conditions, configsv1.ConditionReady)
				g.Expect(ready).NotTo(BeNil())
				g.Expect(ready.Reason).To(Equal(configsv1.ReasonRenderFailed))
				g.Expect(ready.Message).To(ContainSubstring(tc.message))
			}, timeout).Should(Succeed())
			applied := appliedBy(g, ns, "bomb")
			recordEscape(t, tc.name, configsv1.ReasonRenderFailed+": "+quote(tc.message), configsv1.ReasonRenderFailed, 0, len(applied))
			g.Expect(applied).To(BeEmpty())
		})
	}
	t.Cleanup(func() {
		// The sandboxed manager still syncs a sound ConfigSync.
		stillSyncs(t, server, "after-bombs.git", map[string]string{
			"main.jsonnet": `{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "after" }, data: { color: "blue" } }`,
		}, func(cs *configsv1.ConfigSync) {
			inShard(cs, shard)
			cs.Spec.Render = jsonnet
		})
	})
}
