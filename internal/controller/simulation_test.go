package controller

// TestPurchaseSimulation is a seeded, single-process, deterministic simulation of the checkout,
// in the style of FoundationDB's simulator and TigerBeetle's VOPR (issue 19). It drives the real
// PartnerCartReconciler.Reconcile against
//   - an API server: controller-runtime's fake client, wrapped to inject conflicts, lost writes
//     (applied, then an error), failed receipt creates and stale cache reads
//     (simulation_api_test.go);
//   - Partner Center: a stateful model behind the fake client's func fields, answering every
//     class of answer (simulation_pc_test.go);
//   - a fake clock that only the world advances;
//   - actors who approve, revoke, edit, re-pin, change limits, freeze, delete, re-apply, rename,
//     restore, delete receipts (an administrator), forge receipts in the tenant namespace (a
//     tenant), annotate, restart managers and run a second manager.
// After every step it checks the invariants I1-I4 of design 3.9, and I5 at the end of a seed.
//
//	go test ./internal/controller -run TestPurchaseSimulation            # SIM_SEEDS seeds (default 20)
//	SIM_SEEDS=500 go test ./internal/controller -run TestPurchaseSimulation
//	SIM_SEED=7 go test ./internal/controller -run TestPurchaseSimulation -v  # one seed, full trace
//	SIM_STEPS=400 ...                  # actor steps per seed (default 200, then 150 reconcile-only)
//	SIM_SKIP=rename,delete-receipt ... # turn actors off, to see what a frequent finding hides
//
// Everything random is drawn from one PCG source per seed, time is the fake clock, maps are
// iterated in sorted order and nothing runs concurrently, so a seed replays exactly.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	pcfake "github.com/partnercart/partnercart-operator/internal/partnercenter/fake"
)

// simUnpinnedApprovals lets the approve actor leave spec.approval.specHash empty. An unpinned
// approval followed by an edit buys content nobody approved: that is issue 20's to close, so
// the simulation pins every approval for now.
const simUnpinnedApprovals = false

// Defaults: seeds per run, actor steps per seed, reconcile-only steps after them (I5).
const (
	simDefaultSeeds     = 20
	simDefaultSteps     = 200
	simLivenessSteps    = 150
	simTraceTail        = 40
	simRerunCommandTmpl = "rerun: SIM_SEED=%d go test ./internal/controller -run TestPurchaseSimulation -v"
)

// simulationOnly reports whether this test binary runs only the simulation, which needs no
// kube-apiserver: TestMain then skips starting envtest.
func simulationOnly(run string) bool {
	run = strings.TrimSuffix(strings.TrimPrefix(run, "^"), "$")
	return run == "TestPurchaseSimulation" || strings.HasPrefix(run, "TestPurchaseSimulation/")
}

func TestPurchaseSimulation(t *testing.T) {
	steps := simEnvInt(t, "SIM_STEPS", simDefaultSteps)
	if one := os.Getenv("SIM_SEED"); one != "" {
		seed, err := strconv.ParseUint(one, 10, 64)
		if err != nil {
			t.Fatalf("SIM_SEED=%q: %v", one, err)
		}
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			w := runSimulation(seed, steps)
			t.Log("full trace of seed " + one + ":\n" + strings.Join(w.trace, "\n"))
			if w.violation != nil {
				t.Fatal(w.report())
			}
		})
		return
	}
	seeds := simEnvInt(t, "SIM_SEEDS", simDefaultSeeds)
	failed := map[string][]uint64{}
	start := time.Now()
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			w := runSimulation(seed, steps)
			if v := w.violation; v != nil {
				failed[v.invariant] = append(failed[v.invariant], seed)
				t.Fatal(w.report())
			}
		})
	}
	var summary []string
	for _, inv := range sortedKeys(failed) {
		summary = append(summary, fmt.Sprintf("%s: %d seeds %v", inv, len(failed[inv]), failed[inv][:min(len(failed[inv]), 20)]))
	}
	t.Logf("%d seeds of %d steps in %s; violations: %s", seeds, steps, time.Since(start).Round(time.Millisecond),
		strings.Join(append(summary, "none")[:max(1, len(summary))], "; "))
}

func simEnvInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// simProfile is a seed's chaos: the probability of each fault per call or write.
type simProfile struct {
	// API server
	conflict, lostWrite, createFail, stale float64
	// Partner Center
	pcThrottle, pc401, pc5xx, pcDrop, pcRefuse, repeatRefusal, nested float64
	oddAnswers                                                        int // percent of committed answers that say less
}

func drawProfile(r *rand.Rand) simProfile {
	// Each seed scales its faults: some seeds are calm, some stormy.
	s := r.Float64()
	return simProfile{
		conflict: 0.08 * s, lostWrite: 0.05 * s, createFail: 0.1 * s, stale: 0.15 * s,
		pcThrottle: 0.1 * s, pc401: 0.05 * s, pc5xx: 0.08 * s, pcDrop: 0.08 * s, pcRefuse: 0.25 * r.Float64(),
		repeatRefusal: 0.1 * s, nested: 0.3 * r.Float64(), oddAnswers: int(20 * s),
	}
}

// simGate is the world's verdict, at one moment, on buying a cart for an object: what I1 checks.
type simGate struct {
	ok  bool
	why string
}

func (g simGate) String() string {
	if g.ok {
		return "approved"
	}
	return "NOT APPROVED: " + g.why
}

// simName is what the world knows of one object name: its manifest in Git and its queue entry.
type simName struct {
	name      string
	git       *pcv1alpha1.PartnerCart // nil: not in Git (renamed away)
	scheduled bool
	due       time.Time
	failures  int
	backup    *pcv1alpha1.PartnerCart // a Velero backup, with status
	busy      []time.Time             // liveness phase: reconciles that called Partner Center
	catchUp   bool                    // a stale read was served: the cache's catch-up event wakes it
}

// simIncarnation is one object (one UID).
type simIncarnation struct {
	uid             types.UID
	name            string
	seenLive        bool
	gone            bool
	forceRemoved    bool // removed by the world (restore), not let go by the operator
	receiptsDeleted int  // step at which the world deleted its receipt, 0 if never
}

type simViolation struct {
	invariant, message string
	step               int
	at                 time.Time
}

type simWorld struct {
	seed uint64
	rng  *rand.Rand
	// swarm scales each actor's weight for this seed (0 leaves it out): swarm testing, so
	// that some seeds are quiet where others are busy, and a path that a frequent action
	// (a re-approval, an edit) would hide gets seeds without it.
	swarm     map[string]int
	clk       *clocktesting.FakeClock
	start     time.Time
	api       client.Client // the API server itself: what the world and APIReader see
	k8s       client.Client // the managers' client: api with faults injected
	pc        *simPC
	prof      simProfile
	faultsOn  bool
	namespace string
	names     map[string]*simName
	mgrA      *PartnerCartReconciler // the manager (restarted now and then)
	mgrB      *PartnerCartReconciler // a second manager, other identity
	restarts  int
	freeze    bool
	// policiesGone: an admin deleted the admission policies; the managers' check sees it.
	policiesGone bool
	policiesBack time.Time // when an admin last re-installed them
	// forged: objects whose current approval a tenant typed, stamps included, while the
	// policies were gone (UID -> the stamps typed). A real decision on the object clears it.
	forged map[types.UID]string
	// forgedCancel: carts whose cancellation approval a tenant typed while the policies were gone.
	forgedCancel map[types.UID]bool
	caller       string // the manager whose reconcile runs now
	nested       bool
	step         int
	trace        []string
	violation    *simViolation
	liveness     bool
	pcCalls      int
	skip         []string // actors SIM_SKIP turns off

	incarnations map[types.UID]*simIncarnation
	overrides    map[string]int    // lineage -> repurchase-of overrides a person set
	lies         map[string]string // request ID -> what a person wrongly said
	evidence     map[string]bool   // request ID -> the operator had evidence of a purchase when asked
	snapshots    map[string][]*pcv1alpha1.PartnerCart
	nextUID      int
	receiptsGone map[string]int // lineage -> step at which the world deleted a receipt of it
}

func runSimulation(seed uint64, steps int) (w *simWorld) {
	w = newSimWorld(seed)
	defer func() {
		if p := recover(); p != nil {
			w.violate("panic", "%v", p)
		}
	}()
	for w.step = 1; w.step <= steps && w.violation == nil; w.step++ {
		w.actorStep()
		w.afterStep()
	}
	if w.violation != nil {
		return w
	}
	// The actors stop and the faults heal; only reconciles (and the time they wait) go on.
	w.liveness, w.faultsOn = true, false
	w.tracef("--- step %d: actors stop, faults heal; reconciles only ---", w.step)
	for range simLivenessSteps {
		w.step++
		if !w.reconcileNext(true) || w.violation != nil {
			break
		}
		w.afterStep()
	}
	if w.violation == nil {
		w.checkEnd()
	}
	return w
}

func newSimWorld(seed uint64) *simWorld {
	rng := rand.New(rand.NewPCG(seed, seed*0x9e3779b97f4a7c15+1))
	start := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	w := &simWorld{seed: seed, rng: rng, clk: clocktesting.NewFakeClock(start), start: start, namespace: "team",
		names: map[string]*simName{}, incarnations: map[types.UID]*simIncarnation{}, overrides: map[string]int{}, forged: map[types.UID]string{}, forgedCancel: map[types.UID]bool{},
		lies: map[string]string{}, evidence: map[string]bool{}, snapshots: map[string][]*pcv1alpha1.PartnerCart{},
		receiptsGone: map[string]int{}, faultsOn: true}
	w.prof = drawProfile(rng)
	w.swarm = drawSwarm(rng)
	if skip := os.Getenv("SIM_SKIP"); skip != "" {
		w.skip = strings.Split(skip, ",")
	}
	w.api, w.k8s = w.newAPIServer()
	w.pc = newSimPC(w)
	w.tracef("seed %d: profile %+v, upstream cart lifetime %s, actors left out: %v", seed, w.prof, w.pc.lifetime, w.swarmOff())
	ctx := context.Background()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: w.namespace, Name: "partner-center"},
		Data: map[string][]byte{pcv1alpha1.SecretKeyTenantID: []byte(testTenant), pcv1alpha1.SecretKeyClientID: []byte("id"), pcv1alpha1.SecretKeyClientSecret: []byte("x")}}
	must(w.api.Create(ctx, secret))
	w.mgrA = w.newManager("A")
	w.mgrB = w.newManager("B")
	// One or two carts, of different content, for the same customer.
	w.addToGit("cart-a", testItemE5, 25)
	if rng.IntN(2) == 0 {
		w.addToGit("cart-b", "CFQ7TTC0LH18:0001:CFQ7TTC0K5SH", 10)
	}
	for _, n := range w.sortedNames() {
		w.applyFromGit(n)
	}
	return w
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func (w *simWorld) newManager(name string) *PartnerCartReconciler {
	w.restarts++
	r := &PartnerCartReconciler{Client: w.k8s, APIReader: w.api, Recorder: &events.FakeRecorder{},
		PartnerCenter: pcfake.NewFactory(w.pc.client), Clock: w.clk,
		Options:    Options{Identity: fmt.Sprintf("mgr-%s-%d", name, w.restarts), PurchaseFreeze: w.freeze, ReceiptNamespace: simReceiptNamespace},
		jitterRand: w.rng.Float64, Admission: simAdmission{w}}
	r.Options.defaults()
	return r
}

func (w *simWorld) chance(p float64) bool {
	if !w.faultsOn && !w.liveness {
		return w.rng.Float64() < p
	}
	if !w.faultsOn {
		w.rng.Float64() // keep the draws in step
		return false
	}
	return w.rng.Float64() < p
}

// ---- tracing and reporting ----

func (w *simWorld) tracef(format string, args ...any) {
	d := w.clk.Now().Sub(w.start)
	prefix := fmt.Sprintf("%4d +%dd%02d:%02d:%02d ", w.step, int(d.Hours())/24, int(d.Hours())%24, int(d.Minutes())%60, int(d.Seconds())%60)
	w.trace = append(w.trace, prefix+fmt.Sprintf(format, args...))
}

func (w *simWorld) violate(invariant, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	w.tracef("!!! %s violated: %s", invariant, msg)
	if w.violation == nil {
		w.violation = &simViolation{invariant: invariant, message: msg, step: w.step, at: w.clk.Now()}
	}
}

func (w *simWorld) report() string {
	v := w.violation
	tail := w.trace[max(0, len(w.trace)-simTraceTail):]
	return fmt.Sprintf("seed %d: invariant %s violated at step %d: %s\n--- last %d trace lines ---\n%s\n"+simRerunCommandTmpl,
		w.seed, v.invariant, v.step, v.message, len(tail), strings.Join(tail, "\n"), w.seed)
}

// ---- objects, Git and the queue ----

func (w *simWorld) sortedNames() []string { return sortedKeys(w.names) }

func (w *simWorld) addToGit(name, item string, quantity int32) {
	c := newCart(w.namespace, name)
	c.Spec.LineItems[0].CatalogItemID, c.Spec.LineItems[0].Quantity = item, quantity
	c.Spec.Approval.RequestedBy = "dev@example.com"
	w.names[name] = &simName{name: name, git: c}
}

func (w *simWorld) live(name string) *pcv1alpha1.PartnerCart {
	c := &pcv1alpha1.PartnerCart{}
	if err := w.api.Get(context.Background(), client.ObjectKey{Namespace: w.namespace, Name: name}, c); err != nil {
		return nil
	}
	return c
}

func (w *simWorld) liveCarts() []*pcv1alpha1.PartnerCart {
	var list pcv1alpha1.PartnerCartList
	must(w.api.List(context.Background(), &list, client.InNamespace(w.namespace)))
	out := make([]*pcv1alpha1.PartnerCart, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	slices.SortFunc(out, func(a, b *pcv1alpha1.PartnerCart) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (w *simWorld) newUID() types.UID {
	w.nextUID++
	return types.UID(fmt.Sprintf("%08x-0000-4000-8000-%012x", w.rng.Uint32(), w.nextUID))
}

// create makes a new object (a new UID) from a manifest, as kubectl apply, Argo CD or Velero do.
func (w *simWorld) create(from *pcv1alpha1.PartnerCart, withStatus bool) *pcv1alpha1.PartnerCart {
	c := from.DeepCopy()
	c.ResourceVersion, c.UID, c.Generation = "", w.newUID(), 1
	c.CreationTimestamp = metav1.NewTime(w.clk.Now())
	c.DeletionTimestamp, c.Finalizers = nil, nil
	status := c.Status
	c.Status = pcv1alpha1.PartnerCartStatus{}
	if withStatus {
		c.Finalizers = from.Finalizers
	}
	must(w.api.Create(context.Background(), c))
	if withStatus {
		c.Status = status
		must(w.api.Status().Update(context.Background(), c))
	}
	w.incarnations[c.UID] = &simIncarnation{uid: c.UID, name: c.Name, seenLive: true}
	if _, ok := w.names[c.Name]; !ok {
		w.names[c.Name] = &simName{name: c.Name}
	}
	w.wake(c.Name)
	return c
}

func (w *simWorld) applyFromGit(name string) bool {
	n := w.names[name]
	if n == nil || n.git == nil || w.live(name) != nil {
		return false
	}
	c := w.create(n.git, false)
	w.tracef("apply %s from Git: new object uid %s (%s, approved=%t)", name, short(string(c.UID)), describeSpec(c), c.Spec.Approval.Approved)
	return true
}

func describeSpec(c *pcv1alpha1.PartnerCart) string {
	return describeLines(wireLineItems(c.Spec.LineItems)) + " content " + short(SpecHash(&c.Spec))
}

// wake is a watch event: the object is reconciled at once, as controller-runtime would.
func (w *simWorld) wake(name string) {
	n := w.names[name]
	if n == nil {
		return
	}
	n.scheduled, n.due = true, w.clk.Now()
}

// edit changes the manifest in Git and the live object alike (a GitOps sync), or only the live
// object (kubectl). specChange bumps the generation.
func (w *simWorld) edit(name string, inGit bool, specChange bool, mutate func(*pcv1alpha1.PartnerCart)) bool {
	n := w.names[name]
	if inGit && n != nil && n.git != nil {
		mutate(n.git)
	}
	c := w.live(name)
	if c == nil {
		return inGit && n != nil && n.git != nil
	}
	mutate(c)
	if specChange {
		c.Generation++
	}
	must(w.api.Update(context.Background(), c))
	w.wake(name)
	return true
}

// ---- the step ----

type simActor struct {
	name   string
	weight int
	act    func() bool // false: not applicable now
}

func (w *simWorld) actors() []simActor {
	return []simActor{
		{"reconcile", 45, func() bool { return w.reconcileNext(false) }},
		{"time", 10, w.actAdvanceTime},
		{"approve", 5, w.actApprove},
		{"revoke", 2, w.actRevoke},
		{"policies", 1, w.actTogglePolicies},
		{"tenant-approves", 2, w.actTenantApproves},
		{"edit", 3, w.actEdit},
		{"repin", 2, w.actRepin},
		{"price", 2, w.actPriceLimit},
		{"freeze", 1, w.actFreeze},
		{"delete", 2, w.actDelete},
		{"reapply", 3, w.actReapply},
		{"rename", 1, w.actRename},
		{"backup", 2, w.actBackup},
		{"restore", 1, w.actRestore},
		{"delete-receipt", 1, w.actDeleteReceipt},
		{"forge-receipt", 1, w.actForgeReceipt},
		{"resolve", 4, w.actResolve},
		{"repurchase-of", 2, w.actRepurchaseOf},
		{"clear-annotations", 1, w.actClearAnnotations},
		{"restart", 2, w.actRestart},
		{"upstream-drift", 1, w.actUpstreamDrift},
		{"rotate-secret", 1, w.actRotateSecret},
		{"deny", 1, w.actDeny},
		{"pause", 2, w.actPause},
		{"request-cancellation", 6, w.actRequestCancellation},
		{"approve-cancellation", 8, w.actApproveCancellation},
		{"withdraw-cancellation", 1, w.actWithdrawCancellation},
		{"tenant-approves-cancellation", 1, w.actTenantApprovesCancellation},
	}
}

// simSwarmKept: the actors every seed keeps (without them nothing happens at all).
var simSwarmKept = []string{"reconcile", "time", "approve"}

// drawSwarm gives each actor a weight factor for the seed: left out with one chance in four,
// otherwise 1 to 3 times its weight.
func drawSwarm(r *rand.Rand) map[string]int {
	swarm := map[string]int{}
	for _, a := range (&simWorld{}).actors() {
		switch {
		case slices.Contains(simSwarmKept, a.name):
			swarm[a.name] = 1 + r.IntN(3)
		case r.IntN(4) == 0:
			swarm[a.name] = 0
		default:
			swarm[a.name] = 1 + r.IntN(3)
		}
	}
	return swarm
}

// swarmOff names the actors this seed leaves out, sorted.
func (w *simWorld) swarmOff() []string {
	var off []string
	for _, name := range sortedKeys(w.swarm) {
		if w.swarm[name] == 0 {
			off = append(off, name)
		}
	}
	return off
}

func (w *simWorld) actorStep() {
	actors := slices.DeleteFunc(w.actors(), func(a simActor) bool { return slices.Contains(w.skip, a.name) || w.swarm[a.name] == 0 })
	for i := range actors {
		actors[i].weight *= w.swarm[actors[i].name]
	}
	total := 0
	for _, a := range actors {
		total += a.weight
	}
	n := w.rng.IntN(total)
	for _, a := range actors {
		if n < a.weight {
			if !a.act() {
				w.reconcileNext(false)
			}
			return
		}
		n -= a.weight
	}
}

// reconcileNext reconciles the object due first. When none is due it lets time pass to the
// next due one (in the liveness phase) or a little (otherwise). It returns false when nothing
// is scheduled at all.
func (w *simWorld) reconcileNext(liveness bool) bool {
	var next *simName
	for _, name := range w.sortedNames() {
		n := w.names[name]
		if n.scheduled && (next == nil || n.due.Before(next.due)) {
			next = n
		}
	}
	if next == nil {
		if !liveness {
			d := time.Duration(1+w.rng.IntN(60)) * time.Second
			w.clk.Step(d)
			w.tracef("nothing due; time passes: %s", d)
		}
		return false
	}
	if wait := next.due.Sub(w.clk.Now()); wait > 0 {
		if liveness && wait > 60*24*time.Hour {
			return false
		}
		w.clk.Step(wait)
	}
	mgr, label := w.mgrA, "A"
	if w.prof.nested > 0.15 && w.chance(0.1) {
		// Two managers without leader election: the second one takes some reconciles too.
		mgr, label = w.mgrB, "B"
	}
	w.reconcile(next, mgr, label)
	return true
}

func (w *simWorld) reconcile(n *simName, mgr *PartnerCartReconciler, label string) {
	n.scheduled = false
	prevCaller := w.caller
	w.caller = mgr.Options.Identity
	defer func() { w.caller = prevCaller }()
	calls := w.pcCalls
	ctx := ctrl.LoggerInto(context.Background(), logr.Discard())
	res, err := mgr.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Namespace: w.namespace, Name: n.name}})
	outcome := "done"
	switch {
	case err != nil && errors.Is(err, reconcile.TerminalError(nil)):
		n.failures = 0
		outcome = "terminal error: " + err.Error()
	case err != nil:
		// The work queue's exponential backoff, capped as retryRateLimiter caps it.
		n.failures++
		d := min(5*time.Millisecond<<min(n.failures-1, 20), maxRetryBackoff)
		n.scheduled, n.due = true, w.clk.Now().Add(d)
		outcome = fmt.Sprintf("error (retry in %s): %v", d, err)
	case res.RequeueAfter > 0:
		n.failures = 0
		n.scheduled, n.due = true, w.clk.Now().Add(res.RequeueAfter)
		outcome = "requeue after " + res.RequeueAfter.Round(time.Millisecond).String()
	default:
		n.failures = 0
	}
	if n.catchUp {
		n.catchUp, n.scheduled, n.due = false, true, w.clk.Now()
	}
	w.tracef("%s reconciles %s: %s | %s", label, n.name, truncate(outcome, 300), w.describeLive(n.name))
	if w.liveness && w.pcCalls > calls {
		n.busy = append(n.busy, w.clk.Now())
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func (w *simWorld) describeLive(name string) string {
	c := w.live(name)
	if c == nil {
		return "object gone"
	}
	s := fmt.Sprintf("uid %s gen %d phase %s", short(string(c.UID)), c.Generation, c.Status.Phase)
	if !c.DeletionTimestamp.IsZero() {
		s += " DELETING"
	}
	if c.Status.Cart != nil {
		s += " cart " + c.Status.Cart.ID
	}
	if co := c.Status.Checkout; co != nil {
		s += fmt.Sprintf(" checkout %s/%d req %s attempts %d", co.Outcome, co.Intent, short(co.RequestID), co.Attempts)
	}
	if h := len(c.Status.CheckoutHistory); h > 0 {
		s += fmt.Sprintf(" refused %d", h)
	}
	if len(c.Status.Orders) > 0 {
		s += " orders " + orderIDs(c.Status.Orders)
	}
	if cond := apimeta.FindStatusCondition(c.Status.Conditions, pcv1alpha1.ReadyCondition); cond != nil {
		s += " ready " + cond.Reason
	}
	return s
}

// runNested runs the second manager's reconcile of the object that owns requestID while the
// first manager's call of it is in flight.
func (w *simWorld) runNested(requestID string) {
	name := ""
	for _, c := range w.liveCarts() {
		if co := c.Status.Checkout; co != nil && co.RequestID == requestID {
			name = c.Name
		}
	}
	if name == "" {
		return
	}
	w.nested = true
	defer func() { w.nested = false }()
	// The call takes a while: less than the checkout timeout.
	w.clk.Step(time.Duration(w.rng.IntN(90)) * time.Second)
	// The other manager: one manager never runs two reconciles of one object at once.
	other, label := w.mgrB, "  B(nested)"
	if w.caller == w.mgrB.Options.Identity {
		other, label = w.mgrA, "  A(nested)"
	}
	w.tracef("  >> during %s's call, %s reconciles %s", w.caller, strings.TrimSpace(label), name)
	w.reconcile(w.names[name], other, label)
	w.tracef("  << back in %s's call", w.caller)
}

// ---- the actors ----

func (w *simWorld) pickName() string {
	names := w.sortedNames()
	return names[w.rng.IntN(len(names))]
}

func (w *simWorld) pickLive() *pcv1alpha1.PartnerCart {
	carts := w.liveCarts()
	if len(carts) == 0 {
		return nil
	}
	return carts[w.rng.IntN(len(carts))]
}

func (w *simWorld) actAdvanceTime() bool {
	var d time.Duration
	switch n := w.rng.IntN(100); {
	case n < 50:
		d = time.Duration(1+w.rng.IntN(120)) * time.Second
	case n < 80:
		d = time.Duration(1+w.rng.IntN(60)) * time.Minute
	case n < 95:
		d = time.Duration(1+w.rng.IntN(24)) * time.Hour
	default:
		d = time.Duration(1+w.rng.IntN(9)) * 24 * time.Hour
	}
	w.clk.Step(d)
	w.tracef("time passes: %s", d)
	return true
}

// approve is a merged approval: admission stamps approvedBy and approvedAt.
func (w *simWorld) actApprove() bool {
	name := w.pickName()
	pinned := !simUnpinnedApprovals || w.chance(0.7)
	ok := w.edit(name, true, true, func(c *pcv1alpha1.PartnerCart) {
		c.Spec.Approval.Approved, c.Spec.Approval.Denied = true, false
		c.Spec.Approval.SpecHash = ""
		if pinned {
			c.Spec.Approval.SpecHash = SpecHash(&c.Spec)
		}
		w.stampApprover(c)
	})
	if ok {
		w.tracef("person approves %s (pinned=%t)", name, pinned)
	}
	return ok
}

func (w *simWorld) actRevoke() bool {
	name := w.pickName()
	ok := w.edit(name, true, true, func(c *pcv1alpha1.PartnerCart) {
		c.Spec.Approval.Approved = false
		w.stampApprover(c)
	})
	if ok {
		w.tracef("person revokes the approval of %s", name)
	}
	return ok
}

// actDeny is an approver denying a cart (kubectl partnercart deny): the approval goes, and the
// denial stays until an approver approves again.
func (w *simWorld) actDeny() bool {
	name := w.pickName()
	ok := w.edit(name, true, true, func(c *pcv1alpha1.PartnerCart) {
		c.Spec.Approval.Approved, c.Spec.Approval.Denied, c.Spec.Approval.Reason = false, true, "not this quarter"
		w.stampApprover(c)
	})
	if ok {
		w.tracef("person denies %s", name)
	}
	return ok
}

// actPause pauses a cart with the paused annotation, or resumes a paused one (kubectl
// partnercart pause/resume, or the annotation in Git).
func (w *simWorld) actPause() bool {
	name := w.pickName()
	var now bool
	ok := w.edit(name, true, false, func(c *pcv1alpha1.PartnerCart) {
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		now = c.Annotations[pcv1alpha1.PausedAnnotation] != "true"
		if now {
			c.Annotations[pcv1alpha1.PausedAnnotation] = "true"
		} else {
			delete(c.Annotations, pcv1alpha1.PausedAnnotation)
		}
	})
	if ok {
		w.tracef("person %s %s", map[bool]string{true: "pauses", false: "resumes"}[now], name)
	}
	return ok
}

// stampApprover stamps a decision on spec.approval as the admission policy would: who, and
// when (the approver's request's time). It is a real decision: the object's approval is no
// longer one a tenant typed.
func (w *simWorld) stampApprover(c *pcv1alpha1.PartnerCart) {
	c.Spec.Approval.ApprovedBy, c.Spec.Approval.ApprovedAt = "approver@example.com", w.clk.Now().UTC().Format(time.RFC3339)
	delete(w.forged, c.UID)
}

// simAdmission is the managers' check of the admission policies: in force unless an admin
// deleted them.
type simAdmission struct{ w *simWorld }

func (a simAdmission) Since() time.Time {
	if a.w.policiesBack.IsZero() {
		return time.Time{}
	}
	return a.w.policiesBack.Truncate(time.Second).Add(time.Second)
}

func (a simAdmission) CheckedAfter(context.Context, time.Time) string { return a.Problem() }

func (a simAdmission) Missing() bool { return a.w.policiesGone }

func (a simAdmission) Problem() string {
	if a.w.policiesGone {
		return "ValidatingAdmissionPolicy partnercart-approval is not installed (deleted by an admin)"
	}
	return ""
}

// actTogglePolicies is an admin deleting the admission policies (they refused a create on a
// cluster without the feature gate, say), or installing them back.
func (w *simWorld) actTogglePolicies() bool {
	w.policiesGone = !w.policiesGone
	if !w.policiesGone {
		w.policiesBack = w.clk.Now()
	}
	w.tracef("admin %s the admission policies", map[bool]string{true: "deletes", false: "re-installs"}[w.policiesGone])
	return true
}

// actTenantApproves is an editor marking a cart approved, typing plausible stamps, which only
// works while the policies are gone.
func (w *simWorld) actTenantApproves() bool {
	if !w.policiesGone {
		return false
	}
	name := w.pickName()
	ok := w.edit(name, false, true, func(c *pcv1alpha1.PartnerCart) {
		c.Spec.Approval.Approved, c.Spec.Approval.SpecHash = true, ""
		c.Spec.Approval.ApprovedBy, c.Spec.Approval.ApprovedAt = "approver@example.com", w.clk.Now().UTC().Format(time.RFC3339)
		w.forged[c.UID] = c.Spec.Approval.ApprovedBy + "@" + c.Spec.Approval.ApprovedAt
	})
	if ok {
		w.tracef("tenant marks %s approved, stamps typed by hand, while the policies are gone", name)
	}
	return ok
}

// stampDecision stamps a decision annotation as the admission policy would (it is the
// applier's when the annotation comes back from Git).
func (w *simWorld) stampDecision(c *pcv1alpha1.PartnerCart, key string) {
	c.Annotations[key+pcv1alpha1.DecidedBySuffix], c.Annotations[key+pcv1alpha1.DecidedAtSuffix] = "approver@example.com", w.clk.Now().UTC().Format(time.RFC3339)
}

func (w *simWorld) actEdit() bool {
	name := w.pickName()
	q := int32(25 + 5*w.rng.IntN(2))
	ok := w.edit(name, true, true, func(c *pcv1alpha1.PartnerCart) { c.Spec.LineItems[0].Quantity = q })
	if ok {
		w.tracef("person edits %s: quantity %d", name, q)
	}
	return ok
}

func (w *simWorld) actRepin() bool {
	name := w.pickName()
	ok := w.edit(name, true, true, func(c *pcv1alpha1.PartnerCart) {
		c.Spec.Approval.SpecHash = SpecHash(&c.Spec)
		w.stampApprover(c)
	})
	if ok {
		w.tracef("person re-pins the approval of %s to its current content", name)
	}
	return ok
}

func (w *simWorld) actPriceLimit() bool {
	name := w.pickName()
	limit := []string{"", "100.00", "100000.00"}[w.rng.IntN(3)]
	ok := w.edit(name, true, true, func(c *pcv1alpha1.PartnerCart) {
		c.Spec.Approval.MaxTotalPrice = limit
		w.stampApprover(c)
	})
	if ok {
		w.tracef("person sets maxTotalPrice of %s to %q", name, limit)
	}
	return ok
}

// actFreeze turns --purchase-freeze on or off: the managers restart with the flag.
func (w *simWorld) actFreeze() bool {
	w.freeze = !w.freeze
	w.tracef("operators restart the managers with purchase freeze %t", w.freeze)
	w.restartManagers()
	return true
}

func (w *simWorld) actRestart() bool {
	w.tracef("manager restarts (new identity, empty caches)")
	w.restartManagers()
	return true
}

func (w *simWorld) restartManagers() {
	w.mgrA = w.newManager("A")
	w.mgrB = w.newManager("B")
	for _, name := range w.sortedNames() {
		if w.live(name) != nil {
			w.wake(name) // the new cache lists every object
		}
	}
}

func (w *simWorld) actDelete() bool {
	c := w.pickLive()
	if c == nil || !c.DeletionTimestamp.IsZero() {
		return false
	}
	must(w.api.Delete(context.Background(), c))
	w.wake(c.Name)
	w.tracef("person deletes %s (uid %s)", c.Name, short(string(c.UID)))
	return true
}

func (w *simWorld) actReapply() bool {
	for _, name := range w.sortedNames() {
		if w.applyFromGit(name) {
			return true
		}
	}
	return false
}

// actRename is a rename in Git: the old object is pruned, one of the new name created with the
// same manifest (content, approval, annotations).
func (w *simWorld) actRename() bool {
	name := w.pickName()
	n := w.names[name]
	if n.git == nil {
		return false
	}
	newName := fmt.Sprintf("%s-r%d", strings.SplitN(name, "-r", 2)[0], w.step)
	manifest := n.git.DeepCopy()
	manifest.Name = newName
	n.git = nil
	w.names[newName] = &simName{name: newName, git: manifest}
	w.tracef("person renames %s to %s in Git", name, newName)
	if c := w.live(name); c != nil && c.DeletionTimestamp.IsZero() {
		must(w.api.Delete(context.Background(), c))
		w.wake(name)
	}
	w.applyFromGit(newName)
	return true
}

func (w *simWorld) actBackup() bool {
	c := w.pickLive()
	if c == nil {
		return false
	}
	w.names[c.Name].backup = c.DeepCopy()
	w.tracef("backup of %s taken (%s)", c.Name, w.describeLive(c.Name))
	return true
}

// actRestore restores a backup, as Velero (with status) or GitOps after a cluster loss
// (without): the object, if any, is removed by force, and one with a new UID created.
func (w *simWorld) actRestore() bool {
	var candidates []string
	for _, name := range w.sortedNames() {
		if w.names[name].backup != nil {
			candidates = append(candidates, name)
		}
	}
	if len(candidates) == 0 {
		return false
	}
	name := candidates[w.rng.IntN(len(candidates))]
	if c := w.live(name); c != nil {
		w.incarnations[c.UID].forceRemoved = true
		c.Finalizers = nil
		must(w.api.Update(context.Background(), c))
		if w.live(name) != nil {
			must(w.api.Delete(context.Background(), c))
		}
	}
	withStatus := w.chance(0.5)
	c := w.create(w.names[name].backup, withStatus)
	w.tracef("restore of %s from backup (with status %t): new uid %s", name, withStatus, short(string(c.UID)))
	return true
}

// simReceiptNamespace is the managers' own namespace, where they keep receipts; the tenant's
// carts live in w.namespace.
const simReceiptNamespace = "partnercart-system"

// receipts are the receipts in the receipt namespace: the only records that count (a
// ConfigMap a tenant made in its own namespace records nothing, whatever its labels say).
func (w *simWorld) receipts() []corev1.ConfigMap {
	var list corev1.ConfigMapList
	must(w.api.List(context.Background(), &list, client.InNamespace(simReceiptNamespace), client.HasLabels{pcv1alpha1.ReceiptLabel}))
	slices.SortFunc(list.Items, func(a, b corev1.ConfigMap) int { return strings.Compare(a.Name, b.Name) })
	return list.Items
}

// actDeleteReceipt is an administrator deleting a receipt: tenants cannot (the receipt
// namespace is the manager's), so it is rare.
func (w *simWorld) actDeleteReceipt() bool {
	if !w.chance(0.3) {
		return false
	}
	rs := w.receipts()
	if len(rs) == 0 {
		return false
	}
	cm := rs[w.rng.IntN(len(rs))]
	must(w.api.Delete(context.Background(), &cm))
	if inc := w.incarnations[types.UID(cm.Labels[pcv1alpha1.ReceiptCartUIDLabel])]; inc != nil && inc.receiptsDeleted == 0 {
		inc.receiptsDeleted = w.step
	}
	if rec, err := decodeReceipt(&cm); err == nil {
		if first := w.pc.checkouts[rec.CheckoutRequestID]; first != nil {
			w.receiptsGone[first.Lineage] = w.step
		}
	}
	w.tracef("admin deletes receipt %s (orders %s)", cm.Name, cm.Data["orderIds"])
	return true
}

// actForgeReceipt is a tenant with edit rights in its namespace writing a ConfigMap that looks
// like a receipt there, the way receipts looked when they lived in tenants' namespaces: the
// receipt labels of a cart name, the UID of a live cart and every order Partner Center holds
// (a guard that believed it would take those orders for ones a live cart bought knowingly, and
// buy them again), and a record of orders under that name (which would stop a cart that was
// never bought). Nothing the operator does may change because of it.
func (w *simWorld) actForgeReceipt() bool {
	if len(w.pc.orders) == 0 && w.rng.IntN(2) == 0 {
		return false
	}
	names := w.sortedNames()
	name := names[w.rng.IntN(len(names))]
	labels := map[string]string{pcv1alpha1.ReceiptLabel: "true", pcv1alpha1.ReceiptCartNamespaceLabel: w.namespace, pcv1alpha1.ReceiptCartLabel: cartLabelValue(name)}
	for _, c := range w.liveCarts() {
		labels[pcv1alpha1.ReceiptCartUIDLabel] = string(c.UID) // a live cart, so the orders look bought knowingly
		if c.Status.SpecHash != "" {
			labels[pcv1alpha1.ReceiptContentLabel] = contentLabelValue(c.Status.SpecHash)
		}
	}
	var orders []pcv1alpha1.OrderStatus
	for _, o := range w.pc.orders {
		if key, ok := orderLabelKey(o.Order.ID); ok {
			labels[key] = "true"
		}
		orders = append(orders, pcv1alpha1.OrderStatus{ID: o.Order.ID})
	}
	if len(orders) == 0 {
		orders = []pcv1alpha1.OrderStatus{{ID: "forged-order"}}
	}
	body, err := json.Marshal(receiptRecord{Namespace: w.namespace, PartnerCart: name, PartnerCartUID: "forged",
		StartedAt: w.clk.Now().UTC().Format(time.RFC3339), Orders: orders})
	must(err)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: w.namespace, Name: fmt.Sprintf("%s-receipt-forged-%d", name, w.step), Labels: labels},
		Data: map[string]string{"orderIds": orderIDs(orders), "receipt.json": string(body)}}
	must(w.api.Create(context.Background(), cm))
	w.tracef("tenant forges receipt %s/%s for %s (orders %s)", cm.Namespace, cm.Name, name, cm.Data["orderIds"])
	return true
}

// actResolve is a person settling an Unknown checkout from what Partner Center holds: truthfully
// most of the time, sometimes with a naive or false "nothing-bought".
func (w *simWorld) actResolve() bool {
	for _, c := range w.liveCarts() {
		co := c.Status.Checkout
		if co == nil || co.Outcome != pcv1alpha1.CheckoutUnknown {
			continue
		}
		var ids []string
		for _, o := range w.pc.committedOrders(co.RequestID) {
			ids = append(ids, o.Order.ID)
		}
		value := co.RequestID + "/" + resolutionNothingBought
		truthful := true
		switch {
		case len(ids) > 0 && w.chance(0.85):
			value = co.RequestID + "/" + resolutionOrdersPrefix + strings.Join(ids, ",")
		case len(ids) > 0:
			truthful = false
			w.lies[co.RequestID] = value
			// The operator weighs "nothing-bought" against the cart seen Ordered and against the
			// customer's orders once Partner Center lists them all (15 minutes after the last
			// call): an order of this request always holds the cart's items, so a lie is never
			// to be taken (the liar here names no order as another purchase's).
			w.evidence[co.RequestID] = true
		}
		w.edit(c.Name, false, false, func(c *pcv1alpha1.PartnerCart) {
			if c.Annotations == nil {
				c.Annotations = map[string]string{}
			}
			c.Annotations[pcv1alpha1.CheckoutResolutionAnnotation] = value
			w.stampDecision(c, pcv1alpha1.CheckoutResolutionAnnotation)
		})
		w.tracef("person resolves %s: %s (truthful %t; Partner Center holds orders %v)", c.Name, value, truthful, ids)
		return true
	}
	return false
}

// actRepurchaseOf is a person overriding the re-purchase guard of a stopped cart, by the
// value its message names. Half the time the annotation is kept in Git.
func (w *simWorld) actRepurchaseOf() bool {
	for _, c := range w.liveCarts() {
		cond := apimeta.FindStatusCondition(c.Status.Conditions, pcv1alpha1.StalledCondition)
		if cond == nil || cond.Status != metav1.ConditionTrue ||
			(cond.Reason != pcv1alpha1.PreviouslyPurchasedReason && cond.Reason != pcv1alpha1.IdenticalRecentPurchaseReason) {
			continue
		}
		i := strings.LastIndex(cond.Message, pcv1alpha1.RepurchaseOfAnnotation+"=")
		if i < 0 || c.Annotations[pcv1alpha1.RepurchaseOfAnnotation] != "" {
			continue
		}
		value := strings.TrimSpace(cond.Message[i+len(pcv1alpha1.RepurchaseOfAnnotation)+1:])
		inGit := w.chance(0.5)
		w.edit(c.Name, inGit, false, func(c *pcv1alpha1.PartnerCart) {
			if c.Annotations == nil {
				c.Annotations = map[string]string{}
			}
			c.Annotations[pcv1alpha1.RepurchaseOfAnnotation] = value
			w.stampDecision(c, pcv1alpha1.RepurchaseOfAnnotation)
		})
		lineage := lineageKey(w.namespace, c.Spec.CustomerID, SpecHash(&c.Spec))
		w.overrides[lineage]++
		w.tracef("person overrides the re-purchase guard of %s: %s=%s (kept in Git %t; lineage %s now allows %d purchases)",
			c.Name, pcv1alpha1.RepurchaseOfAnnotation, value, inGit, lineage, 1+w.overrides[lineage])
		return true
	}
	return false
}

func (w *simWorld) actClearAnnotations() bool {
	name := w.pickName()
	ok := w.edit(name, true, false, func(c *pcv1alpha1.PartnerCart) {
		delete(c.Annotations, pcv1alpha1.RepurchaseOfAnnotation)
		delete(c.Annotations, pcv1alpha1.CheckoutResolutionAnnotation)
	})
	if ok {
		w.tracef("person clears the annotations of %s", name)
	}
	return ok
}

// actUpstreamDrift changes an active cart upstream outside the operator (the Partner Center
// portal, another tool): a promotion, which id/item/quantity/cycle/term do not show.
func (w *simWorld) actUpstreamDrift() bool {
	for _, id := range sortedKeys(w.pc.carts) {
		c := w.pc.carts[id]
		if c.Status != partnercenter.CartStatusActive || c.Gone || w.pc.expired(c) || len(c.Lines) == 0 || c.Lines[0].PromotionID != "" {
			continue
		}
		c.Lines[0].PromotionID = "39NFJQT1PHSN:0008:39NFJQT1Q5J0"
		w.tracef("someone edits cart %s in Partner Center: promotion on line 0", id)
		return true
	}
	return false
}

func (w *simWorld) actRotateSecret() bool {
	s := &corev1.Secret{}
	must(w.api.Get(context.Background(), client.ObjectKey{Namespace: w.namespace, Name: "partner-center"}, s))
	s.Data[pcv1alpha1.SecretKeyClientSecret] = []byte(fmt.Sprintf("x%d", w.step))
	must(w.api.Update(context.Background(), s))
	for _, c := range w.liveCarts() {
		if c.Status.Phase != pcv1alpha1.PhaseCompleted {
			w.wake(c.Name)
		}
	}
	w.tracef("credentials Secret rotated")
	return true
}

// ---- invariants ----

// gate is the world's verdict on buying cart c for the object that owns requestID, now (I1).
func (w *simWorld) gate(requestID string, c *pcCart) simGate {
	obj := w.ownerOf(requestID)
	if obj == nil {
		return simGate{why: "no object holds this checkout (deleted)"}
	}
	var why []string
	if !obj.DeletionTimestamp.IsZero() {
		why = append(why, "the object is being deleted")
	}
	a := obj.Spec.Approval
	specHash := SpecHash(&obj.Spec)
	if obj.Annotations[pcv1alpha1.PausedAnnotation] == "true" {
		why = append(why, "the object is paused")
	}
	if a.Denied {
		why = append(why, "an approver denied it")
	}
	if !a.Approved {
		why = append(why, "spec.approval.approved is false")
	} else if typed, ok := w.forged[obj.UID]; ok && typed == a.ApprovedBy+"@"+a.ApprovedAt {
		why = append(why, "the approval was typed by a tenant while the admission policies were gone")
	}
	if a.SpecHash != "" && a.SpecHash != specHash {
		why = append(why, "the approval is pinned to other content")
	}
	if bought := simContentHash(c.Customer, c.Attestation, c.Lines); bought != specHash {
		why = append(why, fmt.Sprintf("the cart holds content %s (%s), the spec approves %s", short(bought), describeLines(c.Lines), short(specHash)))
	}
	if a.MaxTotalPrice != "" {
		if cmp, err := compareDecimals(w.pc.quote(c).FloatString(2), a.MaxTotalPrice); err != nil || cmp > 0 {
			why = append(why, fmt.Sprintf("the quote %s is above maxTotalPrice %s", w.pc.quote(c).FloatString(2), a.MaxTotalPrice))
		}
	}
	if w.freeze {
		why = append(why, "purchases are frozen")
	}
	// A definite refusal blocks new intents of the object until a person acts (a new spec
	// generation: an edit or a new approval), never because time passed or a watch fired.
	for _, id := range sortedKeys(w.pc.checkouts) {
		prev := w.pc.checkouts[id]
		refused := !prev.Committed && (len(prev.OrderErrors) > 0 || partnercenter.Classify(prev.Err) == partnercenter.ClassTerminal)
		if id != requestID && refused && prev.OwnerUID == string(obj.UID) && prev.OwnerGeneration == obj.Generation {
			why = append(why, fmt.Sprintf("Partner Center refused request %s of this object at step %d and nobody changed the spec or approval since (generation %d)",
				short(id), prev.Step, obj.Generation))
			break
		}
	}
	if len(why) > 0 {
		return simGate{why: strings.Join(why, "; ")}
	}
	return simGate{ok: true}
}

// ownerOf is the live object whose current checkout has requestID, else the one whose UID made it.
func (w *simWorld) ownerOf(requestID string) *pcv1alpha1.PartnerCart {
	carts := w.liveCarts()
	for _, c := range carts {
		if co := c.Status.Checkout; co != nil && co.RequestID == requestID {
			return c
		}
	}
	for _, c := range carts {
		if c.Status.Cart != nil && slices.ContainsFunc([]int32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, func(i int32) bool {
			for _, cartID := range sortedKeys(w.pc.carts) {
				if checkoutRequestID(c.UID, cartID, i) == requestID {
					return true
				}
			}
			return false
		}) {
			return c
		}
	}
	return nil
}

// checkApprovedContent is I1, checked when Partner Center commits an order.
func (w *simWorld) checkApprovedContent(rec *pcCheckout) {
	if !rec.Gate.ok {
		w.violate("I1", "Partner Center created orders %s for request %s, but at its first processed call %s",
			strings.Join(rec.OrderIDs, ","), short(rec.RequestID), rec.Gate.why)
	}
}

// checkNoCallOfFinalIntent is I4's first half: no call of an intent whose outcome is final.
func (w *simWorld) checkNoCallOfFinalIntent(requestID string) {
	for _, c := range w.liveCarts() {
		if co := c.Status.Checkout; co != nil && co.RequestID == requestID && co.Outcome.Final() {
			w.violate("I4", "checkout call of request %s, whose outcome on %s is already %s", short(requestID), c.Name, co.Outcome)
		}
		for _, h := range c.Status.CheckoutHistory {
			if h.RequestID == requestID {
				w.violate("I4", "checkout call of request %s, which %s's history says was %s", short(requestID), c.Name, h.Outcome)
			}
		}
	}
}

// afterStep checks I2 and I3 and keeps the snapshots stale reads are served from.
func (w *simWorld) afterStep() {
	carts := w.liveCarts()
	live := map[types.UID]bool{}
	for _, c := range carts {
		live[c.UID] = true
		snaps := w.snapshots[c.Name]
		if len(snaps) == 0 || snaps[len(snaps)-1].ResourceVersion != c.ResourceVersion {
			w.snapshots[c.Name] = append(snaps[max(0, len(snaps)-5):], c.DeepCopy())
		}
	}
	w.checkAtMostOnce()
	w.checkNothingBought(carts)
	for _, uid := range sortedKeys(w.incarnations) {
		inc := w.incarnations[uid]
		if inc.gone || live[uid] {
			continue
		}
		inc.gone = true
		if inc.forceRemoved {
			continue
		}
		w.tracef("object %s uid %s is gone", inc.name, short(string(uid)))
		w.checkRecordedBeforeGone(inc, carts)
	}
}

// checkAtMostOnce is I2: at most one purchase per lineage (namespace, customer, content),
// plus one per repurchase-of override a person set, counting the repeats the product promises
// to stop (repeatsVisible). Past the identical-purchase window, the same content under a new
// name is a new purchase, and so is one by another object that still exists (two PartnerCarts
// of the same content are two intended purchases). With its record destroyed by the world (a
// receipt deleted, an object whose finalizer was stripped), an earlier purchase Partner Center
// does not list yet (15 minutes) cannot be seen: the gap the README names.
func (w *simWorld) checkAtMostOnce() {
	purchases := map[string][]*pcCheckout{}
	for _, id := range sortedKeys(w.pc.checkouts) {
		if rec := w.pc.checkouts[id]; rec.Committed {
			purchases[rec.Lineage] = append(purchases[rec.Lineage], rec)
		}
	}
	for _, lineage := range sortedKeys(purchases) {
		recs := purchases[lineage]
		slices.SortFunc(recs, func(a, b *pcCheckout) int { return a.Step - b.Step })
		repeats := 0
		for i, p := range recs {
			if !p.judged {
				p.judged, p.repeat = true, w.repeatsVisible(p, recs[:i])
			}
			if p.repeat {
				repeats++
			}
		}
		if allowed := 1 + w.overrides[lineage]; repeats+1 > allowed {
			var parts []string
			for _, r := range recs {
				parts = append(parts, fmt.Sprintf("request %s at step %d (cart %s, orders %s)", short(r.RequestID), r.Step, r.CartID, strings.Join(r.OrderIDs, ",")))
			}
			note := ""
			if s := w.receiptsGone[lineage]; s > 0 {
				note = fmt.Sprintf(" [note: the world deleted a receipt of this lineage at step %d]", s)
			}
			for _, r := range recs {
				if lie, ok := w.lies[r.RequestID]; ok {
					note += fmt.Sprintf(" [note: a person wrongly said %q of request %s]", lie, short(r.RequestID))
				}
			}
			w.violate("I2", "lineage %s bought %d times (%d repeating an earlier purchase), %d allowed (%d overrides): %s%s",
				lineage, len(recs), repeats, allowed, w.overrides[lineage], strings.Join(parts, "; "), note)
			return
		}
	}
}

// repeatsVisible reports whether purchase p repeats one of earlier that the product can see
// at p's call: through a receipt that records it (of the same name at any age, of another
// name within the identical-purchase window), through the object that made it, still there
// (deleting, its outcome unsettled), or through Partner Center's order list (within the
// window, once listed). An earlier purchase by another object that still exists, not being
// deleted, is another intended purchase.
func (w *simWorld) repeatsVisible(p *pcCheckout, earlier []*pcCheckout) bool {
	receipts := w.receipts()
	live := w.liveCarts()
	for _, q := range earlier {
		if q.OwnerUID != p.OwnerUID && slices.Contains(p.Siblings, q.OwnerUID) {
			continue
		}
		age := p.At.Sub(q.At)
		inWindow := age < DefaultIdenticalPurchaseWindow
		recorded := slices.ContainsFunc(receipts, func(cm corev1.ConfigMap) bool { return cm.Data["checkoutRequestId"] == q.RequestID })
		ownerThere := slices.ContainsFunc(live, func(c *pcv1alpha1.PartnerCart) bool { return string(c.UID) == q.OwnerUID })
		if (recorded && (q.OwnerName == p.OwnerName || inWindow)) || (ownerThere && inWindow) || (inWindow && age >= orderListingDelay) {
			return true
		}
	}
	return false
}

// checkNothingBought is I3's second half: no "nothing bought" while Partner Center holds an
// order of that intent.
func (w *simWorld) checkNothingBought(carts []*pcv1alpha1.PartnerCart) {
	for _, c := range carts {
		for _, h := range c.Status.CheckoutHistory {
			if orders := w.pc.committedOrders(h.RequestID); len(orders) > 0 {
				w.violate("I3", "%s records request %s as Refused (nothing bought), but Partner Center holds its orders %s", c.Name, short(h.RequestID), orderList(orders))
			}
		}
		co := c.Status.Checkout
		if co == nil || co.Outcome != pcv1alpha1.CheckoutAbandoned {
			continue
		}
		orders := w.pc.committedOrders(co.RequestID)
		if len(orders) == 0 {
			continue
		}
		if _, lied := w.lies[co.RequestID]; !lied {
			w.violate("I3", "%s records request %s as Abandoned (nothing bought) though nobody said so, and Partner Center holds its orders %s", c.Name, short(co.RequestID), orderList(orders))
		} else if w.evidence[co.RequestID] {
			w.violate("I3", "%s accepted a person's \"nothing-bought\" for request %s against the operator's own evidence (cart seen Ordered or the orders named in its message); Partner Center holds its orders %s", c.Name, short(co.RequestID), orderList(orders))
		}
	}
}

func orderList(orders []*pcOrder) string {
	var ids []string
	for _, o := range orders {
		ids = append(ids, o.Order.ID)
	}
	return strings.Join(ids, ",")
}

// recorded reports whether an order is in a live object's status or in an existing receipt.
func (w *simWorld) recorded(orderID string, carts []*pcv1alpha1.PartnerCart, receipts []corev1.ConfigMap) bool {
	for _, c := range carts {
		if slices.ContainsFunc(c.Status.Orders, func(o pcv1alpha1.OrderStatus) bool { return o.ID == orderID }) {
			return true
		}
	}
	for _, cm := range receipts {
		if slices.Contains(pcv1alpha1.SplitOrderIDs(cm.Data["orderIds"]), orderID) {
			return true
		}
	}
	return false
}

// checkRecordedBeforeGone is I3's first half: an object the operator let go left every order
// of its checkouts recorded.
func (w *simWorld) checkRecordedBeforeGone(inc *simIncarnation, carts []*pcv1alpha1.PartnerCart) {
	receipts := w.receipts()
	for _, id := range sortedKeys(w.pc.checkouts) {
		rec := w.pc.checkouts[id]
		if !rec.Committed || !w.requestOf(inc.uid, rec) {
			continue
		}
		if _, lied := w.lies[id]; lied {
			continue
		}
		for _, oid := range rec.OrderIDs {
			if !w.recorded(oid, carts, receipts) {
				note := ""
				if inc.receiptsDeleted > 0 {
					note = fmt.Sprintf(" (the world deleted its receipt at step %d; the operator did not write it again)", inc.receiptsDeleted)
				}
				w.violate("I3", "object %s uid %s went away, but order %s of its request %s is recorded in no status and no receipt%s",
					inc.name, short(string(inc.uid)), oid, short(id), note)
				return
			}
		}
	}
}

// requestOf reports whether the checkout was made by the object with uid.
func (w *simWorld) requestOf(uid types.UID, rec *pcCheckout) bool {
	for i := int32(1); i <= 12; i++ {
		if checkoutRequestID(uid, rec.CartID, i) == rec.RequestID {
			return true
		}
	}
	return false
}

// checkEnd is run after the liveness phase: I5 (every cart completed, waiting for a named
// person's action, or progressing; no hot loops) and I3 for purchases whose outcome is final.
func (w *simWorld) checkEnd() {
	carts := w.liveCarts()
	receipts := w.receipts()
	if w.checkCancellationsRecorded(carts); w.violation != nil {
		return
	}
	for _, c := range carts {
		n := w.names[c.Name]
		// No hot loop: at most 30 reconciles calling Partner Center in any minute.
		for i := 30; i < len(n.busy); i++ {
			if n.busy[i].Sub(n.busy[i-30]) < time.Minute {
				w.violate("I5", "%s called Partner Center in 31 reconciles within a minute (hot loop)", c.Name)
				return
			}
		}
		if co := c.Status.Checkout; co != nil && co.Outcome.Final() {
			for _, o := range w.pc.committedOrders(co.RequestID) {
				if _, lied := w.lies[co.RequestID]; !lied && !w.recorded(o.Order.ID, carts, receipts) {
					w.violate("I3", "%s's checkout %s is %s, but its order %s is recorded in no status and no receipt (status orders: %q)",
						c.Name, short(co.RequestID), co.Outcome, o.Order.ID, orderIDs(c.Status.Orders))
					return
				}
			}
		}
		if slices.Contains([]pcv1alpha1.Phase{pcv1alpha1.PhaseCompleted, pcv1alpha1.PhaseCancelled, pcv1alpha1.PhasePartiallyCancelled}, c.Status.Phase) || n.scheduled {
			continue
		}
		if msg, ok := waitingForPerson(c); ok {
			w.tracef("end: %s waits for a person: %s", c.Name, truncate(msg, 200))
			continue
		}
		w.violate("I5", "%s is stuck: phase %q, nothing scheduled, and no condition names what a person should do (%s)", c.Name, c.Status.Phase, w.describeLive(c.Name))
		return
	}
}

// waitingForPerson: a Stalled condition, or Ready=False waiting on approval, a freeze or a
// pause, whose message names the action.
func waitingForPerson(c *pcv1alpha1.PartnerCart) (string, bool) {
	actions := []string{"annotat", "spec", "approv", "PartnerCart", "re-approve", "without", "Partner Center"}
	names := func(msg string) bool {
		return slices.ContainsFunc(actions, func(a string) bool { return strings.Contains(msg, a) })
	}
	if cond := apimeta.FindStatusCondition(c.Status.Conditions, pcv1alpha1.StalledCondition); cond != nil && cond.Status == metav1.ConditionTrue && names(cond.Message) {
		return cond.Reason + ": " + cond.Message, true
	}
	if cond := apimeta.FindStatusCondition(c.Status.Conditions, pcv1alpha1.ReadyCondition); cond != nil && cond.Status == metav1.ConditionFalse && names(cond.Message) &&
		(c.Status.Phase == pcv1alpha1.PhaseAwaitingApproval || cond.Reason == pcv1alpha1.PurchaseFrozenReason ||
			cond.Reason == pcv1alpha1.DeletionBlockedReason || cond.Reason == pcv1alpha1.PausedReason) {
		return cond.Reason + ": " + cond.Message, true
	}
	return "", false
}

// ---- small helpers ----

func sortedKeys[K interface{ ~string }, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
