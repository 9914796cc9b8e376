package main

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
)

// requestCosts measures the apiserver CPU of one request of each kind a
// first sync sends, each kind on its own, n requests with the manager's
// total concurrency. It says where the mass sync's apiserver time goes, and
// so how far any operator of this API can get from bare SSA.
func (b *bench) requestCosts() error {
	const ns = "bench-costs"
	log("request costs: %d of each", b.n)
	if err := b.namespace(ns); err != nil {
		return err
	}
	ctx := context.Background()
	css := make([]*configsv1.ConfigSync, b.n)
	cms := make([][]*unstructured.Unstructured, b.n)
	for i := range css {
		css[i] = benchConfigSync(ns, "http://git.invalid/costs.git", i)
		cms[i] = benchObjects(ns, css[i].Name, i, 1)
	}
	owner := func(i int) client.FieldOwner { return client.FieldOwner("configsync/" + ns + "/" + css[i].Name) }
	steps := []struct {
		what, by string
		send     func(i int) error
	}{
		{"ConfigMap: server-side apply, dry-run", "operator", func(i int) error {
			return b.ssa(ctx, cms[i][0], owner(i), client.DryRunAll)
		}},
		{"ConfigMap: server-side apply", "operator", func(i int) error {
			return b.ssa(ctx, cms[i][0], owner(i))
		}},
		{"ConfigSync: create", "user", func(i int) error { return b.k8s.Create(ctx, css[i]) }},
		{"ConfigSync: finalizer patch", "operator", func(i int) error { return b.addFinalizer(ctx, css[i]) }},
		{"ConfigSync: status patch (first sync, 10 objects)", "operator", func(i int) error {
			before := css[i].DeepCopy()
			syncedStatus(css[i], benchObjects(ns, css[i].Name, i, b.objects))
			return b.k8s.Status().Patch(ctx, css[i], client.MergeFrom(before))
		}},
		{"Event: create", "operator", func(i int) error { return b.k8s.Create(ctx, syncedEvent(css[i], b.objects)) }},
	}
	perConfigSync := map[string]time.Duration{}
	cost := map[string]time.Duration{}
	for _, step := range steps {
		before := processCPU()["kube-apiserver"]
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(b.workers * b.applyConc)
		for i := range b.n {
			g.Go(func() error {
				if gctx.Err() != nil {
					return gctx.Err()
				}
				return step.send(i)
			})
		}
		if err := g.Wait(); err != nil {
			return fmt.Errorf("request costs, %s: %w", step.what, err)
		}
		each := (processCPU()["kube-apiserver"] - before) / time.Duration(b.n)
		log("request costs: %-50s %.2f ms of apiserver CPU", step.what, ms(each))
		b.costRows = append(b.costRows, fmt.Sprintf("| %s | %s | %.2f ms |", step.what, step.by, ms(each)))
		cost[step.what] = each
		switch step.what {
		case steps[0].what, steps[1].what:
			perConfigSync["objects"] += each * time.Duration(b.objects)
		default:
			perConfigSync["ConfigSync"] += each
		}
	}
	b.costRows = append(b.costRows, fmt.Sprintf("| per ConfigSync of %d objects: the objects' dry-runs and applies | | %.1f ms |", b.objects, ms(perConfigSync["objects"])),
		fmt.Sprintf("| per ConfigSync: its own create, finalizer, status and Event | | %.1f ms |", ms(perConfigSync["ConfigSync"])))
	b.costRows = append(b.costRows, leastRatios(cost[steps[1].what], cost[steps[2].what]+cost[steps[4].what], perConfigSync, b.objects)...)
	return b.clearConfigSyncs(ns)
}

// leastRatios turns the costs into the least apiserver CPU an operator of
// this API needs per ConfigSync, as a multiple of what bare SSA of its
// objects needs: the floor under the mass sync's ratio to bare SSA while the
// apiserver is what the time goes to, however cheap the operator itself is.
// (The wall-time same-requests baseline is no such floor: its bare client
// decodes whole answers, and the operator has beaten it in some runs.) The second row drops everything the API
// could do without (the dry-run, the finalizer, the Event) and keeps only
// the user's create and one status write.
func leastRatios(apply, createAndStatus time.Duration, perConfigSync map[string]time.Duration, objects int) []string {
	bare := apply * time.Duration(objects)
	if bare == 0 {
		return nil
	}
	all := perConfigSync["objects"] + perConfigSync["ConfigSync"]
	return []string{
		fmt.Sprintf("| all of the above per ConfigSync, against bare SSA of its %d objects (%.1f ms): the least apiserver CPU any operator of this API needs, as a multiple of bare SSA's | | %.2fx |", objects, ms(bare), float64(all)/float64(bare)),
		fmt.Sprintf("| the same without the dry-runs, the finalizer and the Event: only the applies, the create and one status patch | | %.2fx |", float64(bare+createAndStatus)/float64(bare)),
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
