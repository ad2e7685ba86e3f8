// Command chaos buys a few hundred approved carts through the real manager binary while
// Partner Center (pcsim) injects latency, 500s, 429s and connections dropped after commit,
// the manager is SIGKILLed and restarted at random moments, and kube-apiserver is stopped
// and restarted once. It then checks that nothing was bought twice or lost:
//
//   - every cart ends Completed, or Stalled with a message that explains why;
//   - pcsim counted no duplicate checkout;
//   - every order pcsim created appears in exactly one PartnerCart's status and in exactly one
//     receipt, and the receipt agrees with the cart;
//   - every cart pcsim checked out is the status.checkout.cartId of a PartnerCart (no checkout
//     without a persisted intent);
//   - neither the client secret nor a bearer token appears in the manager's logs, in events,
//     in PartnerCarts or in receipts.
//
// It prints one closing line. The same --seed gives the same cart mix, the same kill and
// restart schedule and the same pcsim fault sequence (concurrency still varies the order in
// which requests meet the faults).
//
//	go run ./test/chaos --seed 42      # or: make test-chaos CHAOS_SEED=42
//
// Needs bin/manager and bin/pcsim ('make build') and bin/k8s ('make control-plane').
// Everything it starts is killed when it exits; logs stay in tmp/chaos/.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/harness"
	"github.com/partnercart/partnercart-operator/internal/pcsim"
	"github.com/partnercart/partnercart-operator/internal/testenv"
)

type options struct {
	seed               int64
	carts, namespaces  int
	minKills, maxKills int
	timeout, createFor time.Duration
	killMin, killMax   time.Duration
	dir                string
	latency            time.Duration
	failRate           float64
	throttleRate       float64
	dropRate           float64
	orderCompleteAfter time.Duration
	managerLogLevel    string
}

func main() {
	var o options
	flag.Int64Var(&o.seed, "seed", 0, "seed of the cart mix, the chaos schedule and pcsim's faults (0: pick one and print it)")
	flag.IntVar(&o.carts, "carts", 200, "approved PartnerCarts to buy")
	flag.IntVar(&o.namespaces, "namespaces", 4, "namespaces the carts are spread over")
	flag.IntVar(&o.minKills, "kills", 10, "SIGKILLs of the manager (at least; more until 90% of the carts are done)")
	flag.IntVar(&o.maxKills, "max-kills", 30, "SIGKILLs of the manager (at most)")
	flag.DurationVar(&o.killMin, "kill-min", 500*time.Millisecond, "shortest manager life before a kill")
	flag.DurationVar(&o.killMax, "kill-max", 4*time.Second, "longest manager life before a kill")
	flag.DurationVar(&o.createFor, "create-over", 20*time.Second, "spread the cart creations over this long, so that kills meet work")
	flag.DurationVar(&o.timeout, "timeout", 7*time.Minute, "deadline of the whole run")
	flag.StringVar(&o.dir, "dir", filepath.Join(testenv.RepoRoot(), "tmp", "chaos"), "directory for logs (emptied first)")
	flag.DurationVar(&o.latency, "latency", 20*time.Millisecond, "pcsim --latency")
	flag.Float64Var(&o.failRate, "fail-rate", 0.1, "pcsim --fail-rate")
	flag.Float64Var(&o.throttleRate, "throttle-rate", 0.1, "pcsim --throttle-rate")
	flag.Float64Var(&o.dropRate, "drop-after-commit-rate", 0.05, "pcsim --drop-after-commit-rate")
	flag.DurationVar(&o.orderCompleteAfter, "order-complete-after", time.Second, "pcsim --order-complete-after")
	flag.StringVar(&o.managerLogLevel, "manager-log-level", "debug", "manager --zap-log-level (debug logs more, so the leak check sees more)")
	flag.Parse()
	if o.seed == 0 {
		o.seed = time.Now().UnixNano()%1_000_000 + 1
	}
	os.Exit(run(o))
}

// cartKind is what a cart buys and therefore how it must end.
type cartKind int

const (
	kindSimple       cartKind = iota // one E5 monthly line: one order, Completed
	kindTwoOrders                    // monthly E5 + annual Basic: two order groups, two orders, Completed
	kindOrderError                   // its order ends in "error": Stalled (OrdersFailed)
	kindPartialFail                  // monthly E5 + an annual line whose group fails: one order and an orderError
	kindCheckoutFail                 // its only order group fails: no order, Stalled (CheckoutFailed)
)

func (k cartKind) String() string {
	return [...]string{"simple", "two-orders", "order-error", "partial", "checkout-fail"}[k]
}

func pickKind(rng *rand.Rand) cartKind {
	switch p := rng.IntN(100); {
	case p < 70:
		return kindSimple
	case p < 85:
		return kindTwoOrders
	case p < 90:
		return kindOrderError
	case p < 95:
		return kindPartialFail
	default:
		return kindCheckoutFail
	}
}

func linesFor(k cartKind, rng *rand.Rand) []harness.Line {
	q := int32(1 + rng.IntN(50))
	monthly, annual := pcv1alpha1.BillingCycleMonthly, pcv1alpha1.BillingCycleAnnual
	switch k {
	case kindTwoOrders:
		return []harness.Line{{Item: harness.ItemE5, Quantity: q, BillingCycle: monthly}, {Item: harness.ItemBasic, Quantity: q, BillingCycle: annual}}
	case kindOrderError:
		return []harness.Line{{Item: harness.ItemOrderError, Quantity: q, BillingCycle: monthly}}
	case kindPartialFail:
		return []harness.Line{{Item: harness.ItemE5, Quantity: q, BillingCycle: monthly}, {Item: harness.ItemCheckoutFail, Quantity: q, BillingCycle: annual}}
	case kindCheckoutFail:
		return []harness.Line{{Item: harness.ItemCheckoutFail, Quantity: q, BillingCycle: monthly}}
	default:
		return []harness.Line{{Item: harness.ItemE5, Quantity: q, BillingCycle: monthly}}
	}
}

// progress is the poller's latest view of the carts.
type progress struct {
	mu       sync.Mutex
	terminal int
	carts    []pcv1alpha1.PartnerCart
	at       time.Time
}

func (p *progress) get() (int, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.terminal, p.at
}

// poll lists the carts every 500ms and records how many are terminal, until ctx ends.
func (p *progress) poll(ctx context.Context, c client.Client, namespaces []string) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		list, err := harness.ListCarts(ctx, c, namespaces)
		if err == nil {
			n := 0
			for i := range list {
				if harness.OutcomeOf(&list[i]) != harness.InFlight {
					n++
				}
			}
			p.mu.Lock()
			p.terminal, p.carts, p.at = n, list, time.Now()
			p.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

type chaosLog struct {
	kills, killsWithWork int
	startupExits         int
	unexpectedExits      []string
	apiRestarts          int
	apiDowntime          time.Duration
}

// chaosRun is one run: its options, the failures found so far, the chaos that was done and
// the figures the closing line reports.
type chaosRun struct {
	o           options
	start       time.Time
	failures    []string
	cl          chaosLog
	faultsTotal int
	faults      map[string]int
	dup, lost   int
	outcomes    [3]int
}

// stack is what a run starts: the control plane, pcsim and the manager.
type stack struct {
	cp         *harness.ControlPlane
	sim        *harness.Pcsim
	mgr        *harness.Manager
	namespaces []string
}

// plan is what the seed decides up front: the cart mix and the chaos schedule.
type plan struct {
	carts           []*pcv1alpha1.PartnerCart
	kinds           map[string]cartKind  // namespace/name -> kind
	life            func() time.Duration // a manager's life before the next kill
	apiRestartAfter int                  // restart kube-apiserver after this many kills
	apiDown         time.Duration        // for this long
}

// evidence is what the checks read once everything has converged.
type evidence struct {
	list     []pcv1alpha1.PartnerCart
	stats    *pcsim.Stats
	orders   []pcsim.OrderRecord
	receipts []corev1.ConfigMap
}

func run(o options) (code int) {
	r := &chaosRun{o: o, start: time.Now()}
	ctx, cancel := harness.HandleSignals(context.Background(), 15*time.Second)
	defer cancel()
	defer harness.KillAll()
	ctx, cancelDeadline := context.WithTimeout(ctx, o.timeout)
	defer cancelDeadline()
	// The closing line is printed however the run ends, after the control plane has stopped.
	defer func() { code = r.finish() }()
	r.execute(ctx)
	return code
}

func (r *chaosRun) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "chaos [%6.1fs] %s\n", time.Since(r.start).Seconds(), fmt.Sprintf(format, args...))
}

func (r *chaosRun) fail(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

// finish prints every failure and the closing line, and returns the exit code.
func (r *chaosRun) finish() int {
	verdict, code := "PASS", 0
	if len(r.failures) > 0 {
		verdict, code = "FAIL", 1
		for _, f := range r.failures {
			fmt.Fprintln(os.Stderr, "chaos: FAIL:", f)
		}
	}
	o, cl := r.o, r.cl
	fmt.Printf("chaos %s: seed=%d carts=%d (completed=%d stalled=%d unfinished=%d) manager-kills=%d (%d with carts in flight) "+
		"manager-exits-without-apiserver=%d apiserver-restarts=%d (down %s) faults-injected=%d (fail=%d throttle=%d drop-after-commit=%d) "+
		"duplicate-checkouts=%d lost-orders=%d wall=%s logs=%s\n",
		verdict, o.seed, o.carts, r.outcomes[harness.Completed], r.outcomes[harness.Stalled], r.outcomes[harness.InFlight],
		cl.kills, cl.killsWithWork, cl.startupExits, cl.apiRestarts, cl.apiDowntime.Round(100*time.Millisecond),
		r.faultsTotal, r.faults["fail"], r.faults["throttle"], r.faults["dropAfterCommit"], r.dup, r.lost,
		time.Since(r.start).Round(100*time.Millisecond), o.dir)
	return code
}

// execute runs the scenario: start everything, buy the carts through the chaos, check. A
// step that cannot go on records its failure and ends the run there.
func (r *chaosRun) execute(ctx context.Context) {
	rng := rand.New(rand.NewPCG(uint64(r.o.seed), 0x9e3779b97f4a7c15))
	if err := r.prepare(); err != nil {
		r.fail("%v", err)
		return
	}
	r.logf("seed %d: starting the control plane", r.o.seed)
	cp, err := harness.StartControlPlane(ctx, r.o.dir)
	if err != nil {
		r.fail("%v", err)
		return
	}
	defer cp.Stop()
	s, err := r.startStack(ctx, cp)
	if err != nil {
		r.fail("%v", err)
		return
	}
	p := r.drawPlan(rng, s.namespaces)
	if err := r.buy(ctx, s, p); err != nil {
		r.fail("%v", err)
		return
	}
	r.verify(s, p.kinds)
}

// prepare checks that the binaries are built and empties the log directory.
func (r *chaosRun) prepare() error {
	for _, bin := range []string{"manager", "pcsim"} {
		if _, err := os.Stat(harness.BinPath(bin)); err != nil {
			return fmt.Errorf("no %s: run 'make build' first", harness.BinPath(bin))
		}
	}
	_ = os.RemoveAll(r.o.dir)
	return os.MkdirAll(r.o.dir, 0o755)
}

// startStack creates the namespaces and starts pcsim, with its faults, and a ready manager.
func (r *chaosRun) startStack(ctx context.Context, cp *harness.ControlPlane) (*stack, error) {
	o := r.o
	s := &stack{cp: cp, namespaces: make([]string, o.namespaces)}
	for i := range s.namespaces {
		s.namespaces[i] = fmt.Sprintf("chaos-%d", i)
	}
	if err := harness.CreateNamespaces(ctx, cp.Client, s.namespaces...); err != nil {
		return nil, err
	}
	sim, err := harness.StartPcsim(ctx, o.dir,
		"--latency", o.latency.String(),
		"--fail-rate", fmt.Sprint(o.failRate), "--throttle-rate", fmt.Sprint(o.throttleRate),
		"--drop-after-commit-rate", fmt.Sprint(o.dropRate),
		"--order-complete-after", o.orderCompleteAfter.String(),
		"--seed", fmt.Sprint(o.seed))
	if err != nil {
		return nil, err
	}
	s.sim = sim
	s.mgr = harness.NewManager(harness.ManagerConfig{
		Dir: o.dir, Kubeconfig: cp.Kubeconfig, PartnerCenterURL: sim.URL,
		Flags: []string{
			"--order-poll-interval", "500ms", "--max-concurrent-reconciles", "16", "--partner-center-qps", "0",
			"--zap-log-level", o.managerLogLevel,
		},
	})
	if err := s.mgr.Start(); err != nil {
		return nil, err
	}
	if err := s.mgr.WaitReady(ctx, 60*time.Second); err != nil {
		return nil, err
	}
	return s, nil
}

// drawPlan draws the cart mix and the chaos schedule from the seed, in a fixed order.
func (r *chaosRun) drawPlan(rng *rand.Rand, namespaces []string) *plan {
	o := r.o
	p := &plan{kinds: map[string]cartKind{}, carts: make([]*pcv1alpha1.PartnerCart, o.carts)}
	for i := range p.carts {
		k := pickKind(rng)
		name := fmt.Sprintf("cart-%03d-%s", i, k)
		p.carts[i] = harness.NewCart(namespaces[i%len(namespaces)], name, linesFor(k, rng)...)
		p.kinds[p.carts[i].Namespace+"/"+name] = k
	}
	p.life = func() time.Duration { return o.killMin + time.Duration(rng.Int64N(int64(o.killMax-o.killMin)+1)) }
	p.apiRestartAfter = 2 + rng.IntN(max(1, o.minKills-3))
	p.apiDown = time.Second + time.Duration(rng.Int64N(int64(3*time.Second)))
	return p
}

// buy creates the carts while the chaos runs, then waits for every cart to end.
func (r *chaosRun) buy(ctx context.Context, s *stack, p *plan) error {
	r.logf("creating %d carts over %s in %d namespaces; pcsim at %s", r.o.carts, r.o.createFor, len(s.namespaces), s.sim.URL)
	createErr := r.createCarts(ctx, s.cp.Client, p.carts)

	prog := &progress{}
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	go prog.poll(pollCtx, s.cp.Client, s.namespaces)

	if err := r.chaos(ctx, s, p, prog); err != nil {
		return err
	}
	if err := <-createErr; err != nil {
		return fmt.Errorf("create carts: %w", err)
	}
	r.logf("chaos over; waiting for every cart to end")
	if err := r.converge(ctx, s.mgr, prog); err != nil {
		return err
	}
	stopPoll()
	r.logf("converged; checking")
	return nil
}

// createCarts creates the carts in the background, spread over createFor so that kills meet
// work, and sends the outcome on the returned channel.
func (r *chaosRun) createCarts(ctx context.Context, c client.Client, carts []*pcv1alpha1.PartnerCart) <-chan error {
	createErr := make(chan error, 1)
	go func() {
		pace := r.o.createFor / time.Duration(max(1, len(carts)))
		t0 := time.Now()
		for i, cart := range carts {
			if d := time.Until(t0.Add(time.Duration(i) * pace)); d > 0 {
				time.Sleep(d) // pacing the load, not synchronising an assertion
			}
			if err := harness.CreateWithRetry(ctx, c, cart); err != nil {
				createErr <- err
				return
			}
		}
		createErr <- nil
	}()
	return createErr
}

// restartIfExited restarts a manager that exited on its own, as the kubelet would. A manager
// that starts while kube-apiserver is down fails its setup and exits; that is expected. Any
// other exit counts against it.
func (r *chaosRun) restartIfExited(mgr *harness.Manager) error {
	if done, werr := mgr.Exited(); done && !mgr.Killed() {
		last := lastLine(mgr.LogPath)
		if strings.Contains(last, "connection refused") {
			r.cl.startupExits++
		} else {
			r.cl.unexpectedExits = append(r.cl.unexpectedExits, fmt.Sprintf("%s: %v: %s", filepath.Base(mgr.LogPath), werr, last))
		}
		r.logf("manager exited on its own (%v); restarting", werr)
		return mgr.Start()
	}
	return nil
}

// chaos kills the manager after each sampled life and restarts it at once, at least minKills
// times and on until most carts are done (at most maxKills); after the apiRestartAfter-th
// kill, it also stops kube-apiserver for apiDown and starts it again.
func (r *chaosRun) chaos(ctx context.Context, s *stack, p *plan, prog *progress) error {
	for i := 0; ; i++ {
		terminal, _ := prog.get()
		if i >= r.o.maxKills || (i >= r.o.minKills && r.cl.apiRestarts > 0 && terminal*10 >= r.o.carts*9) {
			return nil
		}
		life := p.life()
		select {
		case <-ctx.Done():
			return fmt.Errorf("deadline or signal during the chaos phase: %w", ctx.Err())
		case <-time.After(time.Until(s.mgr.Started().Add(life))):
		}
		if err := r.killManager(s.mgr, i+1, life, prog); err != nil {
			return err
		}
		if r.cl.kills == p.apiRestartAfter {
			if err := r.restartAPIServer(s.cp, p.apiDown); err != nil {
				return err
			}
		}
	}
}

// killManager is the nth kill: restart a manager that died by itself first, then SIGKILL it
// and start a new one at once.
func (r *chaosRun) killManager(mgr *harness.Manager, nth int, life time.Duration, prog *progress) error {
	if err := r.restartIfExited(mgr); err != nil {
		return fmt.Errorf("restart manager: %w", err)
	}
	terminal, _ := prog.get()
	if err := mgr.Kill(); err != nil {
		return fmt.Errorf("kill manager: %w", err)
	}
	r.cl.kills++
	if terminal < r.o.carts {
		r.cl.killsWithWork++
	}
	r.logf("SIGKILL %d of the manager after %s (%d/%d carts terminal)", nth, life.Round(time.Millisecond), terminal, r.o.carts)
	if err := mgr.Start(); err != nil {
		return fmt.Errorf("restart manager: %w", err)
	}
	return nil
}

// restartAPIServer stops kube-apiserver for down and starts it again.
func (r *chaosRun) restartAPIServer(cp *harness.ControlPlane, down time.Duration) error {
	r.logf("stopping kube-apiserver for %s", down.Round(time.Millisecond))
	t0 := time.Now()
	if err := cp.StopAPIServer(); err != nil {
		return fmt.Errorf("stop kube-apiserver: %w", err)
	}
	time.Sleep(down) // the outage itself, not synchronisation
	if err := cp.StartAPIServer(); err != nil {
		return fmt.Errorf("restart kube-apiserver: %w", err)
	}
	r.cl.apiRestarts++
	r.cl.apiDowntime = time.Since(t0)
	r.logf("kube-apiserver is back after %s", r.cl.apiDowntime.Round(time.Millisecond))
	return nil
}

// converge polls until every cart is terminal, restarting a manager that dies by itself. The
// deadline passing is a failure, but the checks still run.
func (r *chaosRun) converge(ctx context.Context, mgr *harness.Manager, prog *progress) error {
	lastLog := time.Now()
	for {
		if err := r.restartIfExited(mgr); err != nil {
			return fmt.Errorf("restart manager: %w", err)
		}
		terminal, at := prog.get()
		if terminal == r.o.carts && at.After(time.Now().Add(-2*time.Second)) {
			return nil
		}
		if time.Since(lastLog) > 10*time.Second {
			r.logf("%d/%d carts terminal", terminal, r.o.carts)
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			r.fail("deadline: only %d/%d carts terminal", terminal, r.o.carts)
			return nil
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// verify checks with fresh reads, after a graceful stop so the manager's logs are complete.
func (r *chaosRun) verify(s *stack, kinds map[string]cartKind) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.mgr.Stop(10 * time.Second); err != nil {
		r.fail("stop manager: %v", err)
	}
	for _, e := range r.cl.unexpectedExits {
		r.fail("the manager exited on its own: %s", e)
	}
	ev, err := gather(ctx, s)
	if err != nil {
		r.fail("%v", err)
		return
	}
	stats := ev.stats
	r.faults = stats.Faults
	for _, n := range stats.Faults {
		r.faultsTotal += n
	}
	r.dup = stats.DuplicateCheckouts

	checkOutcomes(ev.list, kinds, r.o.carts, &r.outcomes, r.fail)
	if stats.DuplicateCheckouts != 0 {
		r.fail("pcsim counted %d duplicate checkouts: %v", stats.DuplicateCheckouts, stats.OrdersPerCart)
	}
	r.lost = checkOrders(ev.list, ev.receipts, ev.orders, stats, r.fail)
	r.checkLeaks(ctx, s)

	calls := harness.Calls(stats)
	r.logf("Partner Center calls: %v; upstream carts created %d for %d PartnerCarts; replayed %d", sortedMap(calls), stats.CartsCreated, r.o.carts, stats.ReplayedRequests)
}

// gather reads the carts, pcsim's stats and orders, and the receipts.
func gather(ctx context.Context, s *stack) (*evidence, error) {
	var ev evidence
	var err error
	if ev.list, err = harness.ListCarts(ctx, s.cp.Client, s.namespaces); err != nil {
		return nil, fmt.Errorf("list carts: %w", err)
	}
	if ev.stats, err = s.sim.Stats(ctx); err != nil {
		return nil, err
	}
	if ev.orders, err = s.sim.Orders(ctx); err != nil {
		return nil, err
	}
	if ev.receipts, err = harness.ListReceipts(ctx, s.cp.Client, s.namespaces); err != nil {
		return nil, fmt.Errorf("list receipts: %w", err)
	}
	return &ev, nil
}

// checkLeaks: no secret or token in the manager's logs or in the cluster, and no panic.
func (r *chaosRun) checkLeaks(ctx context.Context, s *stack) {
	leaks, err := harness.ScanFiles(s.mgr.LogFiles()...)
	if err != nil {
		r.fail("scan logs: %v", err)
	}
	clusterLeaks, err := harness.ScanCluster(ctx, s.cp.Client, s.namespaces)
	if err != nil {
		r.fail("scan cluster: %v", err)
	}
	for _, l := range append(leaks, clusterLeaks...) {
		r.fail("secret or token leaked: %s", l)
	}
	for _, f := range s.mgr.LogFiles() {
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), "panic:") {
			r.fail("the manager panicked; see %s", f)
		}
	}
}

// checkOutcomes: every cart is terminal, and ends the way its content says it must.
func checkOutcomes(list []pcv1alpha1.PartnerCart, kinds map[string]cartKind, want int, outcomes *[3]int, fail func(string, ...any)) {
	if len(list) != want {
		fail("%d PartnerCarts exist, %d were created", len(list), want)
	}
	bad := 0
	report := func(format string, args ...any) {
		if bad++; bad <= 15 {
			fail(format, args...)
		}
	}
	for i := range list {
		c := &list[i]
		out := harness.OutcomeOf(c)
		outcomes[out]++
		kind := kinds[c.Namespace+"/"+c.Name]
		switch {
		case out == harness.InFlight:
			report("not terminal: %s", harness.Describe(c))
		case (kind == kindSimple || kind == kindTwoOrders) && out != harness.Completed:
			report("a %s cart, which nothing upstream refuses, did not complete: %s", kind, harness.Describe(c))
		case (kind == kindOrderError || kind == kindCheckoutFail) && out != harness.Stalled:
			report("a %s cart did not end Stalled: %s", kind, harness.Describe(c))
		}
	}
	if bad > 15 {
		fail("... and %d more carts", bad-15)
	}
}

// cartIndex looks PartnerCarts up by UID, by the orders in their status and by the upstream
// cart their checkout intent names. Carts are named namespace/name.
type cartIndex struct {
	byUID      map[string]*pcv1alpha1.PartnerCart
	inStatus   map[string][]string // order ID -> carts listing it
	intentCart map[string][]string // upstream cart ID -> PartnerCarts whose checkout names it
}

func indexCarts(list []pcv1alpha1.PartnerCart) *cartIndex {
	idx := &cartIndex{byUID: map[string]*pcv1alpha1.PartnerCart{}, inStatus: map[string][]string{}, intentCart: map[string][]string{}}
	for i := range list {
		c := &list[i]
		key := c.Namespace + "/" + c.Name
		idx.byUID[string(c.UID)] = c
		if c.Status.Checkout != nil {
			idx.intentCart[c.Status.Checkout.CartID] = append(idx.intentCart[c.Status.Checkout.CartID], key)
		}
		for _, o := range c.Status.Orders {
			idx.inStatus[o.ID] = append(idx.inStatus[o.ID], key)
		}
	}
	return idx
}

// checkOrders: every pcsim order is in exactly one cart's status and one receipt; receipts
// agree with their carts; every cart pcsim checked out is some PartnerCart's intent. It
// returns the number of lost orders (in no status or no receipt).
func checkOrders(list []pcv1alpha1.PartnerCart, receipts []corev1.ConfigMap, orders []pcsim.OrderRecord, stats *pcsim.Stats, fail func(string, ...any)) int {
	idx := indexCarts(list)
	inReceipt := checkReceipts(receipts, idx.byUID, fail)
	lost := checkOrderRecords(orders, idx, inReceipt, fail)
	checkUnknownOrders(orders, idx.inStatus, fail)
	checkCheckoutIntents(stats, idx.intentCart, fail)
	return lost
}

// checkReceipts: each receipt belongs to an existing PartnerCart with a checkout, agrees with
// it, and is its only receipt. It returns the receipts (namespace/name) by order ID.
func checkReceipts(receipts []corev1.ConfigMap, byUID map[string]*pcv1alpha1.PartnerCart, fail func(string, ...any)) map[string][]string {
	inReceipt := map[string][]string{}
	receiptsPerCart := map[string]int{}
	for _, r := range receipts {
		key := r.Namespace + "/" + r.Name
		for _, id := range harness.SplitOrderIDs(r.Data["orderIds"]) {
			inReceipt[id] = append(inReceipt[id], key)
		}
		uid := r.Labels["partnercenter.partnercart.dev/cart-uid"]
		receiptsPerCart[uid]++
		c := byUID[uid]
		if c == nil {
			fail("receipt %s names no existing PartnerCart (uid %q)", key, uid)
			continue
		}
		if c.Status.Checkout == nil {
			fail("receipt %s belongs to %s/%s, which has no checkout in status", key, c.Namespace, c.Name)
			continue
		}
		checkReceiptAgrees(key, r.Data, c, fail)
	}
	for uid, n := range receiptsPerCart {
		if n > 1 && byUID[uid] != nil {
			fail("%s/%s has %d receipts", byUID[uid].Namespace, byUID[uid].Name, n)
		}
	}
	return inReceipt
}

// checkReceiptAgrees: the receipt key (data) says what cart c's status and spec say; c has a
// checkout in status.
func checkReceiptAgrees(key string, data map[string]string, c *pcv1alpha1.PartnerCart, fail func(string, ...any)) {
	co := c.Status.Checkout
	ids := make([]string, 0, len(c.Status.Orders))
	for _, o := range c.Status.Orders {
		ids = append(ids, o.ID)
	}
	got := harness.SplitOrderIDs(data["orderIds"])
	slices.Sort(ids)
	slices.Sort(got)
	switch {
	case data["cartId"] != co.CartID:
		fail("receipt %s: cartId %q, status.checkout.cartId %q", key, data["cartId"], co.CartID)
	case data["customerId"] != c.Spec.CustomerID:
		fail("receipt %s: customerId %q, spec %q", key, data["customerId"], c.Spec.CustomerID)
	case data["checkoutRequestId"] != co.RequestID:
		fail("receipt %s: checkoutRequestId %q, status %q", key, data["checkoutRequestId"], co.RequestID)
	case !slices.Equal(ids, got):
		fail("receipt %s: orderIds %v, status orders %v", key, got, ids)
	}
}

// checkOrderRecords: each pcsim order is in exactly one cart's status and one receipt, and
// that cart's checkout intent is the only one naming the order's upstream cart. It returns
// the number of lost orders (in no status or no receipt).
func checkOrderRecords(orders []pcsim.OrderRecord, idx *cartIndex, inReceipt map[string][]string, fail func(string, ...any)) int {
	lost := 0
	for _, o := range orders {
		holders := idx.inStatus[o.OrderID]
		switch len(holders) {
		case 0:
			lost++
			fail("order %s (cart %s) is in no PartnerCart's status", o.OrderID, o.CartID)
			continue
		case 1:
		default:
			fail("order %s is in %d PartnerCarts' status: %v", o.OrderID, len(holders), holders)
		}
		if rs := inReceipt[o.OrderID]; len(rs) != 1 {
			if len(rs) == 0 {
				lost++
			}
			fail("order %s (cart %s, in %v) is in %d receipts %v", o.OrderID, o.CartID, holders, len(rs), rs)
		}
		if owners := idx.intentCart[o.CartID]; len(owners) != 1 || !slices.Contains(owners, holders[0]) {
			fail("order %s of upstream cart %s is recorded by %v, but the checkout intents naming that cart are %v", o.OrderID, o.CartID, holders, owners)
		}
	}
	return lost
}

// checkUnknownOrders: no cart's status lists an order pcsim never created.
func checkUnknownOrders(orders []pcsim.OrderRecord, inStatus map[string][]string, fail func(string, ...any)) {
	known := make(map[string]bool, len(orders))
	for _, o := range orders {
		known[o.OrderID] = true
	}
	for id, holders := range inStatus {
		if !known[id] {
			fail("%v records order %s, which pcsim never created", holders, id)
		}
	}
}

// checkCheckoutIntents: every cart pcsim checked out is the persisted checkout intent of some
// PartnerCart.
func checkCheckoutIntents(stats *pcsim.Stats, intentCart map[string][]string, fail func(string, ...any)) {
	checkedOut := map[string]bool{}
	for id := range stats.CheckoutsExecuted {
		checkedOut[id] = true
	}
	for id := range stats.OrdersPerCart {
		checkedOut[id] = true
	}
	for id := range checkedOut {
		if len(intentCart[id]) == 0 {
			fail("pcsim checked out cart %s, but no PartnerCart has a persisted checkout intent for it", id)
		}
	}
}

// lastLine is the last non-empty line of a file, cut to 300 bytes.
func lastLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	l := lines[len(lines)-1]
	if len(l) > 300 {
		l = l[:300]
	}
	return l
}

func sortedMap(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s=%d", k, m[k])
	}
	return b.String()
}
