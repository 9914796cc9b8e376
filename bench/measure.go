package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/client-go/kubernetes"
)

// What the scenarios measure besides their time: the apiserver's requests,
// each process's CPU, and CPU profiles of the manager and the apiserver.

// writeRequestsBy counts the apiserver's non-dry-run write requests so far,
// in all and by verb and resource.
func (b *bench) writeRequestsBy() (float64, map[string]float64, error) {
	all, err := b.requests()
	if err != nil {
		return 0, nil, err
	}
	by := map[string]float64{}
	total := 0.0
	for k, v := range all {
		verb, _, _ := strings.Cut(k, " ")
		switch verb {
		case "APPLY", "PATCH", "POST", "PUT", "DELETE":
			if !strings.HasSuffix(k, " dry-run") {
				total += v
				by[k] = v
			}
		}
	}
	return total, by, nil
}

// requests reads the apiserver's request counters by verb, resource and
// dry-run, leaving out the leases the apiserver renews itself (the manager
// runs without leader election here).
func (b *bench) requests() (map[string]float64, error) {
	cs, err := kubernetes.NewForConfig(b.rest)
	if err != nil {
		return nil, err
	}
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		return nil, err
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(raw)))
	if err != nil {
		return nil, err
	}
	by := map[string]float64{}
	for _, m := range families["apiserver_request_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["resource"] == "leases" {
			continue
		}
		key := labels["verb"] + " " + labels["resource"] + "/" + labels["subresource"]
		if labels["dry_run"] != "" {
			key += " dry-run"
		}
		by[key] += m.GetCounter().GetValue()
	}
	return by, nil
}

// logRequests logs the requests made between two counter readings, per
// ConfigSync, most frequent first: where a sync's time goes on the
// apiserver. It returns the ones made at least once per ConfigSync.
func logRequests(what string, before, after map[string]float64, perN int) string {
	type kv struct {
		k string
		v float64
	}
	var diff []kv
	total := 0.0
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			diff = append(diff, kv{k, d})
			total += d
		}
	}
	sort.Slice(diff, func(i, j int) bool { return diff[i].v > diff[j].v })
	log("%s: %.0f requests to the apiserver, %.1f per ConfigSync", what, total, total/float64(perN))
	var main []string
	for _, d := range diff {
		log("  %-50s %8.0f  %6.2f per ConfigSync", d.k, d.v, d.v/float64(perN))
		if per := d.v / float64(perN); per >= 0.99 {
			main = append(main, fmt.Sprintf("%.0f %s", per, strings.TrimSuffix(d.k, "/")))
		}
	}
	return fmt.Sprintf("%.1f requests per ConfigSync: %s", total/float64(perN), strings.Join(main, ", "))
}

// profile records the manager's CPU profile for profileSeconds into
// the profile folder, in the background; run waits for it before it ends.
func (b *bench) profile(m *manager, name string) {
	if m.pprof == "" {
		return
	}
	b.profiles.Add(1)
	go func() {
		defer b.profiles.Done()
		url := fmt.Sprintf("%s/profile?seconds=%d", m.pprof, b.profileSeconds)
		for attempt := 0; attempt < 50; attempt++ {
			resp, err := http.Get(url) //nolint:noctx // no timeout: the profile takes profileSeconds
			if err != nil {
				time.Sleep(100 * time.Millisecond) // the manager is still starting
				continue
			}
			defer resp.Body.Close()
			path := filepath.Join(b.profileDir, name+".cpu.pprof")
			f, err := os.Create(path)
			if err == nil {
				_, err = io.Copy(f, resp.Body)
				f.Close()
			}
			if err != nil {
				log("profile %s: %v", name, err)
				return
			}
			log("wrote %s", path)
			return
		}
		log("profile %s: the manager's profiler never answered", name)
	}()
}

// profileAPIServer records the apiserver's own CPU profile (it serves
// /debug/pprof to its admins) in the background, like profile.
func (b *bench) profileAPIServer(name string) {
	if b.profileDir == "" {
		return
	}
	b.profiles.Add(1)
	go func() {
		defer b.profiles.Done()
		cs, err := kubernetes.NewForConfig(b.rest)
		if err != nil {
			log("profile %s: %v", name, err)
			return
		}
		raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", strconv.Itoa(b.profileSeconds)).
			Timeout(time.Duration(b.profileSeconds+30) * time.Second).DoRaw(context.Background())
		if err == nil {
			err = os.WriteFile(filepath.Join(b.profileDir, name+".apiserver.cpu.pprof"), raw, 0o644)
		}
		if err != nil {
			log("profile %s: %v", name, err)
			return
		}
		log("wrote the apiserver's profile of %s", name)
	}()
}

// processCPU reads the CPU time used so far by the control plane, this
// process (the Git server and the git processes it ran) and the manager,
// to show which of them a scenario's time goes to.
func processCPU() map[string]time.Duration {
	out := map[string]time.Duration{}
	self := strconv.Itoa(os.Getpid())
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(stat)
		comm := s[strings.Index(s, "(")+1 : strings.LastIndex(s, ")")]
		f := strings.Fields(s[strings.LastIndex(s, ")")+2:])
		ticks := func(i int) time.Duration {
			v, _ := strconv.ParseInt(f[i], 10, 64)
			return time.Duration(v) * time.Second / 100
		}
		switch {
		case d.Name() == self:
			out["bench (Git server, git children)"] = ticks(11) + ticks(12) + ticks(13) + ticks(14)
		case comm == "kube-apiserver" || comm == "etcd" || comm == "manager":
			out[comm] += ticks(11) + ticks(12)
		}
	}
	return out
}

// logCPU logs and returns the CPU each process used between two readings.
func logCPU(what string, before, after map[string]time.Duration, wall time.Duration) string {
	names := slices.Sorted(maps.Keys(after))
	parts := make([]string, 0, len(names))
	for _, k := range names {
		d := after[k] - before[k]
		log("%s: %-34s CPU %6.1f s (%.0f%% of one core)", what, k, d.Seconds(), 100*d.Seconds()/wall.Seconds())
		parts = append(parts, fmt.Sprintf("%s %.1f s", k, d.Seconds()))
	}
	return strings.Join(parts, ", ")
}
