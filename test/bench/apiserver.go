package main

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"k8s.io/client-go/rest"

	"github.com/partnercart/partnercart-operator/internal/harness"
	"github.com/partnercart/partnercart-operator/internal/testenv"
)

// apiServerRequests reads kube-apiserver's apiserver_request_total, summed per verb and
// resource (with subresource), leaving out WATCH: what every client of the run asked.
func apiServerRequests(ctx context.Context, cp *harness.ControlPlane) (map[string]float64, error) {
	hc, base, err := apiServerClient(cp)
	if err != nil {
		return nil, err
	}
	ms, err := harness.Scrape(ctx, hc, base+"/metrics", time.Minute)
	if err != nil {
		return nil, fmt.Errorf("kube-apiserver %w", err)
	}
	out := map[string]float64{}
	for _, s := range ms {
		name := s.Name
		switch name {
		case "apiserver_request_total", "apiserver_request_duration_seconds_sum", "apiserver_request_duration_seconds_count":
		default:
			continue
		}
		if s.Labels["verb"] == "WATCH" || s.Labels["resource"] == "" {
			continue
		}
		key := s.Labels["verb"] + " " + s.Labels["resource"]
		if sub := s.Labels["subresource"]; sub != "" {
			key += "/" + sub
		}
		switch name {
		case "apiserver_request_total":
			out[key] += s.Value
		case "apiserver_request_duration_seconds_sum":
			out[durSum+key] += s.Value
		default:
			out[durCount+key] += s.Value
		}
	}
	return out, nil
}

// apiServerClient is an HTTP client with the control plane's client certificate, and
// kube-apiserver's base URL, for the endpoints the typed clients do not serve.
func apiServerClient(cp *harness.ControlPlane) (*http.Client, string, error) {
	hc, err := rest.HTTPClientFor(cp.Config)
	return hc, strings.TrimSuffix(cp.Config.Host, "/"), err
}

// Prefixes of the duration entries of apiServerRequests' map.
const (
	durSum   = "sum\x00"
	durCount = "count\x00"
)

// requestLatency formats the mean server-side latency over the interval of the busiest
// verb-and-resource pairs (at least 0.5 per cart).
func requestLatency(before, after map[string]float64, n float64) string {
	type lat struct {
		key  string
		mean float64
	}
	var out []lat
	for k, v := range after {
		if strings.HasPrefix(k, durSum) || strings.HasPrefix(k, durCount) || (v-before[k])/n < 0.5 {
			continue
		}
		c := after[durCount+k] - before[durCount+k]
		if c > 0 {
			out = append(out, lat{k, (after[durSum+k] - before[durSum+k]) / c})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].mean > out[j].mean })
	parts := make([]string, 0, len(out))
	for _, l := range out {
		parts = append(parts, fmt.Sprintf("%s %s", l.key, fmtDur(seconds(l.mean))))
	}
	return strings.Join(parts, ", ")
}

// requestDelta formats after − before per cart for the keys that grew by at least 0.005 per
// cart, and returns the total per cart.
func requestDelta(before, after map[string]float64, n float64) (string, float64) {
	var keys []string
	total := 0.0
	for k, v := range after {
		if strings.HasPrefix(k, durSum) || strings.HasPrefix(k, durCount) {
			continue
		}
		total += v - before[k]
		if (v-before[k])/n >= 0.005 {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return after[keys[i]]-before[keys[i]] > after[keys[j]]-before[keys[j]] })
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.2f", k, (after[k]-before[k])/n))
	}
	return strings.Join(parts, ", "), total / n
}

// apiServerGo is kube-apiserver's Go runtime at one moment: its heap and its collections so
// far, logged at the start and end of every timed phase (see freshAPIServer).
type apiServerGo struct {
	heapBytes, gcCycles float64
	// cartEtcd counts kube-apiserver's etcd requests for PartnerCarts by operation: an update
	// retried because the watch cache's copy was stale is a second "update" transaction, so
	// more updates than PATCHes would show retries.
	cartEtcd map[string]float64
}

func scrapeAPIServerGo(ctx context.Context, cp *harness.ControlPlane) (apiServerGo, error) {
	hc, base, err := apiServerClient(cp)
	if err != nil {
		return apiServerGo{}, err
	}
	ms, err := harness.Scrape(ctx, hc, base+"/metrics", time.Minute)
	if err != nil {
		return apiServerGo{}, fmt.Errorf("kube-apiserver %w", err)
	}
	g := apiServerGo{cartEtcd: map[string]float64{}}
	for _, s := range ms {
		switch s.Name {
		case "go_memstats_heap_inuse_bytes":
			g.heapBytes = s.Value
		case "go_gc_cycles_total_gc_cycles_total":
			g.gcCycles = s.Value
		case "etcd_request_duration_seconds_count":
			if s.Labels["resource"] == "partnercarts" {
				g.cartEtcd[s.Labels["operation"]] += s.Value
			}
		}
	}
	return g, nil
}

// logAPIServerGo logs kube-apiserver's heap and the collections since since (nil: none).
func logAPIServerGo(ctx context.Context, cp *harness.ControlPlane, what string, since *apiServerGo) *apiServerGo {
	g, err := scrapeAPIServerGo(ctx, cp)
	if err != nil {
		logf("kube-apiserver Go runtime %s: %v", what, err)
		return nil
	}
	if since == nil {
		logf("kube-apiserver %s: heap in use %.0f MiB", what, g.heapBytes/(1<<20))
	} else {
		ops := make([]string, 0, len(g.cartEtcd))
		for op, v := range g.cartEtcd {
			if d := v - since.cartEtcd[op]; d > 0 {
				ops = append(ops, fmt.Sprintf("%s %.0f", op, d))
			}
		}
		sort.Strings(ops)
		logf("kube-apiserver %s: heap in use %.0f MiB, %.0f collections since; etcd requests for PartnerCarts since: %s",
			what, g.heapBytes/(1<<20), g.gcCycles-since.gcCycles, strings.Join(ops, ", "))
	}
	return &g
}

// freshAPIServer restarts kube-apiserver over the same etcd before a timed phase, and waits
// until admission applies the policies again. Its heap grows by about 300 MiB in a 1000-cart
// phase (the watch cache keeps the recent versions of every object), and its CPU per request
// grows with it: in one run the same floor writer cost 35 ms of API-server CPU per cart first
// and 62 ms after the operator phase. Each phase compared with another therefore starts from
// the same state: an API server just started over the objects that exist.
func freshAPIServer(ctx context.Context, cp *harness.ControlPlane, phase string) error {
	if _, err := cp.StopAPIServer(); err != nil {
		return fmt.Errorf("stop kube-apiserver before %s: %w", phase, err)
	}
	if err := cp.StartAPIServer(); err != nil {
		return fmt.Errorf("start kube-apiserver before %s: %w", phase, err)
	}
	if err := testenv.WaitForPolicy(ctx, cp.Client); err != nil {
		return fmt.Errorf("admission policies after restarting kube-apiserver: %w", err)
	}
	return nil
}
