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

	"github.com/partnercart/partnercart-operator/api/v1alpha1"
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
	monthly, annual := v1alpha1.BillingCycleMonthly, v1alpha1.BillingCycleAnnual
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
	carts    []v1alpha1.PartnerCart
	at       time.Time
}

func (p *progress) get() (int, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.terminal, p.at
}

type chaosLog struct {
	kills, killsWithWork int
	startupExits         int
	unexpectedExits      []string
	apiRestarts          int
	apiDowntime          time.Duration
}

func run(o options) (code int) {
	start := time.Now()
	ctx, cancel := harness.HandleSignals(context.Background(), 15*time.Second)
	defer cancel()
	defer harness.KillAll()
	ctx, cancelDeadline := context.WithTimeout(ctx, o.timeout)
	defer cancelDeadline()

	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "chaos [%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	var failures []string
	fail := func(format string, args ...any) { failures = append(failures, fmt.Sprintf(format, args...)) }
	var cl chaosLog
	var faultsTotal int
	var faults map[string]int
	var dup, lost int
	var outcomes [3]int
	defer func() {
		verdict := "PASS"
		if len(failures) > 0 {
			verdict = "FAIL"
			code = 1
			for _, f := range failures {
				fmt.Fprintln(os.Stderr, "chaos: FAIL:", f)
			}
		}
		fmt.Printf("chaos %s: seed=%d carts=%d (completed=%d stalled=%d unfinished=%d) manager-kills=%d (%d with carts in flight) "+
			"manager-exits-without-apiserver=%d apiserver-restarts=%d (down %s) faults-injected=%d (fail=%d throttle=%d drop-after-commit=%d) "+
			"duplicate-checkouts=%d lost-orders=%d wall=%s logs=%s\n",
			verdict, o.seed, o.carts, outcomes[harness.Completed], outcomes[harness.Stalled], outcomes[harness.InFlight],
			cl.kills, cl.killsWithWork, cl.startupExits, cl.apiRestarts, cl.apiDowntime.Round(100*time.Millisecond),
			faultsTotal, faults["fail"], faults["throttle"], faults["dropAfterCommit"], dup, lost,
			time.Since(start).Round(100*time.Millisecond), o.dir)
	}()

	rng := rand.New(rand.NewPCG(uint64(o.seed), 0x9e3779b97f4a7c15))
	for _, bin := range []string{"manager", "pcsim"} {
		if _, err := os.Stat(harness.BinPath(bin)); err != nil {
			fail("no %s: run 'make build' first", harness.BinPath(bin))
			return
		}
	}
	_ = os.RemoveAll(o.dir)
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		fail("%v", err)
		return
	}

	logf("seed %d: starting the control plane", o.seed)
	cp, err := harness.StartControlPlane(ctx, o.dir)
	if err != nil {
		fail("%v", err)
		return
	}
	defer cp.Stop()
	namespaces := make([]string, o.namespaces)
	for i := range namespaces {
		namespaces[i] = fmt.Sprintf("chaos-%d", i)
	}
	if err := harness.CreateNamespaces(ctx, cp.Client, namespaces...); err != nil {
		fail("%v", err)
		return
	}

	sim, err := harness.StartPcsim(ctx, o.dir,
		"--latency", o.latency.String(),
		"--fail-rate", fmt.Sprint(o.failRate), "--throttle-rate", fmt.Sprint(o.throttleRate),
		"--drop-after-commit-rate", fmt.Sprint(o.dropRate),
		"--order-complete-after", o.orderCompleteAfter.String(),
		"--seed", fmt.Sprint(o.seed))
	if err != nil {
		fail("%v", err)
		return
	}
	mgr := harness.NewManager(harness.ManagerConfig{
		Dir: o.dir, Kubeconfig: cp.Kubeconfig, PartnerCenterURL: sim.URL,
		Flags: []string{
			"--order-poll-interval", "500ms", "--max-concurrent-reconciles", "16", "--partner-center-qps", "0",
			"--zap-log-level", o.managerLogLevel,
		},
	})
	if err := mgr.Start(); err != nil {
		fail("%v", err)
		return
	}
	if err := mgr.WaitReady(ctx, 60*time.Second); err != nil {
		fail("%v", err)
		return
	}

	// The cart mix and the chaos schedule come from the seed, drawn up front.
	kinds := map[string]cartKind{}
	carts := make([]*v1alpha1.PartnerCart, o.carts)
	for i := range carts {
		k := pickKind(rng)
		name := fmt.Sprintf("cart-%03d-%s", i, k)
		carts[i] = harness.NewCart(namespaces[i%len(namespaces)], name, linesFor(k, rng)...)
		kinds[carts[i].Namespace+"/"+name] = k
	}
	life := func() time.Duration { return o.killMin + time.Duration(rng.Int64N(int64(o.killMax-o.killMin)+1)) }
	apiRestartAfter := 2 + rng.IntN(max(1, o.minKills-3)) // after this many kills
	apiDown := time.Second + time.Duration(rng.Int64N(int64(3*time.Second)))

	logf("creating %d carts over %s in %d namespaces; pcsim at %s", o.carts, o.createFor, len(namespaces), sim.URL)
	createErr := make(chan error, 1)
	go func() {
		pace := o.createFor / time.Duration(max(1, len(carts)))
		t0 := time.Now()
		for i, c := range carts {
			if d := time.Until(t0.Add(time.Duration(i) * pace)); d > 0 {
				time.Sleep(d) // pacing the load, not synchronising an assertion
			}
			if err := harness.CreateWithRetry(ctx, cp.Client, c); err != nil {
				createErr <- err
				return
			}
		}
		createErr <- nil
	}()

	prog := &progress{}
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	go func() {
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			list, err := harness.ListCarts(pollCtx, cp.Client, namespaces)
			if err == nil {
				n := 0
				for i := range list {
					if harness.OutcomeOf(&list[i]) != harness.InFlight {
						n++
					}
				}
				prog.mu.Lock()
				prog.terminal, prog.carts, prog.at = n, list, time.Now()
				prog.mu.Unlock()
			}
			select {
			case <-pollCtx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	// restartIfExited restarts a manager that exited on its own, as the kubelet would. A
	// manager that starts while kube-apiserver is down fails its setup and exits; that is
	// expected. Any other exit counts against it.
	restartIfExited := func() error {
		if done, werr := mgr.Exited(); done && !mgr.Killed() {
			last := lastLine(mgr.LogPath)
			if strings.Contains(last, "connection refused") {
				cl.startupExits++
			} else {
				cl.unexpectedExits = append(cl.unexpectedExits, fmt.Sprintf("%s: %v: %s", filepath.Base(mgr.LogPath), werr, last))
			}
			logf("manager exited on its own (%v); restarting", werr)
			return mgr.Start()
		}
		return nil
	}

	// The chaos: kill the manager after each sampled life and restart it at once, at least
	// minKills times and on until most carts are done (at most maxKills); after the
	// apiRestartAfter-th kill, also stop kube-apiserver for apiDown and start it again.
	for i := 0; ; i++ {
		terminal, _ := prog.get()
		if i >= o.maxKills || (i >= o.minKills && cl.apiRestarts > 0 && terminal*10 >= o.carts*9) {
			break
		}
		life := life()
		select {
		case <-ctx.Done():
			fail("deadline or signal during the chaos phase: %v", ctx.Err())
			return
		case <-time.After(time.Until(mgr.Started().Add(life))):
		}
		if err := restartIfExited(); err != nil {
			fail("restart manager: %v", err)
			return
		}
		terminal, _ = prog.get()
		if err := mgr.Kill(); err != nil {
			fail("kill manager: %v", err)
			return
		}
		cl.kills++
		if terminal < o.carts {
			cl.killsWithWork++
		}
		logf("SIGKILL %d of the manager after %s (%d/%d carts terminal)", i+1, life.Round(time.Millisecond), terminal, o.carts)
		if err := mgr.Start(); err != nil {
			fail("restart manager: %v", err)
			return
		}
		if cl.kills == apiRestartAfter {
			logf("stopping kube-apiserver for %s", apiDown.Round(time.Millisecond))
			t0 := time.Now()
			if err := cp.StopAPIServer(); err != nil {
				fail("stop kube-apiserver: %v", err)
				return
			}
			time.Sleep(apiDown) // the outage itself, not synchronisation
			if err := cp.StartAPIServer(); err != nil {
				fail("restart kube-apiserver: %v", err)
				return
			}
			cl.apiRestarts++
			cl.apiDowntime = time.Since(t0)
			logf("kube-apiserver is back after %s", cl.apiDowntime.Round(time.Millisecond))
		}
	}
	if err := <-createErr; err != nil {
		fail("create carts: %v", err)
		return
	}
	logf("chaos over; waiting for every cart to end")

	// Converge: poll until every cart is terminal, restarting a manager that dies by itself.
	lastLog := time.Now()
	for {
		if err := restartIfExited(); err != nil {
			fail("restart manager: %v", err)
			return
		}
		terminal, at := prog.get()
		if terminal == o.carts && at.After(time.Now().Add(-2*time.Second)) {
			break
		}
		if time.Since(lastLog) > 10*time.Second {
			logf("%d/%d carts terminal", terminal, o.carts)
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			fail("deadline: only %d/%d carts terminal", terminal, o.carts)
		case <-time.After(250 * time.Millisecond):
			continue
		}
		break
	}
	stopPoll()
	logf("converged; checking")

	// Check with fresh reads, after a graceful stop so the manager's logs are complete.
	checkCtx, cancelCheck := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancelCheck()
	if err := mgr.Stop(10 * time.Second); err != nil {
		fail("stop manager: %v", err)
	}
	for _, e := range cl.unexpectedExits {
		fail("the manager exited on its own: %s", e)
	}
	list, err := harness.ListCarts(checkCtx, cp.Client, namespaces)
	if err != nil {
		fail("list carts: %v", err)
		return
	}
	stats, err := sim.Stats(checkCtx)
	if err != nil {
		fail("%v", err)
		return
	}
	orders, err := sim.Orders(checkCtx)
	if err != nil {
		fail("%v", err)
		return
	}
	receipts, err := harness.ListReceipts(checkCtx, cp.Client, namespaces)
	if err != nil {
		fail("list receipts: %v", err)
		return
	}
	faults = stats.Faults
	for _, n := range stats.Faults {
		faultsTotal += n
	}
	dup = stats.DuplicateCheckouts

	checkOutcomes(list, kinds, o.carts, &outcomes, fail)
	if stats.DuplicateCheckouts != 0 {
		fail("pcsim counted %d duplicate checkouts: %v", stats.DuplicateCheckouts, stats.OrdersPerCart)
	}
	lost = checkOrders(list, receipts, orders, stats, fail)

	leaks, err := harness.ScanFiles(mgr.LogFiles()...)
	if err != nil {
		fail("scan logs: %v", err)
	}
	clusterLeaks, err := harness.ScanCluster(checkCtx, cp.Client, namespaces)
	if err != nil {
		fail("scan cluster: %v", err)
	}
	for _, l := range append(leaks, clusterLeaks...) {
		fail("secret or token leaked: %s", l)
	}
	for _, f := range mgr.LogFiles() {
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), "panic:") {
			fail("the manager panicked; see %s", f)
		}
	}
	calls := harness.Calls(stats)
	logf("Partner Center calls: %v; upstream carts created %d for %d PartnerCarts; replayed %d", sortedMap(calls), stats.CartsCreated, o.carts, stats.ReplayedRequests)
	return
}

// checkOutcomes: every cart is terminal, and ends the way its content says it must.
func checkOutcomes(list []v1alpha1.PartnerCart, kinds map[string]cartKind, want int, outcomes *[3]int, fail func(string, ...any)) {
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

// checkOrders: every pcsim order is in exactly one cart's status and one receipt; receipts
// agree with their carts; every cart pcsim checked out is some PartnerCart's intent. It
// returns the number of lost orders (in no status or no receipt).
func checkOrders(list []v1alpha1.PartnerCart, receipts []corev1.ConfigMap, orders []pcsim.OrderRecord, stats *pcsim.Stats, fail func(string, ...any)) int {
	inStatus := map[string][]string{}   // order ID -> carts listing it
	intentCart := map[string][]string{} // upstream cart ID -> PartnerCarts whose checkout names it
	byUID := map[string]*v1alpha1.PartnerCart{}
	for i := range list {
		c := &list[i]
		key := c.Namespace + "/" + c.Name
		byUID[string(c.UID)] = c
		if c.Status.Checkout != nil {
			intentCart[c.Status.Checkout.CartID] = append(intentCart[c.Status.Checkout.CartID], key)
		}
		for _, o := range c.Status.Orders {
			inStatus[o.ID] = append(inStatus[o.ID], key)
		}
	}
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
		co := c.Status.Checkout
		if co == nil {
			fail("receipt %s belongs to %s/%s, which has no checkout in status", key, c.Namespace, c.Name)
			continue
		}
		var ids []string
		for _, o := range c.Status.Orders {
			ids = append(ids, o.ID)
		}
		got := harness.SplitOrderIDs(r.Data["orderIds"])
		slices.Sort(ids)
		slices.Sort(got)
		switch {
		case r.Data["cartId"] != co.CartID:
			fail("receipt %s: cartId %q, status.checkout.cartId %q", key, r.Data["cartId"], co.CartID)
		case r.Data["customerId"] != c.Spec.CustomerID:
			fail("receipt %s: customerId %q, spec %q", key, r.Data["customerId"], c.Spec.CustomerID)
		case r.Data["checkoutRequestId"] != co.RequestID:
			fail("receipt %s: checkoutRequestId %q, status %q", key, r.Data["checkoutRequestId"], co.RequestID)
		case !slices.Equal(ids, got):
			fail("receipt %s: orderIds %v, status orders %v", key, got, ids)
		}
	}
	for uid, n := range receiptsPerCart {
		if n > 1 && byUID[uid] != nil {
			fail("%s/%s has %d receipts", byUID[uid].Namespace, byUID[uid].Name, n)
		}
	}

	lost := 0
	known := map[string]bool{}
	for _, o := range orders {
		known[o.OrderID] = true
		holders := inStatus[o.OrderID]
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
		if owners := intentCart[o.CartID]; len(owners) != 1 || !slices.Contains(owners, holders[0]) {
			fail("order %s of upstream cart %s is recorded by %v, but the checkout intents naming that cart are %v", o.OrderID, o.CartID, holders, owners)
		}
	}
	for id, holders := range inStatus {
		if !known[id] {
			fail("%v records order %s, which pcsim never created", holders, id)
		}
	}
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
	return lost
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
