// Command bench measures the manager binary buying N approved carts at once from pcsim on a
// local control plane, and prints one markdown table: wall time and throughput, per-cart
// latency, Partner Center calls and API-server writes per cart, the manager's peak RSS and
// CPU, the floor that upstream latency and rate limit impose and the operator's ratio to it,
// a sequential baseline (the same calls with the same client library, one cart at a time),
// and a restart over the N completed carts (upstream calls in the next minute, catch-up time).
//
// Parameters come from the environment (make bench passes them through):
//
//	BENCH_N                    carts (1000)
//	BENCH_LATENCY              pcsim --latency (50ms)
//	BENCH_QPS                  manager --partner-center-qps, and the baseline's limit (0: unlimited)
//	BENCH_WORKERS              manager --max-concurrent-reconciles (16, the manager's default)
//	BENCH_ORDER_COMPLETE_AFTER pcsim --order-complete-after (1s)
//	BENCH_POLL                 manager --order-poll-interval, and the baseline's poll interval (1s)
//	BENCH_KUBE_QPS             manager --kube-api-qps, burst twice that (unset: the manager's default)
//	BENCH_MANAGER_GOMEMLIMIT   GOMEMLIMIT for the manager process only, e.g. 128MiB (unset: none)
//	BENCH_BASELINE_SAMPLE      carts the sequential baseline buys, extrapolated to N (100)
//	BENCH_RESTART_WINDOW       how long the restarted manager is watched (60s)
//	BENCH_TIMEOUT              deadline of the operator phase (15m)
//	BENCH_FLOOR_WORKERS        concurrencies the API-floor writer tries, comma-separated (32,64,128; empty: skip)
//	BENCH_RATE_LIMIT           pcsim --rate-limit of the rate-limited phase, requests per minute (1500; 0: skip)
//	BENCH_RL_N                 carts of the rate-limited phase (BENCH_N)
//	BENCH_RL_QPS               manager --partner-center-qps in that phase (0.95 × BENCH_RATE_LIMIT / 60)
//	BENCH_RL_BURST             manager --partner-center-burst in that phase (0: the manager's default)
//	BENCH_CPU_PROFILE          CPU-profile kube-apiserver and the manager over this much of the API-floor and
//	                           operator phases, into tmp/bench/<phase>-<process>-cpu.pprof (0: off)
//
// Needs bin/manager and bin/pcsim ('make build') and bin/k8s ('make control-plane').
package main

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/uuid"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/harness"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	"github.com/partnercart/partnercart-operator/internal/pcsim"
	"github.com/partnercart/partnercart-operator/internal/testenv"
)

type config struct {
	n                  int
	latency            time.Duration
	qps                float64
	workers            int
	orderCompleteAfter time.Duration
	poll               time.Duration
	kubeQPS            float64
	memLimit           string
	baselineSample     int
	restartWindow      time.Duration
	timeout            time.Duration
	floorWorkers       []int
	rateLimit          int
	rlN                int
	rlQPS              float64
	rlBurst            int
	cpuProfile         time.Duration
	dir                string
}

func main() {
	cfg := config{
		n:                  envInt("BENCH_N", 1000),
		latency:            envDuration("BENCH_LATENCY", 50*time.Millisecond),
		qps:                envFloat("BENCH_QPS", 0),
		workers:            envInt("BENCH_WORKERS", 16),
		orderCompleteAfter: envDuration("BENCH_ORDER_COMPLETE_AFTER", time.Second),
		poll:               envDuration("BENCH_POLL", time.Second),
		kubeQPS:            envFloat("BENCH_KUBE_QPS", 0),
		memLimit:           os.Getenv("BENCH_MANAGER_GOMEMLIMIT"),
		baselineSample:     envInt("BENCH_BASELINE_SAMPLE", 100),
		restartWindow:      envDuration("BENCH_RESTART_WINDOW", time.Minute),
		timeout:            envDuration("BENCH_TIMEOUT", 15*time.Minute),
		floorWorkers:       envInts("BENCH_FLOOR_WORKERS", "32,64,128"),
		cpuProfile:         envDuration("BENCH_CPU_PROFILE", 0),
		rateLimit:          envInt("BENCH_RATE_LIMIT", 1500),
		rlBurst:            envInt("BENCH_RL_BURST", 0),
		dir:                filepath.Join(testenv.RepoRoot(), "tmp", "bench"),
	}
	cfg.rlN = envInt("BENCH_RL_N", cfg.n)
	cfg.rlQPS = envFloat("BENCH_RL_QPS", 0.95*float64(cfg.rateLimit)/60)
	ctrllog.SetLogger(logr.Discard()) // the bench's own clients log nothing worth reading
	os.Exit(run(cfg))
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench [%s] %s\n", time.Now().Format("15:04:05.0"), fmt.Sprintf(format, args...))
}

// row is one line of the result table.
type row struct{ metric, value, note string }

func run(cfg config) int {
	ctx, cancel := harness.HandleSignals(context.Background(), 15*time.Second)
	defer cancel()
	defer harness.KillAll()
	for _, bin := range []string{"manager", "pcsim"} {
		if _, err := os.Stat(harness.BinPath(bin)); err != nil {
			logf("no %s: run 'make build' first", harness.BinPath(bin))
			return 1
		}
	}
	_ = os.RemoveAll(cfg.dir)
	if err := os.MkdirAll(cfg.dir, 0o755); err != nil {
		logf("%v", err)
		return 1
	}
	rows, targets, err := bench(ctx, cfg)
	if err != nil {
		logf("FAIL: %v", err)
	}
	if len(rows) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "| Metric | Value | Note |\n|---|---|---|\n")
		for _, r := range rows {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", r.metric, r.value, r.note)
		}
		if len(targets) > 0 {
			fmt.Fprintf(&b, "\n| Target | Measured | |\n|---|---|---|\n")
			for _, r := range targets {
				fmt.Fprintf(&b, "| %s | %s | %s |\n", r.metric, r.value, r.note)
			}
		}
		fmt.Print(b.String())
		_ = os.WriteFile(filepath.Join(cfg.dir, "result.md"), []byte(b.String()), 0o644)
	}
	if err != nil {
		return 1
	}
	return 0
}

// benchNamespace holds the benchmark's carts.
const benchNamespace = "bench"

// tenK is the N of the memory target.
const tenK = 10000

// benchmark is one run: its configuration and the table it fills in.
type benchmark struct {
	cfg  config
	ncpu int
	rows []row
	// targets are the targets, each measured in this run (a second table).
	targets []row
}

func (bm *benchmark) add(metric, value, note string) {
	bm.rows = append(bm.rows, row{metric, value, note})
}

// addRowsAt puts the rows that add adds at index at of the table: rows measured later that
// belong beside earlier ones.
func (bm *benchmark) addRowsAt(at int, add func()) {
	tail := bm.rows[at:]
	bm.rows = bm.rows[:at:at]
	add()
	bm.rows = append(bm.rows, tail...)
}

// target adds a row to the targets table: what was measured and whether it meets the target.
func (bm *benchmark) target(name, measured string, met bool) {
	verdict := "missed"
	if met {
		verdict = "met"
	}
	bm.targets = append(bm.targets, row{name, measured, verdict})
}

// stack is what the benchmark starts: the control plane, pcsim and the manager.
type stack struct {
	cp  *harness.ControlPlane
	sim *harness.Pcsim
	mgr *harness.Manager
}

// loadRun is what phase 1 timed: N carts created at once and bought.
type loadRun struct {
	tr           *tracker
	created      time.Duration // first create to last create returned
	wall         time.Duration // first create to last Ready
	cpu0, cpu1   map[string]time.Duration
	self0, self1 time.Duration
}

// loadScrape is what the manager, pcsim and the API server report once phase 1 is over.
type loadScrape struct {
	metrics harness.Metrics
	proc    harness.ProcStats
	stats   *pcsim.Stats
	events  *eventsv1.EventList
}

// bench runs the phases and returns the table's rows and the targets, as many as it got to
// on error.
func bench(ctx context.Context, cfg config) (rows, targets []row, err error) {
	bm := &benchmark{cfg: cfg, ncpu: runtime.NumCPU()}
	err = bm.measure(ctx)
	return bm.rows, bm.targets, err
}

func (bm *benchmark) measure(ctx context.Context) error {
	cfg := bm.cfg
	bm.add("Setup", fmt.Sprintf("N=%d, latency %s, order-complete-after %s", cfg.n, cfg.latency, cfg.orderCompleteAfter),
		fmt.Sprintf("manager: --max-concurrent-reconciles %d, --partner-center-qps %s, --order-poll-interval %s, --kube-api-qps %s, GOMEMLIMIT %s; %d CPUs, %s; control plane, pcsim, manager and this program share the machine",
			cfg.workers, qpsString(cfg.qps), cfg.poll, kubeQPSString(cfg.kubeQPS), cmp.Or(cfg.memLimit, "unset"), bm.ncpu, runtime.Version()))

	logf("starting the control plane")
	cp, err := harness.StartControlPlane(ctx, cfg.dir)
	if err != nil {
		return err
	}
	defer cp.Stop()
	var floor *floorRun
	if len(cfg.floorWorkers) > 0 {
		if floor, err = bm.floorPhase(ctx, cp); err != nil {
			return err
		}
	}
	if floor != nil {
		if err := freshAPIServer(ctx, cp, "the operator phase"); err != nil {
			return err
		}
	}
	s, err := bm.startStack(ctx, cp)
	if err != nil {
		return err
	}
	g0 := logAPIServerGo(ctx, cp, "before the operator phase", nil)
	lr, sc, err := bm.loadPhase(ctx, s)
	if err != nil {
		return err
	}
	logAPIServerGo(ctx, cp, "after the operator phase", g0)
	floorRowsAt := len(bm.rows)
	if err := bm.restartPhase(ctx, s); err != nil {
		return err
	}
	if floor != nil {
		// The floor's first run found an empty cluster: so does this one.
		if err := emptyFloorNamespace(ctx, cp, benchNamespace); err != nil {
			return err
		}
		after, err := bm.floorRun(ctx, cp, fmt.Sprintf("floor-%d-after", floor.workers), floor.workers)
		if err != nil {
			return err
		}
		bm.addRowsAt(floorRowsAt, func() { bm.addAPIFloorRows(lr, sc, floor, after, float64(cfg.n)) })
	}
	if cfg.rateLimit > 0 && cfg.rlN > 0 {
		if err := bm.rateLimitPhase(ctx, cp); err != nil {
			return err
		}
	}
	return bm.baselinePhase(ctx, s, lr.wall)
}

// startStack creates the namespace and starts pcsim and a ready manager.
func (bm *benchmark) startStack(ctx context.Context, cp *harness.ControlPlane) (*stack, error) {
	cfg := bm.cfg
	if err := harness.CreateNamespaces(ctx, cp.Client, benchNamespace); err != nil {
		return nil, err
	}
	sim, err := harness.StartPcsim(ctx, cfg.dir, "--latency", cfg.latency.String(), "--order-complete-after", cfg.orderCompleteAfter.String())
	if err != nil {
		return nil, err
	}
	flags := []string{
		"--order-poll-interval", cfg.poll.String(),
		"--max-concurrent-reconciles", strconv.Itoa(cfg.workers),
		"--partner-center-qps", strconv.FormatFloat(cfg.qps, 'f', -1, 64),
	}
	if cfg.kubeQPS > 0 {
		flags = append(flags, "--kube-api-qps", strconv.FormatFloat(cfg.kubeQPS, 'f', -1, 64), "--kube-api-burst", strconv.Itoa(int(2*cfg.kubeQPS)))
	}
	var env []string
	if cfg.memLimit != "" {
		env = append(env, "GOMEMLIMIT="+cfg.memLimit)
	}
	mgr := harness.NewManager(harness.ManagerConfig{Dir: cfg.dir, Kubeconfig: cp.Kubeconfig, PartnerCenterURL: sim.URL, Flags: flags, Env: env, Pprof: true})
	if err := mgr.Start(); err != nil {
		return nil, err
	}
	if err := mgr.WaitReady(ctx, time.Minute); err != nil {
		return nil, err
	}
	return &stack{cp: cp, sim: sim, mgr: mgr}, nil
}

// loadPhase is phase 1: N carts at once. It adds its rows and returns the run and the scrape
// after it.
func (bm *benchmark) loadPhase(ctx context.Context, s *stack) (*loadRun, *loadScrape, error) {
	reqs0, err := apiServerRequests(ctx, s.cp)
	if err != nil {
		return nil, nil, err
	}
	lr, err := bm.buyAll(ctx, s.cp, s.mgr, benchNamespace, bm.cfg.n)
	if err != nil {
		return nil, nil, err
	}
	reqs1, err := apiServerRequests(ctx, s.cp)
	if err != nil {
		return nil, nil, err
	}
	sc, err := scrapeLoad(ctx, s)
	if err != nil {
		return nil, nil, err
	}
	n := float64(bm.cfg.n)
	bm.addTimeRows(lr, n)
	bm.addCallRow(harness.Calls(sc.stats), n)
	bm.addAPIRows(sc, n, lr.wall)
	byResource, perCart := requestDelta(reqs0, reqs1, n)
	bm.add("API-server requests per cart, by verb and resource", fmt.Sprintf("%.2f", perCart), "kube-apiserver apiserver_request_total, first create to last Ready, every client (the bench's creates and its watch too; WATCH left out): "+byResource)
	bm.add("API-server latency by verb and resource", "", "apiserver_request_duration_seconds mean over the same interval, pairs with at least 0.5 requests per cart: "+requestLatency(reqs0, reqs1, n))
	bm.add("Partner Center call latency by operation", "", pcLatency(sc.metrics))
	bm.addResourceRows(lr, sc, n)
	heap := filepath.Join(bm.cfg.dir, fmt.Sprintf("manager-heap-n%d.pprof", bm.cfg.n))
	if err := s.mgr.SaveHeapProfile(ctx, heap); err != nil {
		logf("heap profile: %v", err)
	} else {
		if rel, err := filepath.Rel(testenv.RepoRoot(), heap); err == nil {
			heap = rel
		}
		bm.add("Manager heap profile", heap, "taken after the last cart was Ready; read it with: go tool pprof -top -sample_index=inuse_space bin/manager "+heap)
	}
	if cartBytes, receiptBytes, held, err := cacheFootprint(ctx, s.cp.Client, benchNamespace); err == nil {
		bm.add("Cache per cart", fmtBytes(cartBytes+receiptBytes), fmt.Sprintf(
			"the %d Completed PartnerCarts decoded and trimmed as the manager caches them: %s each; their receipts' metadata (cached since the re-purchase guard reads it from the cache): %s each; measured in this program's heap, the informers' maps and indexes not counted",
			held, fmtBytes(cartBytes), fmtBytes(receiptBytes)))
	} else {
		logf("cache footprint: %v", err)
	}
	bm.addFloorRows(lr.wall)
	return lr, sc, nil
}

// buyAll creates the N carts with 32 concurrent creators and waits until a watch has seen
// every one Ready, timing it and the CPU the stack used meanwhile; with mgr, it CPU-profiles
// the phase when BENCH_CPU_PROFILE asks.
func (bm *benchmark) buyAll(ctx context.Context, cp *harness.ControlPlane, mgr *harness.Manager, ns string, n int) (*loadRun, error) {
	cfg := bm.cfg
	wc, err := client.NewWithWatch(cp.Config, client.Options{Scheme: testenv.NewScheme()})
	if err != nil {
		return nil, err
	}
	lr := &loadRun{tr: newTracker(n)}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go lr.tr.watch(watchCtx, wc, ns)
	carts := make([]*pcv1alpha1.PartnerCart, n)
	for i := range carts {
		carts[i] = harness.NewCart(ns, fmt.Sprintf("cart-%05d", i))
	}
	logf("creating %d carts in %s", n, ns)
	phaseCtx, cancelPhase := context.WithTimeout(ctx, cfg.timeout)
	defer cancelPhase()
	lr.cpu0 = harness.ChildrenCPU()
	lr.self0 = selfCPU()
	if mgr != nil {
		profiles := bm.startCPUProfiles(ctx, cp, mgr, fmt.Sprintf("operator-n%d", n))
		defer profiles.wait()
	}
	first := time.Now()
	if err := harness.CreateAll(phaseCtx, cp.Client, carts, 32, func(c *pcv1alpha1.PartnerCart) { lr.tr.created(c.Name, time.Now()) }); err != nil {
		return nil, err
	}
	lr.created = time.Since(first)
	logf("created %d carts in %s; waiting for Ready", n, lr.created.Round(time.Millisecond))
	if err := lr.tr.wait(phaseCtx, func(ready, failed int) { logf("%d/%d Ready, %d stalled", ready, n, failed) }); err != nil {
		return nil, err
	}
	lr.wall = lr.tr.lastReady().Sub(first)
	stopWatch()
	logf("all Ready after %s", lr.wall.Round(time.Millisecond))
	lr.cpu1 = harness.ChildrenCPU()
	lr.self1 = selfCPU()
	return lr, nil
}

// scrapeLoad reads the manager's metrics and /proc, pcsim's stats and the namespace's Events.
func scrapeLoad(ctx context.Context, s *stack) (*loadScrape, error) {
	sc := &loadScrape{events: &eventsv1.EventList{}}
	var err error
	if sc.metrics, err = s.mgr.Metrics(ctx); err != nil {
		return nil, fmt.Errorf("scrape manager metrics: %w", err)
	}
	if sc.proc, err = harness.ReadProcStats(s.mgr.PID()); err != nil {
		return nil, err
	}
	if sc.stats, err = s.sim.Stats(ctx); err != nil {
		return nil, err
	}
	if err := s.cp.Client.List(ctx, sc.events, client.InNamespace(benchNamespace)); err != nil {
		return nil, err
	}
	return sc, nil
}

// addTimeRows: wall time, throughput and per-cart latency.
func (bm *benchmark) addTimeRows(lr *loadRun, n float64) {
	lat := lr.tr.latencies()
	bm.add("Wall time, first create to last Ready", fmtDur(lr.wall), fmt.Sprintf("creating the %d objects took %s (32 concurrent creates)", bm.cfg.n, fmtDur(lr.created)))
	bm.add("Throughput", fmt.Sprintf("%.1f carts/s", n/lr.wall.Seconds()), "")
	bm.add("Per-cart latency p50 / p95 / p99 / max", fmt.Sprintf("%s / %s / %s / %s", fmtDur(pct(lat, 50)), fmtDur(pct(lat, 95)), fmtDur(pct(lat, 99)), fmtDur(pct(lat, 100))),
		"create call returned → Ready=True seen by a watch")
}

// addCallRow: Partner Center calls per cart, by operation.
func (bm *benchmark) addCallRow(calls map[string]int, n float64) {
	bm.addCallRowNamed("Partner Center calls per cart", calls, n)
}

// addCallRowNamed: Partner Center calls per cart, by operation (every operation pcsim saw).
func (bm *benchmark) addCallRowNamed(metric string, calls map[string]int, n float64) {
	var parts []string
	total := 0
	ops := make([]string, 0, len(calls))
	for op := range calls {
		if op != "Token" {
			ops = append(ops, op)
		}
	}
	order := map[string]int{"CreateCart": 1, "GetCart": 2, "UpdateCart": 3, "Checkout": 4, "GetOrder": 5, "ListOrders": 6}
	sort.Slice(ops, func(i, j int) bool {
		oi, oj := cmp.Or(order[ops[i]], 99), cmp.Or(order[ops[j]], 99)
		return oi < oj || oi == oj && ops[i] < ops[j]
	})
	for _, op := range ops {
		if c := calls[op]; c > 0 {
			parts = append(parts, fmt.Sprintf("%s %.2f", op, float64(c)/n))
			total += c
		}
	}
	bm.add(metric, fmt.Sprintf("%.2f", float64(total)/n), strings.Join(parts, ", ")+fmt.Sprintf("; plus %d token requests in all", calls["Token"]))
}

// addAPIRows: API-server writes per cart, and where the reconcile time goes.
func (bm *benchmark) addAPIRows(sc *loadScrape, n float64, wall time.Duration) {
	metrics := sc.metrics
	events := len(sc.events.Items)
	writes, byMethod := apiWrites(metrics)
	reads := metrics.Sum("rest_client_requests_total", func(l map[string]string) bool { return l["method"] == "GET" })
	bm.add("API-server writes per cart", fmt.Sprintf("%.2f (%.2f without Events)", writes/n, (writes-float64(events))/n), byMethod+fmt.Sprintf("; %d Events (%.2f per cart, %.0f dropped: partnercart_events_dropped_total); GETs and LISTs %.2f per cart (see the next row)",
		events, float64(events)/n, metrics.Sum("partnercart_events_dropped_total", nil), reads/n))
	reconciles := metrics.Sum("controller_runtime_reconcile_time_seconds_count", isController)
	reconcileSecs := metrics.Sum("controller_runtime_reconcile_time_seconds_sum", isController)
	pcSecs := metrics.Sum("partnercenter_request_duration_seconds_sum", nil)
	queueSecs := metrics.Sum("workqueue_queue_duration_seconds_sum", isQueue)
	queued := metrics.Sum("workqueue_queue_duration_seconds_count", isQueue)
	if reconciles > 0 {
		bm.add("Where the reconcile time goes", fmt.Sprintf("%.0f reconciles (%.2f per cart), %s each on average", reconciles, reconciles/n, fmtDur(seconds(reconcileSecs/reconciles))),
			fmt.Sprintf("Partner Center calls %s, the rest (Kubernetes API calls, including client-side rate-limit waits) %s; items waited %s in the queue on average; the manager sent %.0f API requests/s (GET+PATCH+PUT+POST)",
				fmtDur(seconds(pcSecs/reconciles)), fmtDur(seconds((reconcileSecs-pcSecs)/reconciles)), fmtDur(seconds(queueSecs/max(queued, 1))),
				(writes+reads)/wall.Seconds()))
	}
}

// addResourceRows: the manager's memory and CPU, and the CPU of the whole stack.
func (bm *benchmark) addResourceRows(lr *loadRun, sc *loadScrape, n float64) {
	metrics, proc := sc.metrics, sc.proc
	bm.add("Manager peak RSS (VmHWM)", fmtMiB(proc.PeakRSS), fmt.Sprintf("Go heap at the end: %s allocated, %s in use (go_memstats_heap_alloc_bytes, _inuse_bytes); RSS now %s",
		fmtMiB(int64(metrics.Sum("go_memstats_heap_alloc_bytes", nil))), fmtMiB(int64(metrics.Sum("go_memstats_heap_inuse_bytes", nil))), fmtMiB(proc.RSS)))
	bm.add("Manager CPU (user+system)", fmt.Sprintf("%.1f s", proc.CPU.Seconds()), fmt.Sprintf("%.2f ms per cart", proc.CPU.Seconds()*1000/n))
	rssTarget := fmt.Sprintf("N=%d RSS under 150 MiB at default settings", tenK)
	switch {
	case bm.cfg.memLimit != "" || bm.cfg.kubeQPS > 0 || bm.cfg.workers != 16:
		bm.targets = append(bm.targets, row{rssTarget, fmt.Sprintf("%s at N=%d, not at default settings", fmtMiB(proc.PeakRSS), bm.cfg.n), "not measured"})
	case bm.cfg.n < tenK:
		bm.targets = append(bm.targets, row{rssTarget, fmt.Sprintf("%s at N=%d (BENCH_N=%d measures it)", fmtMiB(proc.PeakRSS), bm.cfg.n, tenK), "not measured"})
	default:
		bm.target(rssTarget, fmt.Sprintf("%s peak RSS at N=%d", fmtMiB(proc.PeakRSS), bm.cfg.n), proc.PeakRSS < 150<<20)
	}
	cpuParts := make([]string, 0, 5) // four processes and this program
	machine := lr.wall.Seconds() * float64(bm.ncpu)
	used := (lr.self1 - lr.self0).Seconds()
	for _, name := range []string{"kube-apiserver", "etcd", "manager", "pcsim"} {
		d := (lr.cpu1[name] - lr.cpu0[name]).Seconds()
		used += d
		cpuParts = append(cpuParts, fmt.Sprintf("%s %.1f s", name, d))
	}
	cpuParts = append(cpuParts, fmt.Sprintf("this program %.1f s", (lr.self1-lr.self0).Seconds()))
	bm.add("CPU of the whole stack, first create to last Ready", fmt.Sprintf("%.0f%% of %d CPUs", 100*used/machine, bm.ncpu),
		strings.Join(cpuParts, ", ")+fmt.Sprintf(" (of %.0f CPU-seconds available; other engineers' builds and tests also ran on this machine)", machine))
}

// addFloorRows: the floor upstream imposes, the operator's ratio to it, and the worker bound.
func (bm *benchmark) addFloorRows(wall time.Duration) {
	cfg := bm.cfg
	floor, floorNote := floorOf(cfg)
	bm.add("Floor (upstream latency and rate limit)", fmtDur(floor), floorNote)
	bm.add("Operator / floor", fmt.Sprintf("%.1f×", wall.Seconds()/floor.Seconds()), "")
	workerBound := time.Duration(float64(cfg.n) * 3 * float64(cfg.latency) / float64(cfg.workers))
	bm.add("Worker bound (informational)", fmtDur(workerBound+floor),
		fmt.Sprintf("N × 3 calls × latency / %d workers + floor: each worker waits out the upstream latency of its calls", cfg.workers))
}

// restartPhase is phase 2: restart the manager over N completed carts and count what it does.
func (bm *benchmark) restartPhase(ctx context.Context, s *stack) error {
	cfg, mgr := bm.cfg, s.mgr
	logf("restarting the manager over %d completed carts", cfg.n)
	if err := mgr.Stop(30 * time.Second); err != nil {
		return err
	}
	before, err := s.sim.Stats(ctx)
	if err != nil {
		return err
	}
	if err := mgr.Start(); err != nil {
		return err
	}
	start := mgr.Started()
	catchUp, restartMetrics, err := watchRestart(ctx, mgr, cfg.n, cfg.restartWindow)
	if err != nil {
		return err
	}
	after, err := s.sim.Stats(ctx)
	if err != nil {
		return err
	}
	restartProc, _ := harness.ReadProcStats(mgr.PID())
	delta := 0
	var deltaParts []string
	for op, c := range harness.Calls(after) {
		if d := c - harness.Calls(before)[op]; d > 0 {
			delta += d
			deltaParts = append(deltaParts, fmt.Sprintf("%s %d", op, d))
		}
	}
	sort.Strings(deltaParts)
	rw, rwBy := apiWrites(restartMetrics)
	catch := "did not catch up"
	if catchUp > 0 {
		catch = fmtDur(catchUp)
	}
	bm.add("Restart: Partner Center calls in the next "+cfg.restartWindow.String(), strconv.Itoa(delta), strings.Join(deltaParts, ", ")+" (target 0)")
	bm.add("Restart: time to catch up", catch, fmt.Sprintf("process start → workqueue_depth{name=\"partnercart\"} back to 0 after %d reconciles", cfg.n))
	bm.add("Restart: API-server writes in "+cfg.restartWindow.String(), fmt.Sprintf("%.0f", rw), rwBy)
	bm.add("Restart: manager peak RSS, CPU", fmt.Sprintf("%s, %.1f s", fmtMiB(restartProc.PeakRSS), restartProc.CPU.Seconds()),
		fmt.Sprintf("over %s; Go heap allocated %s at the end (the informer cache of %d PartnerCarts and Secret metadata)",
			fmtDur(time.Since(start)), fmtMiB(int64(restartMetrics.Sum("go_memstats_heap_alloc_bytes", nil))), cfg.n))
	_ = mgr.Stop(10 * time.Second)
	return nil
}

// baselinePhase is phase 3: the sequential baseline against the same pcsim, compared with
// phase 1's wall time.
func (bm *benchmark) baselinePhase(ctx context.Context, s *stack, wall time.Duration) error {
	cfg := bm.cfg
	sample := min(cfg.n, cfg.baselineSample)
	logf("sequential baseline over %d carts", sample)
	bStats0, err := s.sim.Stats(ctx)
	if err != nil {
		return err
	}
	bDur, err := baseline(ctx, s.sim.URL, cfg, sample)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	bStats1, err := s.sim.Stats(ctx)
	if err != nil {
		return err
	}
	bCalls := 0
	for op, c := range harness.Calls(bStats1) {
		if op != "Token" {
			bCalls += c - harness.Calls(bStats0)[op]
		}
	}
	extrapolated := time.Duration(float64(bDur) * float64(cfg.n) / float64(sample))
	note := fmt.Sprintf("one cart at a time: create, checkout, poll the order every %s until completed; internal/partnercenter HTTP client; %.2f calls per cart", cfg.poll, float64(bCalls)/float64(sample))
	if sample < cfg.n {
		note = fmt.Sprintf("measured on %d carts (%s) and extrapolated linearly to %d; ", sample, fmtDur(bDur), cfg.n) + note
	}
	bm.add("Sequential baseline", fmtDur(extrapolated), note)
	bm.add("Operator speed-up over the baseline", fmt.Sprintf("%.1f×", extrapolated.Seconds()/wall.Seconds()), "")
	return nil
}

// floorOf is the time upstream alone imposes for the minimal 3 calls per cart.
func floorOf(cfg config) (time.Duration, string) {
	critical := 3*cfg.latency + cfg.orderCompleteAfter
	if cfg.qps <= 0 {
		return critical, fmt.Sprintf("rate limit unlimited, so the critical path of one cart: 3 × %s + %s", cfg.latency, cfg.orderCompleteAfter)
	}
	rate := time.Duration(float64(cfg.n) * 3 / cfg.qps * float64(time.Second))
	return max(rate, critical), fmt.Sprintf("max(N × 3 / QPS = %s, 3 × %s + %s = %s)", fmtDur(rate), cfg.latency, cfg.orderCompleteAfter, fmtDur(critical))
}

// apiWrites sums the manager's non-GET API requests, with a breakdown by method.
func apiWrites(ms harness.Metrics) (float64, string) {
	var parts []string
	total := 0.0
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		v := ms.Sum("rest_client_requests_total", func(l map[string]string) bool { return l["method"] == m })
		if v > 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f", m, v))
		}
		total += v
	}
	return total, "rest_client_requests_total: " + strings.Join(parts, ", ")
}

// watchRestart polls the restarted manager's metrics until its queue has taken N carts and is
// empty again (catch-up), then until window has passed since its start. It returns the
// catch-up time (0 if never) and the last scrape.
func watchRestart(ctx context.Context, mgr *harness.Manager, n int, window time.Duration) (time.Duration, harness.Metrics, error) {
	start := mgr.Started()
	var catchUp time.Duration
	var last harness.Metrics
	for time.Since(start) < window {
		if ms, err := mgr.Metrics(ctx); err == nil {
			last = ms
			if catchUp == 0 && ms.Sum("workqueue_adds_total", isQueue) >= float64(n) && ms.Sum("workqueue_depth", isQueue) == 0 &&
				ms.Sum("controller_runtime_active_workers", isController) == 0 {
				catchUp = time.Since(start)
				logf("restarted manager caught up after %s", catchUp.Round(time.Millisecond))
			}
		}
		if done, err := mgr.Exited(); done {
			if err == nil {
				return 0, nil, fmt.Errorf("restarted manager exited: exit status 0; see %s", mgr.LogPath)
			}
			return 0, nil, fmt.Errorf("restarted manager exited: %w; see %s", err, mgr.LogPath)
		}
		select {
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if last == nil {
		return 0, nil, fmt.Errorf("could not scrape the restarted manager")
	}
	return catchUp, last, nil
}

// baseline buys `sample` carts one at a time with the real client: create, checkout, and
// poll each order until it is terminal.
func baseline(ctx context.Context, url string, cfg config, sample int) (time.Duration, error) {
	factory := partnercenter.NewFactory(partnercenter.Config{
		Endpoint: url, AuthorityHost: url, QPS: cfg.qps,
		HTTPClient: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}},
	})
	pc, err := factory.ClientFor(partnercenter.Credentials{TenantID: harness.TenantID, ClientID: harness.ClientID, ClientSecret: harness.ClientSecret})
	if err != nil {
		return 0, err
	}
	start := time.Now()
	for i := range sample {
		cart := &partnercenter.Cart{LineItems: []partnercenter.CartLineItem{{
			ID: 0, CatalogItemID: harness.ItemE5, Quantity: 25, BillingCycle: "monthly", TermDuration: "P1Y",
			FriendlyName: fmt.Sprintf("baseline %d", i),
		}}}
		created, err := pc.CreateCart(ctx, harness.CustomerID, cart, uuid.NewString())
		if err != nil {
			return 0, err
		}
		res, err := pc.Checkout(ctx, harness.CustomerID, created.ID, uuid.NewString())
		if err != nil {
			return 0, err
		}
		for _, o := range res.Orders {
			status := o.Status
			for !partnercenter.OrderStatusIsTerminal(status) {
				select {
				case <-ctx.Done():
					return 0, ctx.Err()
				case <-time.After(cfg.poll):
				}
				got, err := pc.GetOrder(ctx, harness.CustomerID, o.ID)
				if err != nil {
					return 0, err
				}
				status = got.Status
			}
		}
	}
	return time.Since(start), nil
}

// tracker records when each cart was created and when a watch first saw it Ready.
type tracker struct {
	n         int
	mu        sync.Mutex
	createdAt map[string]time.Time
	readyAt   map[string]time.Time
	stalled   map[string]string
	// modified counts, per cart, the watch's MODIFIED events: writes that changed the
	// object (a write that changes nothing bumps no resourceVersion and sends no event).
	modified map[string]int
	changed  chan struct{}
}

func newTracker(n int) *tracker {
	return &tracker{n: n, createdAt: map[string]time.Time{}, readyAt: map[string]time.Time{}, stalled: map[string]string{}, modified: map[string]int{}, changed: make(chan struct{}, 1)}
}

func (t *tracker) created(name string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.createdAt[name] = at
}

func (t *tracker) observe(c *pcv1alpha1.PartnerCart, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch harness.OutcomeOf(c) {
	case harness.Completed:
		if _, ok := t.readyAt[c.Name]; !ok {
			t.readyAt[c.Name] = at
		}
	case harness.Stalled:
		t.stalled[c.Name] = harness.Describe(c)
	}
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

// watch follows the namespace's PartnerCarts, re-listing whenever the watch ends.
func (t *tracker) watch(ctx context.Context, wc client.WithWatch, ns string) {
	for ctx.Err() == nil {
		list := &pcv1alpha1.PartnerCartList{}
		if err := wc.List(ctx, list, client.InNamespace(ns)); err != nil {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		now := time.Now()
		for i := range list.Items {
			t.observe(&list.Items[i], now)
		}
		w, err := wc.Watch(ctx, &pcv1alpha1.PartnerCartList{}, client.InNamespace(ns), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
		if err != nil {
			continue
		}
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error {
				break
			}
			if c, ok := ev.Object.(*pcv1alpha1.PartnerCart); ok {
				if ev.Type == watch.Modified {
					t.mu.Lock()
					t.modified[c.Name]++
					t.mu.Unlock()
				}
				t.observe(c, time.Now())
			}
		}
		w.Stop()
	}
}

// wait returns when every cart is Ready, or fails when one stalls or ctx ends.
func (t *tracker) wait(ctx context.Context, progress func(ready, failed int)) error {
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		t.mu.Lock()
		ready, stalled := len(t.readyAt), len(t.stalled)
		var example string
		for _, d := range t.stalled {
			example = d
			break
		}
		t.mu.Unlock()
		if stalled > 0 {
			return fmt.Errorf("%d carts stalled, e.g. %s", stalled, example)
		}
		if ready >= t.n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("only %d/%d carts Ready: %w", ready, t.n, ctx.Err())
		case <-tick.C:
			progress(ready, stalled)
		case <-t.changed:
		}
	}
}

func (t *tracker) lastReady() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	var last time.Time
	for _, at := range t.readyAt {
		if at.After(last) {
			last = at
		}
	}
	return last
}

func (t *tracker) latencies() []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]time.Duration, 0, len(t.readyAt))
	for name, at := range t.readyAt {
		if c, ok := t.createdAt[name]; ok {
			out = append(out, at.Sub(c))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// selfCPU is this program's own CPU time.
func selfCPU() time.Duration {
	ps, err := harness.ReadProcStats(os.Getpid())
	if err != nil {
		return 0
	}
	return ps.CPU
}

func isController(l map[string]string) bool { return l["controller"] == "partnercart" }

func isQueue(l map[string]string) bool { return l["name"] == "partnercart" }

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	default:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
}

func fmtMiB(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func qpsString(q float64) string {
	if q <= 0 {
		return "0 (unlimited)"
	}
	return strconv.FormatFloat(q, 'f', -1, 64)
}

func kubeQPSString(q float64) string {
	if q <= 0 {
		return "default (200, burst 400)"
	}
	return fmt.Sprintf("%g (burst %d)", q, int(2*q))
}

func envInt(key string, def int) int {
	if v := os.Getenv(key); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s=%q: %v\n", key, v, err)
			os.Exit(2)
		}
		return n
	}
	return def
}

func envFloat(key string, def float64) float64 {
	if v := os.Getenv(key); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s=%q: %v\n", key, v, err)
			os.Exit(2)
		}
		return f
	}
	return def
}

// envInts parses a comma-separated list of integers; an empty value is an empty list.
func envInts(key, def string) []int {
	v, ok := os.LookupEnv(key)
	if !ok {
		v = def
	}
	var out []int
	for f := range strings.SplitSeq(v, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "%s=%q: want positive integers\n", key, v)
			os.Exit(2)
		}
		out = append(out, n)
	}
	return out
}

func envDuration(key string, def time.Duration) time.Duration {
	if v := os.Getenv(key); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s=%q: %v\n", key, v, err)
			os.Exit(2)
		}
		return d
	}
	return def
}

// pcLatency is the manager's mean partnercenter_request_duration_seconds per operation.
func pcLatency(ms harness.Metrics) string {
	sums, counts := map[string]float64{}, map[string]float64{}
	for _, s := range ms {
		switch s.Name {
		case "partnercenter_request_duration_seconds_sum":
			sums[s.Labels["operation"]] += s.Value
		case "partnercenter_request_duration_seconds_count":
			counts[s.Labels["operation"]] += s.Value
		}
	}
	ops := make([]string, 0, len(counts))
	for op := range counts {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	parts := make([]string, 0, len(ops))
	for _, op := range ops {
		if counts[op] > 0 {
			parts = append(parts, fmt.Sprintf("%s %s", op, fmtDur(seconds(sums[op]/counts[op]))))
		}
	}
	return "manager's partnercenter_request_duration_seconds mean, pcsim's latency included: " + strings.Join(parts, ", ")
}
