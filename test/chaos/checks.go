package main

import (
	"context"
	"os"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/harness"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	"github.com/partnercart/partnercart-operator/internal/pcsim"
)

// evidence is what the checks read once everything has converged.
type evidence struct {
	list     []pcv1alpha1.PartnerCart // the objects that exist now
	objects  []pcv1alpha1.PartnerCart // and the pruned ones, in their last state
	stats    *pcsim.Stats
	orders   []pcsim.OrderRecord
	detailed []partnercenter.Order // the customer's orders with their lines
	receipts []corev1.ConfigMap
}

// verify checks with fresh reads, after a graceful stop so the managers' logs are complete.
func (r *chaosRun) verify(s *stack, p *plan, g *gitops) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, m := range s.managers() {
		if err := m.Stop(10 * time.Second); err != nil {
			r.fail("stop manager: %v", err)
		}
	}
	for _, e := range r.cl.unexpectedExits {
		r.fail("the manager exited on its own: %s", e)
	}
	ev, err := gather(ctx, s, g)
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

	r.checkOutcomes(ev.list, p, g)
	if stats.DuplicateCheckouts != 0 {
		r.fail("pcsim counted %d duplicate checkouts: %v", stats.DuplicateCheckouts, stats.OrdersPerCart)
	}
	r.lost = checkOrders(ev.objects, ev.receipts, ev.orders, stats, r.fail)
	r.checkApproval(ev, p, g)
	r.checkLeaks(ctx, s)

	calls := harness.Calls(stats)
	r.logf("Partner Center calls: %v; upstream carts created %d for %d PartnerCarts; replayed %d; %s",
		sortedMap(calls), stats.CartsCreated, len(ev.objects), stats.ReplayedRequests, g.describe())
}

// gather reads the carts, pcsim's stats and orders, and the receipts; the orders' lines last,
// through pcsim's API, so that those calls are not in the stats.
func gather(ctx context.Context, s *stack, g *gitops) (*evidence, error) {
	var ev evidence
	var err error
	if ev.list, err = harness.ListCarts(ctx, s.cp.Client, s.namespaces); err != nil {
		return nil, err
	}
	g.mu.Lock()
	ev.objects = append(slices.Clone(ev.list), g.pruned...)
	g.mu.Unlock()
	if ev.stats, err = s.sim.Stats(ctx); err != nil {
		return nil, err
	}
	if ev.orders, err = s.sim.Orders(ctx); err != nil {
		return nil, err
	}
	if ev.receipts, err = harness.ListReceipts(ctx, s.cp.Client, s.namespaces); err != nil {
		return nil, err
	}
	if ev.detailed, err = s.sim.CustomerOrders(ctx, harness.CustomerID); err != nil {
		return nil, err
	}
	return &ev, nil
}

// checkApproval counts the purchases nobody approved and the names bought more than once,
// and fails on each, and on any checkout intent persisted after a revoke.
func (r *chaosRun) checkApproval(ev *evidence, p *plan, g *gitops) {
	purchases, err := harness.Purchases(ev.orders, ev.detailed)
	if err != nil {
		r.fail("%v", err)
	}
	g.mu.Lock()
	audit := &harness.Audit{Objects: ev.objects, Approved: p.specs, Revoked: g.revoked, Receipts: ev.receipts, Purchases: purchases}
	g.mu.Unlock()
	unapproved := audit.UnapprovedPurchases()
	r.unapproved = len(unapproved)
	reportCapped(r.fail, "unapproved purchase: ", unapproved)
	reportCapped(r.fail, "checkout intent after a revoke: ", audit.IntentsAfterRevoke())
	var repeats []string
	r.repurchases, repeats = audit.Repurchases()
	reportCapped(r.fail, "repurchase: ", repeats)
	orders, lines := 0, 0
	for _, p := range purchases {
		orders += len(p.Orders)
		lines += len(p.Lines)
	}
	r.logf("audited %d purchases (%d orders, %d lines) against the approved specs, %d revokes and %d receipts",
		len(purchases), orders, lines, len(audit.Revoked), len(ev.receipts))
}

// reportCapped fails with each message, at most 15.
func reportCapped(fail func(string, ...any), prefix string, msgs []string) {
	for i, m := range msgs {
		if i == 15 {
			fail("%s... and %d more", prefix, len(msgs)-15)
			return
		}
		fail("%s%s", prefix, m)
	}
}

// checkLeaks: no secret or token in the managers' logs or in the cluster, and no panic.
func (r *chaosRun) checkLeaks(ctx context.Context, s *stack) {
	var logs []string
	for _, m := range s.managers() {
		logs = append(logs, m.LogFiles()...)
	}
	leaks, err := harness.ScanFiles(logs...)
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
	for _, f := range logs {
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), "panic:") {
			r.fail("the manager panicked; see %s", f)
		}
	}
}

// checkOutcomes: every cart is terminal, and ends the way its content and what was done to
// it say it must. It counts outcomes, revokes and re-applies for the closing line.
func (r *chaosRun) checkOutcomes(list []pcv1alpha1.PartnerCart, p *plan, g *gitops) {
	if len(list) != r.o.carts {
		r.fail("%d PartnerCarts exist, %d were created", len(list), r.o.carts)
	}
	var bad []string
	stalled := map[string]int{}
	for i := range list {
		c := &list[i]
		out := harness.OutcomeOf(c)
		r.outcomes[out]++
		if out == harness.Stalled {
			stalled[harness.StalledReason(c)]++
		}
		if msg := r.expectOutcome(c, out, p.kinds[c.Namespace+"/"+c.Name], g); msg != "" {
			bad = append(bad, msg+": "+harness.Describe(c))
		}
	}
	reportCapped(r.fail, "", bad)
	r.logf("stalled carts by reason: %s", sortedMap(stalled))
}

// expectOutcome says what is wrong with how cart c ended (out), or "".
func (r *chaosRun) expectOutcome(c *pcv1alpha1.PartnerCart, out harness.Outcome, kind cartKind, g *gitops) string {
	if out == harness.InFlight {
		return "not terminal"
	}
	if g.isReapplied(c) {
		r.reapplies.done++
		if out != harness.Stalled || harness.StalledReason(c) != pcv1alpha1.PreviouslyPurchasedReason {
			return "a Completed cart pruned and re-applied did not stop with PreviouslyPurchased"
		}
		if c.Status.Checkout != nil || len(c.Status.CheckoutHistory) > 0 || len(c.Status.Orders) > 0 {
			return "a Completed cart pruned and re-applied recorded a checkout"
		}
		r.reapplies.previouslyPurchased++
		return ""
	}
	if rev, ok := g.revocation(c); ok {
		return r.expectRevoked(c, out, kind, rev)
	}
	switch {
	case out == harness.AwaitingApproval:
		return "an approved cart ended awaiting approval"
	case kind.completes() && out != harness.Completed:
		return "a " + kind.String() + " cart, which nothing upstream refuses, did not complete"
	case (kind == kindOrderError || kind == kindCheckoutFail) && out != harness.Stalled:
		return "a " + kind.String() + " cart did not end Stalled"
	}
	return ""
}

// expectRevoked: a cart whose approval was revoked before any checkout intent waits for
// approval with nothing bought; one revoked after its intent ends as its kind says (a refused
// intent may leave it waiting for approval too).
func (r *chaosRun) expectRevoked(c *pcv1alpha1.PartnerCart, out harness.Outcome, kind cartKind, rev harness.Revocation) string {
	r.revokes.done++
	if out == harness.AwaitingApproval {
		r.revokes.awaiting++
	}
	if !rev.IntentSeen {
		r.revokes.beforeIntent++
		if out != harness.AwaitingApproval || len(c.Status.Orders) > 0 {
			return "a cart whose approval was revoked before any checkout intent is not waiting for approval with nothing bought"
		}
		return ""
	}
	if kind.completes() && out != harness.Completed && !repeatHeldForAPerson(c, out) {
		return "a " + kind.String() + " cart whose approval was revoked after its checkout intent did not complete"
	}
	return ""
}

// repeatHeldForAPerson: the intent's call was to be repeated with its cart not ordered upstream
// (the first call may never have reached Partner Center), and the approval was withdrawn
// meanwhile. The repeat could have been the call that buys, so the operator hands the outcome
// to a person (Unknown) instead, with nothing recorded as bought. (The audit checks that
// Partner Center made no order of it past the revocation.)
func repeatHeldForAPerson(c *pcv1alpha1.PartnerCart, out harness.Outcome) bool {
	co := c.Status.Checkout
	return out == harness.Stalled && co != nil && co.Outcome == pcv1alpha1.CheckoutUnknown && len(c.Status.Orders) == 0 &&
		strings.Contains(co.Message, "the approval was withdrawn")
}

// cartIndex looks PartnerCarts up by UID, by the orders in their status and by the upstream
// cart their checkout intents name. Carts are named namespace/name.
type cartIndex struct {
	byUID      map[string]*pcv1alpha1.PartnerCart
	inStatus   map[string][]string // order ID -> carts listing it
	intentCart map[string][]string // upstream cart ID -> PartnerCarts whose status.checkout names it
	anyIntent  map[string][]string // upstream cart ID -> PartnerCarts with an intent (current or past) naming it
}

func indexCarts(list []pcv1alpha1.PartnerCart) *cartIndex {
	idx := &cartIndex{
		byUID: map[string]*pcv1alpha1.PartnerCart{}, inStatus: map[string][]string{},
		intentCart: map[string][]string{}, anyIntent: map[string][]string{},
	}
	for i := range list {
		c := &list[i]
		key := c.Namespace + "/" + c.Name
		idx.byUID[string(c.UID)] = c
		named := map[string]bool{}
		if c.Status.Checkout != nil {
			idx.intentCart[c.Status.Checkout.CartID] = append(idx.intentCart[c.Status.Checkout.CartID], key)
			named[c.Status.Checkout.CartID] = true
		}
		for _, h := range c.Status.CheckoutHistory {
			named[h.CartID] = true
		}
		for id := range named {
			idx.anyIntent[id] = append(idx.anyIntent[id], key)
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
	checkCheckoutIntents(stats, idx.anyIntent, fail)
	return lost
}

// checkReceipts: each receipt belongs to an existing (or pruned) PartnerCart with a
// checkout, agrees with it, and is its only receipt. It returns the receipts
// (namespace/name) by order ID.
func checkReceipts(receipts []corev1.ConfigMap, byUID map[string]*pcv1alpha1.PartnerCart, fail func(string, ...any)) map[string][]string {
	inReceipt := map[string][]string{}
	receiptsPerCart := map[string]int{}
	for _, r := range receipts {
		key := r.Namespace + "/" + r.Name
		for _, id := range pcv1alpha1.SplitOrderIDs(r.Data["orderIds"]) {
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
	got := pcv1alpha1.SplitOrderIDs(data["orderIds"])
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

// checkCheckoutIntents: every cart pcsim checked out is a persisted checkout intent (current,
// or refused and kept in history) of some PartnerCart.
func checkCheckoutIntents(stats *pcsim.Stats, anyIntent map[string][]string, fail func(string, ...any)) {
	checkedOut := map[string]bool{}
	for id := range stats.CheckoutsExecuted {
		checkedOut[id] = true
	}
	for id := range stats.OrdersPerCart {
		checkedOut[id] = true
	}
	for id := range checkedOut {
		if len(anyIntent[id]) == 0 {
			fail("pcsim checked out cart %s, but no PartnerCart has a persisted checkout intent for it", id)
		}
	}
}
