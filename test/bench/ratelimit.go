package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/partnercart/partnercart-operator/internal/harness"
)

// rateLimitNamespace holds the rate-limited phase's carts.
const rateLimitNamespace = "bench-rl"

// rateLimitPhase buys cfg.rlN carts from a second pcsim that enforces a per-partner-tenant
// budget of cfg.rateLimit requests per minute, far below what the manager would send, with
// a fresh manager whose client-side limit is cfg.rlQPS. It reports the share of the budget
// used, the 429s and the time against the rate floor.
func (bm *benchmark) rateLimitPhase(ctx context.Context, cp *harness.ControlPlane) error {
	cfg := bm.cfg
	dir := filepath.Join(cfg.dir, "ratelimit")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := harness.CreateNamespaces(ctx, cp.Client, rateLimitNamespace); err != nil {
		return err
	}
	logf("rate-limited phase: pcsim --rate-limit %d/min, manager --partner-center-qps %g", cfg.rateLimit, cfg.rlQPS)
	sim, err := harness.StartPcsim(ctx, dir, "--latency", cfg.latency.String(), "--order-complete-after", cfg.orderCompleteAfter.String(),
		"--rate-limit", strconv.Itoa(cfg.rateLimit))
	if err != nil {
		return err
	}
	defer func() { _ = sim.Stop(10 * time.Second) }()
	flags := []string{
		"--order-poll-interval", cfg.poll.String(),
		"--max-concurrent-reconciles", strconv.Itoa(cfg.workers),
		"--partner-center-qps", strconv.FormatFloat(cfg.rlQPS, 'f', -1, 64),
	}
	if cfg.rlBurst > 0 {
		flags = append(flags, "--partner-center-burst", strconv.Itoa(cfg.rlBurst))
	}
	if cfg.kubeQPS > 0 {
		flags = append(flags, "--kube-api-qps", strconv.FormatFloat(cfg.kubeQPS, 'f', -1, 64), "--kube-api-burst", strconv.Itoa(int(2*cfg.kubeQPS)))
	}
	mgr := harness.NewManager(harness.ManagerConfig{Name: "manager-rl", Dir: dir, Kubeconfig: cp.Kubeconfig, PartnerCenterURL: sim.URL, Flags: flags})
	if err := mgr.Start(); err != nil {
		return err
	}
	defer func() { _ = mgr.Stop(10 * time.Second) }()
	if err := mgr.WaitReady(ctx, time.Minute); err != nil {
		return err
	}
	lr, err := bm.buyAll(ctx, cp, nil, rateLimitNamespace, cfg.rlN)
	if err != nil {
		return fmt.Errorf("rate-limited phase: %w", err)
	}
	st, err := sim.Stats(ctx)
	if err != nil {
		return err
	}
	admitted, refused := 0, 0
	for op, byStatus := range st.Requests {
		if op == "Token" {
			continue
		}
		for status, c := range byStatus {
			if status == http.StatusTooManyRequests {
				refused += c
			} else {
				admitted += c
			}
		}
	}
	n := float64(cfg.rlN)
	perSec := float64(cfg.rateLimit) / 60
	budget := perSec * lr.wall.Seconds()
	minFloor := seconds(n * 3 / perSec)
	callFloor := seconds(float64(admitted) / perSec)
	bm.add("Rate-limited: setup", fmt.Sprintf("N=%d, pcsim --rate-limit %d/min per partner tenant", cfg.rlN, cfg.rateLimit),
		fmt.Sprintf("manager --partner-center-qps %g, --partner-center-burst %s (a window of 60 s admits at most 60 × QPS + burst = %.0f); same latency, order completion, workers and poll interval as above; its own pcsim and manager",
			cfg.rlQPS, burstString(cfg.rlBurst, cfg.rlQPS), 60*cfg.rlQPS+float64(effectiveBurst(cfg.rlBurst, cfg.rlQPS))))
	bm.add("Rate-limited: wall time, first create to last Ready", fmtDur(lr.wall),
		fmt.Sprintf("%.2f× the rate floor N × 3 calls / budget = %s; %.2f× N × %.2f calls actually made / budget = %s; p50 latency %s",
			lr.wall.Seconds()/minFloor.Seconds(), fmtDur(minFloor), lr.wall.Seconds()/callFloor.Seconds(), float64(admitted)/n, fmtDur(callFloor), fmtDur(pct(lr.tr.latencies(), 50))))
	bm.add("Rate-limited: share of the budget used", fmt.Sprintf("%.1f%%", 100*float64(admitted)/budget),
		fmt.Sprintf("%d calls admitted over %s, budget %.0f in that time (target ≥ 90%%)", admitted, fmtDur(lr.wall), budget))
	bm.add("Rate-limited: 429s received", strconv.Itoa(refused), fmt.Sprintf("pcsim rateLimited %d (target 0)", st.RateLimited))
	used := 100 * float64(admitted) / budget
	bm.target(fmt.Sprintf("Rate limit binding (%d/min, N=%d): ≥ 90%% of the budget used, 0 429s", cfg.rateLimit, cfg.rlN),
		fmt.Sprintf("%.1f%%, %d 429s; %s = %.2f× the floor of the %.2f calls made per cart", used, refused, fmtDur(lr.wall),
			lr.wall.Seconds()/callFloor.Seconds(), float64(admitted)/n), used >= 90 && refused == 0)
	calls := harness.Calls(st)
	bm.addCallRowNamed("Rate-limited: Partner Center calls per cart", calls, n)
	return nil
}

func effectiveBurst(burst int, qps float64) int {
	if burst > 0 {
		return burst
	}
	return max(1, int(qps+0.999999))
}

func burstString(burst int, qps float64) string {
	if burst > 0 {
		return strconv.Itoa(burst)
	}
	return fmt.Sprintf("default (%d)", effectiveBurst(0, qps))
}
