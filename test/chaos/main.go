// Command chaos buys a few hundred approved carts through the real manager binary while
// Partner Center (pcsim) injects latency, 500s, 429s and connections dropped after commit,
// the manager is killed (SIGKILL, or SIGTERM and a graceful shutdown) and restarted at random
// moments, a second manager runs without leader election alongside it for part of the run,
// kube-apiserver is stopped and restarted once, about 10% of the carts have their approval
// revoked at random moments, and about 10% are deleted and re-applied after they complete
// (same name and spec, new UID: an Argo CD prune and re-sync). It then checks that nothing
// was bought twice, lost, or bought without approval:
//
//   - every cart ends Completed, or Stalled with a message that explains why; a cart whose
//     approval was revoked before any checkout intent ends AwaitingApproval with nothing
//     bought; a re-applied cart ends Stalled with reason PreviouslyPurchased and no checkout;
//   - pcsim counted no duplicate checkout;
//   - every order pcsim created appears in exactly one PartnerCart's status (a deleted
//     object's last status counts) and in exactly one receipt, and the receipt agrees with
//     the cart;
//   - every cart pcsim checked out is the checkout intent (current or in history) of a
//     PartnerCart (no checkout without a persisted intent);
//   - unapproved-purchases: no purchase (the orders of one upstream cart) holds a line that
//     is not in the spec the harness approved, none comes from an intent started after the
//     acknowledged revoke of its cart's approval, and none is in a cart no object recorded an
//     intent for; and no intent at all was persisted after a revoke;
//   - repurchases: no namespace/name has orders from more than one upstream cart;
//   - a manager sent SIGTERM exits within its graceful shutdown timeout;
//   - neither the client secret nor a bearer token appears in the managers' logs, in events,
//     in PartnerCarts or in receipts.
//
// It prints one closing line. The same --seed gives the same cart mix, the same kill,
// restart, revoke, re-apply and second-manager schedule and the same pcsim fault sequence
// (concurrency still varies the order in which requests meet the faults, and which state a
// revoke or a kill meets).
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
	"sort"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/harness"
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
	checkoutDuration   time.Duration
	checkoutTimeout    time.Duration
	managerLogLevel    string
	sigtermRate        float64
	revokeRate         float64
	revokeWithin       time.Duration
	reapplyRate        float64
	secondManager      bool
}

func main() {
	var o options
	flag.Int64Var(&o.seed, "seed", 0, "seed of the cart mix, the chaos schedule and pcsim's faults (0: pick one and print it)")
	flag.IntVar(&o.carts, "carts", 200, "approved PartnerCarts to buy")
	flag.IntVar(&o.namespaces, "namespaces", 4, "namespaces the carts are spread over")
	flag.IntVar(&o.minKills, "kills", 10, "kills of the manager (at least; more until 90% of the carts are done)")
	flag.IntVar(&o.maxKills, "max-kills", 30, "kills of the manager (at most)")
	flag.Float64Var(&o.sigtermRate, "sigterm-rate", 0.35, "share of the kills that are a SIGTERM (a graceful shutdown) rather than a SIGKILL")
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
	flag.DurationVar(&o.checkoutDuration, "checkout-duration", 200*time.Millisecond, "pcsim --checkout-duration: how long a checkout holds its cart, so that kills meet checkouts in flight")
	flag.DurationVar(&o.checkoutTimeout, "checkout-timeout", 5*time.Second,
		"manager --partner-center-checkout-timeout: another manager process repeats a killed one's checkout only this long (plus 30s) after it")
	flag.StringVar(&o.managerLogLevel, "manager-log-level", "debug", "manager --zap-log-level (debug logs more, so the leak check sees more)")
	flag.Float64Var(&o.revokeRate, "revoke-rate", 0.1, "share of the carts whose approval is revoked at a random moment")
	flag.DurationVar(&o.revokeWithin, "revoke-within", 6*time.Second, "a revoke comes at most this long after the cart's creation is due")
	flag.Float64Var(&o.reapplyRate, "reapply-rate", 0.1, "share of the carts deleted and re-applied (same name and spec) once Completed")
	flag.BoolVar(&o.secondManager, "second-manager", true, "run a second manager without leader election alongside the first for part of the run")
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

// completes reports whether a cart of this kind must end Completed.
func (k cartKind) completes() bool { return k == kindSimple || k == kindTwoOrders }

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
	pending  int // carts whose checkout outcome is Pending: a checkout may be in flight
	carts    []pcv1alpha1.PartnerCart
	at       time.Time
}

func (p *progress) get() (int, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.terminal, p.at
}

// checkoutsPending is how many carts had a Pending checkout at the last poll.
func (p *progress) checkoutsPending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pending
}

// snapshot is the last list of carts (shared: read only).
func (p *progress) snapshot() []pcv1alpha1.PartnerCart {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.carts
}

// poll lists the carts every 500ms and records how many are terminal, until ctx ends.
func (p *progress) poll(ctx context.Context, c client.Client, namespaces []string) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		list, err := harness.ListCarts(ctx, c, namespaces)
		if err == nil {
			n, pending := 0, 0
			for i := range list {
				if harness.OutcomeOf(&list[i]) != harness.InFlight {
					n++
				}
				if co := list[i].Status.Checkout; co != nil && co.Outcome == pcv1alpha1.CheckoutPending {
					pending++
				}
			}
			p.mu.Lock()
			p.terminal, p.pending, p.carts, p.at = n, pending, list, time.Now()
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
	kills, killsWithWork    int
	sigterms, sigtermsInCko int // SIGTERMs, and those sent while checkouts were pending
	slowestShutdown         time.Duration
	startupExits            int
	unexpectedExits         []string
	apiRestarts             int
	apiDowntime             time.Duration
	secondStarted           time.Time
	secondRan               time.Duration
	secondStops             string
}

// chaosRun is one run: its options, the failures found so far, the chaos that was done and
// the figures the closing line reports.
type chaosRun struct {
	o           options
	start       time.Time
	mu          sync.Mutex // guards failures, which the GitOps goroutines append to
	failures    []string
	cl          chaosLog
	faultsTotal int
	faults      map[string]int
	dup, lost   int
	unapproved  int
	repurchases int
	outcomes    [4]int // by harness.Outcome
	revokes     revokeFigures
	reapplies   reapplyFigures
}

type revokeFigures struct{ done, beforeIntent, awaiting int }

type reapplyFigures struct{ done, previouslyPurchased int }

// stack is what a run starts: the control plane, pcsim and the managers.
type stack struct {
	cp         *harness.ControlPlane
	sim        *harness.Pcsim
	mgr        *harness.Manager
	second     *harness.Manager // nil when the run has no second manager
	namespaces []string
}

// managers are the managers started so far.
func (s *stack) managers() []*harness.Manager {
	if s.second != nil && s.second.Starts > 0 {
		return []*harness.Manager{s.mgr, s.second}
	}
	return []*harness.Manager{s.mgr}
}

// plan is what the seed decides up front: the cart mix and the chaos schedule.
type plan struct {
	carts           []*pcv1alpha1.PartnerCart
	kinds           map[string]cartKind                    // namespace/name -> kind
	specs           map[string]*pcv1alpha1.PartnerCartSpec // namespace/name -> the approved spec
	lives           []time.Duration                        // a manager's life before each kill
	sigterm         []bool                                 // whether each kill is a SIGTERM
	apiRestartAfter int                                    // restart kube-apiserver after this many kills
	apiDown         time.Duration                          // for this long
	revokes         []revokeAt                             // in time order
	reapply         map[string]bool                        // namespace/name of the carts to prune and re-apply
	secondFrom      int                                    // start the second manager after this many kills
	secondUntil     int                                    // and stop it after this many (or when the chaos ends)
	secondSigterm   bool                                   // with SIGTERM, else SIGKILL
}

// revokeAt revokes the approval of carts[idx] at offset after the creations start.
type revokeAt struct {
	idx   int
	after time.Duration
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
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

// finish prints every failure and the closing line, and returns the exit code.
func (r *chaosRun) finish() int {
	verdict, code := "PASS", 0
	r.mu.Lock()
	failures := r.failures
	r.mu.Unlock()
	if len(failures) > 0 {
		verdict, code = "FAIL", 1
		for _, f := range failures {
			fmt.Fprintln(os.Stderr, "chaos: FAIL:", f)
		}
	}
	o, cl := r.o, r.cl
	fmt.Printf("chaos %s: seed=%d carts=%d (completed=%d stalled=%d awaiting-approval=%d unfinished=%d) "+
		"manager-kills=%d (%d with carts in flight; sigterm=%d, %d with checkouts pending, slowest exit %s) second-manager=%s%s "+
		"manager-exits-without-apiserver=%d apiserver-restarts=%d (down %s) "+
		"approval-revokes=%d (%d before an intent, %d left awaiting approval) reapplied=%d (%d stopped PreviouslyPurchased) "+
		"faults-injected=%d (fail=%d throttle=%d drop-after-commit=%d) "+
		"duplicate-checkouts=%d lost-orders=%d unapproved-purchases=%d repurchases=%d wall=%s logs=%s\n",
		verdict, o.seed, o.carts, r.outcomes[harness.Completed], r.outcomes[harness.Stalled], r.outcomes[harness.AwaitingApproval],
		r.outcomes[harness.InFlight],
		cl.kills, cl.killsWithWork, cl.sigterms, cl.sigtermsInCko, cl.slowestShutdown.Round(100*time.Millisecond),
		cl.secondRan.Round(100*time.Millisecond), cl.secondStops,
		cl.startupExits, cl.apiRestarts, cl.apiDowntime.Round(100*time.Millisecond),
		r.revokes.done, r.revokes.beforeIntent, r.revokes.awaiting, r.reapplies.done, r.reapplies.previouslyPurchased,
		r.faultsTotal, r.faults["fail"], r.faults["throttle"], r.faults["dropAfterCommit"],
		r.dup, r.lost, r.unapproved, r.repurchases,
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
	g := newGitops()
	if err := r.buy(ctx, s, p, g); err != nil {
		r.fail("%v", err)
		return
	}
	r.verify(s, p, g)
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
		"--checkout-duration", o.checkoutDuration.String(),
		"--seed", fmt.Sprint(o.seed))
	if err != nil {
		return nil, err
	}
	s.sim = sim
	managerConfig := func(name string) harness.ManagerConfig {
		return harness.ManagerConfig{
			Name: name, Dir: o.dir, Kubeconfig: cp.Kubeconfig, PartnerCenterURL: sim.URL,
			Flags: []string{
				"--leader-elect=false",
				"--order-poll-interval", "500ms", "--max-concurrent-reconciles", "16", "--partner-center-qps", "0",
				"--partner-center-checkout-timeout", o.checkoutTimeout.String(),
				"--zap-log-level", o.managerLogLevel,
			},
		}
	}
	s.mgr = harness.NewManager(managerConfig("manager"))
	if o.secondManager {
		s.second = harness.NewManager(managerConfig("manager-b"))
	}
	if err := s.mgr.Start(); err != nil {
		return nil, err
	}
	if err := s.mgr.WaitReady(ctx, 60*time.Second); err != nil {
		return nil, err
	}
	return s, nil
}

// drawPlan draws the cart mix and the chaos schedule from the seed, in a fixed order: the
// carts, the API server restart and the kill lives first, as before the GitOps chaos
// existed, then the rest.
func (r *chaosRun) drawPlan(rng *rand.Rand, namespaces []string) *plan {
	o := r.o
	p := &plan{
		kinds: map[string]cartKind{}, specs: map[string]*pcv1alpha1.PartnerCartSpec{}, reapply: map[string]bool{},
		carts: make([]*pcv1alpha1.PartnerCart, o.carts),
	}
	for i := range p.carts {
		k := pickKind(rng)
		name := fmt.Sprintf("cart-%03d-%s", i, k)
		c := harness.NewCart(namespaces[i%len(namespaces)], name, linesFor(k, rng)...)
		p.carts[i] = c
		p.kinds[c.Namespace+"/"+name] = k
		p.specs[c.Namespace+"/"+name] = c.Spec.DeepCopy()
	}
	p.apiRestartAfter = 2 + rng.IntN(max(1, o.minKills-3))
	p.apiDown = time.Second + time.Duration(rng.Int64N(int64(3*time.Second)))
	for range o.maxKills {
		p.lives = append(p.lives, o.killMin+time.Duration(rng.Int64N(int64(o.killMax-o.killMin)+1)))
	}
	for range o.maxKills {
		p.sigterm = append(p.sigterm, rng.Float64() < o.sigtermRate)
	}
	r.drawGitops(rng, p)
	p.secondFrom = 1 + rng.IntN(2)
	p.secondUntil = p.secondFrom + 4 + rng.IntN(5)
	p.secondSigterm = rng.IntN(2) == 0
	return p
}

// drawGitops picks the carts whose approval is revoked (any kind, at a random moment after
// their creation is due) and, from the others, the carts pruned and re-applied once Completed
// (kinds that must complete).
func (r *chaosRun) drawGitops(rng *rand.Rand, p *plan) {
	o := r.o
	pace := o.createFor / time.Duration(max(1, o.carts))
	nRevoke, nReapply := int(float64(o.carts)*o.revokeRate+0.5), int(float64(o.carts)*o.reapplyRate+0.5)
	for _, i := range rng.Perm(o.carts) {
		c := p.carts[i]
		key := c.Namespace + "/" + c.Name
		switch {
		case len(p.revokes) < nRevoke:
			after := time.Duration(i)*pace + time.Duration(rng.Int64N(int64(o.revokeWithin)+1))
			p.revokes = append(p.revokes, revokeAt{idx: i, after: after})
		case len(p.reapply) < nReapply && p.kinds[key].completes():
			p.reapply[key] = true
		}
	}
	sort.Slice(p.revokes, func(a, b int) bool { return p.revokes[a].after < p.revokes[b].after })
}

// buy creates the carts while the chaos runs, then waits for every cart to end.
func (r *chaosRun) buy(ctx context.Context, s *stack, p *plan, g *gitops) error {
	r.logf("creating %d carts over %s in %d namespaces (%d approvals revoked, %d to prune and re-apply); pcsim at %s",
		r.o.carts, r.o.createFor, len(s.namespaces), len(p.revokes), len(p.reapply), s.sim.URL)
	t0 := time.Now()
	createErr := r.createCarts(ctx, s.cp.Client, p.carts, t0)

	prog := &progress{}
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	go prog.poll(pollCtx, s.cp.Client, s.namespaces)
	go g.revoke(ctx, r, s.cp.Client, p, t0)
	go g.reapplyCompleted(ctx, r, s.cp.Client, p, prog)

	if err := r.chaos(ctx, s, p, prog); err != nil {
		return err
	}
	if err := <-createErr; err != nil {
		return fmt.Errorf("create carts: %w", err)
	}
	r.logf("chaos over; waiting for every cart to end")
	if err := r.converge(ctx, s, prog, g); err != nil {
		return err
	}
	stopPoll()
	r.logf("converged; checking")
	return nil
}

// createCarts creates the carts in the background, spread over createFor from t0 so that
// kills meet work, and sends the outcome on the returned channel.
func (r *chaosRun) createCarts(ctx context.Context, c client.Client, carts []*pcv1alpha1.PartnerCart, t0 time.Time) <-chan error {
	createErr := make(chan error, 1)
	go func() {
		pace := r.o.createFor / time.Duration(max(1, len(carts)))
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

// converge polls until the revokes and re-applies are done and every cart is terminal,
// restarting a manager that dies by itself. The deadline passing is a failure, but the
// checks still run.
func (r *chaosRun) converge(ctx context.Context, s *stack, prog *progress, g *gitops) error {
	lastLog := time.Now()
	var gitopsDoneAt time.Time
	for {
		if err := r.restartIfExited(s.mgr); err != nil {
			return fmt.Errorf("restart manager: %w", err)
		}
		if gitopsDoneAt.IsZero() && g.done() {
			gitopsDoneAt = time.Now()
		}
		// Only a list taken after the last re-apply counts: one taken while a pruned cart was
		// still Completed and terminating would call its re-applied successor terminal too.
		terminal, at := prog.get()
		if !gitopsDoneAt.IsZero() && at.After(gitopsDoneAt) && terminal == r.o.carts && at.After(time.Now().Add(-2*time.Second)) {
			return nil
		}
		if time.Since(lastLog) > 10*time.Second {
			r.logf("%d/%d carts terminal%s", terminal, r.o.carts, g.describePending())
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			r.fail("deadline: only %d/%d carts terminal%s", terminal, r.o.carts, g.describePending())
			for _, c := range prog.snapshot() {
				if harness.OutcomeOf(&c) == harness.InFlight {
					r.logf("in flight at the deadline: %s", harness.Describe(&c))
				}
			}
			return nil
		case <-time.After(250 * time.Millisecond):
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
