package controller

import (
	"context"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	pcfake "github.com/partnercart/partnercart-operator/internal/partnercenter/fake"
)

// Partner Center makes one order per order group, not per billing cycle: its published
// multi-type checkout splits one cart into four orders, and lines of one billing cycle can
// land in different orders. The identical-purchase guard must recognise a purchase of the
// cart however it was split, and only a purchase of exactly the cart's lines.

const (
	testItemTeams = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
	testItemRI    = "DZH318Z0BQ36:004G:DZH318Z08C0S"
)

func TestMatchingOrdersAcrossOrderGroups(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	since := now.Add(-7 * 24 * time.Hour)
	order := func(id string, age time.Duration, cycle string, lines ...partnercenter.OrderLineItem) partnercenter.Order {
		return partnercenter.Order{ID: id, BillingCycle: cycle, CreationDate: now.Add(-age).Format(time.RFC3339Nano), LineItems: lines}
	}
	line := func(offer string, q int, term, name string) partnercenter.OrderLineItem {
		return partnercenter.OrderLineItem{OfferID: offer, Quantity: q, TermDuration: term, FriendlyName: name}
	}
	e5 := line(testItemE5, 25, "P1Y", "Contoso E5")
	teams := line(testItemTeams, 5, "P1M", "Contoso Teams")
	ri := line(testItemRI, 1, "P1Y", "Contoso RI")
	specLine := func(offer string, q int32, cycle pcv1alpha1.BillingCycle, term, name string) pcv1alpha1.CartLineItem {
		return pcv1alpha1.CartLineItem{LineItemFields: pcv1alpha1.LineItemFields{
			CatalogItemID: offer, Quantity: q, BillingCycle: cycle, TermDuration: term, FriendlyName: name}}
	}
	specE5 := specLine(testItemE5, 25, pcv1alpha1.BillingCycleMonthly, "P1Y", "Contoso E5")
	specTeams := specLine(testItemTeams, 5, pcv1alpha1.BillingCycleMonthly, "P1M", "Contoso Teams")
	specRI := specLine(testItemRI, 1, pcv1alpha1.BillingCycleOneTime, "P1Y", "Contoso RI")
	twoMonthly := []pcv1alpha1.CartLineItem{specE5, specTeams}
	threeLines := []pcv1alpha1.CartLineItem{specE5, specTeams, specRI}
	unnamedTeams := specTeams
	unnamedTeams.FriendlyName = ""
	withAddon := specE5
	withAddon.AddonItems = []pcv1alpha1.CartAddonItem{{LineItemFields: pcv1alpha1.LineItemFields{
		CatalogItemID: testItemTeams, Quantity: 5, BillingCycle: pcv1alpha1.BillingCycleMonthly, TermDuration: "P1M", FriendlyName: "Contoso Teams"}}}

	for name, tc := range map[string]struct {
		orders []partnercenter.Order
		lines  []pcv1alpha1.CartLineItem
		want   []string
	}{
		"split across groups of different billing cycles": {
			[]partnercenter.Order{order("o-rec", time.Hour, "monthly", e5), order("o-ri", time.Hour, "one_time", ri), order("o-teams", time.Hour, "monthly", teams)},
			threeLines, []string{"o-rec", "o-ri", "o-teams"}},
		"same billing cycle, two orders": {
			[]partnercenter.Order{order("o1", time.Hour, "monthly", e5), order("o2", time.Hour, "monthly", teams)},
			twoMonthly, []string{"o1", "o2"}},
		"same billing cycle, one order": {
			[]partnercenter.Order{order("o1", time.Hour, "Monthly", teams, e5)},
			twoMonthly, []string{"o1"}},
		"an order with an extra line is not this purchase": {
			[]partnercenter.Order{order("o1", time.Hour, "monthly", e5, line(testItemE5, 1, "P1Y", "Other E5")), order("o2", time.Hour, "monthly", teams)},
			twoMonthly, nil},
		"a missing line": {
			[]partnercenter.Order{order("o1", time.Hour, "monthly", e5)},
			twoMonthly, nil},
		"one order older than the window": {
			[]partnercenter.Order{order("o1", time.Hour, "monthly", e5), order("o2", 8*24*time.Hour, "monthly", teams)},
			twoMonthly, nil},
		"an order without a creation date": {
			[]partnercenter.Order{order("o1", time.Hour, "monthly", e5), {ID: "o2", BillingCycle: "monthly", LineItems: []partnercenter.OrderLineItem{teams}}},
			twoMonthly, nil},
		"another billing cycle": {
			[]partnercenter.Order{order("o1", time.Hour, "annual", e5), order("o2", time.Hour, "monthly", teams)},
			twoMonthly, nil},
		"billing cycles in another spelling": {
			[]partnercenter.Order{order("o1", time.Hour, "Monthly", e5), order("o2", time.Hour, "OneTime", ri), order("o3", time.Hour, "monthly", teams)},
			threeLines, []string{"o1", "o2", "o3"}},
		"friendly names differ when the spec names every line": {
			[]partnercenter.Order{order("o1", time.Hour, "monthly", e5), order("o2", time.Hour, "monthly", line(testItemTeams, 5, "P1M", "Fabrikam Teams"))},
			twoMonthly, nil},
		"friendly names do not count when the spec leaves one out": {
			[]partnercenter.Order{order("o1", time.Hour, "monthly", line(testItemE5, 25, "P1Y", "whatever")), order("o2", time.Hour, "monthly", teams)},
			[]pcv1alpha1.CartLineItem{specE5, unnamedTeams}, []string{"o1", "o2"}},
		"a partial purchase before does not hide the whole one": {
			// Taking orders greedily oldest first would use o-part for the E5 line and then
			// find no order for Teams alone.
			[]partnercenter.Order{order("o-part", 2*time.Hour, "monthly", e5), order("o-whole", time.Hour, "monthly", e5, teams)},
			twoMonthly, []string{"o-whole"}},
		"two purchases: the newest is named": {
			[]partnercenter.Order{order("o-old", 3*time.Hour, "monthly", e5, teams), order("o-new1", time.Hour, "monthly", e5), order("o-new2", time.Hour, "monthly", teams)},
			twoMonthly, []string{"o-new1", "o-new2"}},
		"the same line twice, bought in two orders": {
			[]partnercenter.Order{order("o1", time.Hour, "monthly", e5), order("o2", time.Hour, "monthly", e5)},
			[]pcv1alpha1.CartLineItem{specE5, specE5}, []string{"o1", "o2"}},
		"the same line twice, bought once": {
			[]partnercenter.Order{order("o1", time.Hour, "monthly", e5)},
			[]pcv1alpha1.CartLineItem{specE5, specE5}, nil},
		"an add-on in its parent's order": {
			[]partnercenter.Order{order("o1", time.Hour, "monthly", e5, teams)},
			[]pcv1alpha1.CartLineItem{withAddon}, []string{"o1"}},
		"no orders": {nil, threeLines, nil},
	} {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(matchingOrders(tc.orders, tc.lines, since)).To(Equal(tc.want))
		})
	}
}

// TestMatchingOrdersSearchIsBounded: orders that each hold part of the cart, many of them,
// with no exact cover. The search ends, and since it could not finish, every candidate is
// named so that a person decides instead of a purchase on an unfinished search.
func TestMatchingOrdersSearchIsBounded(t *testing.T) {
	g := NewWithT(t)
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	var lines []pcv1alpha1.CartLineItem
	var orders []partnercenter.Order
	for i := range 30 {
		lines = append(lines, pcv1alpha1.CartLineItem{LineItemFields: pcv1alpha1.LineItemFields{
			CatalogItemID: testItemE5, Quantity: 1, BillingCycle: pcv1alpha1.BillingCycleMonthly, TermDuration: "P1Y"}})
		// Pairs of the one-seat line: fifteen pairs would cover 30 lines, so add one more line
		// the orders never hold, which makes the search try every way of choosing pairs.
		orders = append(orders, partnercenter.Order{ID: "o" + strings.Repeat("x", i), BillingCycle: "monthly",
			CreationDate: now.Add(-time.Duration(i) * time.Minute).Format(time.RFC3339),
			LineItems:    []partnercenter.OrderLineItem{{OfferID: testItemE5, Quantity: 1, TermDuration: "P1Y"}, {OfferID: testItemE5, Quantity: 1, TermDuration: "P1Y"}}})
	}
	lines = append(lines, pcv1alpha1.CartLineItem{LineItemFields: pcv1alpha1.LineItemFields{
		CatalogItemID: testItemTeams, Quantity: 1, BillingCycle: pcv1alpha1.BillingCycleMonthly, TermDuration: "P1M"}})

	start := time.Now()
	got := matchingOrders(orders, lines, now.Add(-time.Hour))

	g.Expect(time.Since(start)).To(BeNumerically("<", 5*time.Second))
	g.Expect(got).To(HaveLen(30), "every candidate, for a person to look at")
}

// TestSplitPurchaseStopsTheCart: a re-created cart (no receipt) whose lines the customer
// bought this week in two orders of the same billing cycle stops instead of buying again.
func TestSplitPurchaseStopsTheCart(t *testing.T) {
	g := NewWithT(t)
	now := time.Now().Truncate(time.Second)
	cart := syncedApprovedCart("0f6c1b8e-4c9e-4f7e-9a1d-3c5b7d9e1f51")
	cart.Spec.LineItems = append(cart.Spec.LineItems, pcv1alpha1.CartLineItem{LineItemFields: pcv1alpha1.LineItemFields{
		ID: 1, CatalogItemID: testItemTeams, Quantity: 5, BillingCycle: pcv1alpha1.BillingCycleMonthly, TermDuration: "P1M", FriendlyName: "Contoso Teams"}})
	cart.Status.SpecHash = SpecHash(&cart.Spec)
	cart.Status.Cart.SyncedSpecHash = cart.Status.SpecHash
	r, k8s, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(now), interceptor.Funcs{}, Options{})
	created := now.Add(-time.Hour).Format(time.RFC3339)
	pc.ListOrdersFn = func(context.Context, string) ([]partnercenter.Order, error) {
		return []partnercenter.Order{
			{ID: "o-e5", BillingCycle: "monthly", CreationDate: created, LineItems: []partnercenter.OrderLineItem{
				{OfferID: testItemE5, Quantity: 25, TermDuration: "P1Y", FriendlyName: "Contoso E5"}}},
			{ID: "o-teams", BillingCycle: "monthly", CreationDate: created, LineItems: []partnercenter.OrderLineItem{
				{OfferID: testItemTeams, Quantity: 5, TermDuration: "P1M", FriendlyName: "Contoso Teams"}}},
		}, nil
	}

	_, err := r.Reconcile(t.Context(), reconcileRequest(cart))

	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(pc.Count(partnercenter.OpCheckout)).To(BeZero())
	got := storedCart(t, k8s, cart)
	g.Expect(got.Status.Checkout).To(BeNil())
	g.Expect(conditionReason(got, pcv1alpha1.StalledCondition)).To(Equal(pcv1alpha1.IdenticalRecentPurchaseReason))
	g.Expect(conditionMessage(got, pcv1alpha1.StalledCondition)).To(ContainSubstring("orders o-e5, o-teams"))
}

// TestRecordedOrderIsLeftOutOfTheSplit: an order a receipt records was bought knowingly by
// another PartnerCart that still exists; the match is made again without it, from the orders
// no receipt names. A ConfigMap a tenant labelled with an order in its own namespace is no
// receipt: the order stays unrecorded.
func TestRecordedOrderIsLeftOutOfTheSplit(t *testing.T) {
	g := NewWithT(t)
	now := time.Now().Truncate(time.Second)
	cart := syncedApprovedCart("0f6c1b8e-4c9e-4f7e-9a1d-3c5b7d9e1f52")
	r, k8s, _ := unitReconciler(cart, clocktesting.NewFakePassiveClock(now), interceptor.Funcs{}, Options{})
	key, ok := orderLabelKey("o-recorded")
	g.Expect(ok).To(BeTrue())
	buyer := newCart("other", "buyer")
	g.Expect(k8s.Create(t.Context(), buyer)).To(Succeed())
	receipt := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: unitReceiptNS, Name: "receipt",
		Labels: map[string]string{key: "", pcv1alpha1.ReceiptCartNamespaceLabel: "other", pcv1alpha1.ReceiptCartUIDLabel: string(buyer.UID)}}}
	g.Expect(k8s.Create(t.Context(), receipt)).To(Succeed())
	forgedKey, _ := orderLabelKey("o-unrecorded")
	for _, ns := range []string{"other", cart.Namespace} {
		forged := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "forged",
			Labels: map[string]string{forgedKey: "", pcv1alpha1.ReceiptLabel: "true", pcv1alpha1.ReceiptCartNamespaceLabel: "other", pcv1alpha1.ReceiptCartUIDLabel: string(buyer.UID)}}}
		g.Expect(k8s.Create(t.Context(), forged)).To(Succeed())
	}
	e5 := []partnercenter.OrderLineItem{{OfferID: testItemE5, Quantity: 25, TermDuration: "P1Y", FriendlyName: "Contoso E5"}}
	orders := []partnercenter.Order{
		{ID: "o-recorded", BillingCycle: "monthly", CreationDate: now.Add(-time.Minute).Format(time.RFC3339), LineItems: e5},
		{ID: "o-unrecorded", BillingCycle: "monthly", CreationDate: now.Add(-time.Hour).Format(time.RFC3339), LineItems: e5},
	}

	got, err := r.unrecordedMatches(t.Context(), orders, cart.Spec.LineItems, now.Add(-24*time.Hour))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(Equal([]string{"o-unrecorded"}))

	got, err = r.unrecordedMatches(t.Context(), orders[:1], cart.Spec.LineItems, now.Add(-24*time.Hour))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(BeEmpty())
	g.Expect(orders).To(HaveLen(2), "the caller's list is not changed")
	g.Expect(orders[1].ID).To(Equal("o-unrecorded"))
}

// TestUnreadableOrderListFailsClosed: the customer's order list answered but cannot be read
// whole (too many pages, say). The guard cannot tell whether these lines were just bought, so
// nothing is bought: the cart stalls with a reason that says what a person can do, and the
// list is read again later; once it can be read, the checkout goes ahead once. (It used to
// fail open: the checkout went ahead without the guard.)
func TestUnreadableOrderListFailsClosed(t *testing.T) {
	g := NewWithT(t)
	now := time.Now().Truncate(time.Second)
	clk := clocktesting.NewFakePassiveClock(now)
	cart := syncedApprovedCart("0f6c1b8e-4c9e-4f7e-9a1d-3c5b7d9e1f53")
	r, k8s, pc := unitReconciler(cart, clk, interceptor.Funcs{}, Options{})
	pc.ListOrdersFn = func(context.Context, string) ([]partnercenter.Order, error) {
		return nil, &partnercenter.DecodeError{Operation: partnercenter.OpListOrders, StatusCode: 200, Cause: "the order list has more than 100 pages"}
	}

	res, err := r.Reconcile(t.Context(), reconcileRequest(cart))

	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.RequeueAfter).To(Equal(ordersCacheTTL), "the list is read again by itself")
	g.Expect(pc.Count(partnercenter.OpCheckout)).To(BeZero(), "nothing is bought while the guard cannot look")
	got := storedCart(t, k8s, cart)
	g.Expect(got.Status.Checkout).To(BeNil())
	g.Expect(conditionReason(got, pcv1alpha1.StalledCondition)).To(Equal(pcv1alpha1.OrdersUnreadableReason))
	msg := conditionMessage(got, pcv1alpha1.StalledCondition)
	g.Expect(msg).To(ContainSubstring("more than 100 pages"))
	g.Expect(msg).To(ContainSubstring("--identical-purchase-window"))

	pc.ListOrdersFn = func(context.Context, string) ([]partnercenter.Order, error) { return nil, nil }
	pcfake.WithCheckoutResult(&partnercenter.CartCheckoutResult{Orders: []partnercenter.Order{{ID: "o-1", Status: "completed"}}})(pc)
	clk.SetTime(now.Add(ordersCacheTTL + time.Second)) // the shared unreadable answer has expired
	_, err = r.Reconcile(t.Context(), reconcileRequest(cart))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(pc.Count(partnercenter.OpCheckout)).To(Equal(1))
}

// TestRenamedCartDoesNotBuyAgain: renaming a cart in Git deletes the object that bought and
// creates one of another name. The order its receipt records has no live buyer any more: it
// may be this cart's own earlier purchase, so it stops the cart like an unrecorded one.
func TestRenamedCartDoesNotBuyAgain(t *testing.T) {
	g := NewWithT(t)
	now := time.Now().Truncate(time.Second)
	cart := syncedApprovedCart("0f6c1b8e-4c9e-4f7e-9a1d-3c5b7d9e1f53")
	r, k8s, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(now), interceptor.Funcs{}, Options{})
	renamed := boughtCart("5e1a7c00-4c9e-4f7e-9a1d-3c5b7d9e1f53", now.Add(-time.Hour))
	renamed.Name = "before-the-rename"
	receipt, _ := receiptWrittenBy(t, renamed)
	// A receipt of an earlier release, without the content label (which would stop the cart
	// before the order list is read: TestRenamedCartFindsTheReceiptOfItsContent).
	delete(receipt.Labels, pcv1alpha1.ReceiptContentLabel)
	g.Expect(k8s.Create(t.Context(), receipt)).To(Succeed())
	pcfake.WithOrders(partnercenter.Order{ID: "o-1", BillingCycle: "monthly", CreationDate: now.Add(-time.Hour).Format(time.RFC3339),
		LineItems: []partnercenter.OrderLineItem{{OfferID: testItemE5, Quantity: 25, TermDuration: "P1Y", FriendlyName: "Contoso E5"}}})(pc)
	pc.CheckoutFn = func(context.Context, string, string, string) (*partnercenter.CartCheckoutResult, error) {
		return &partnercenter.CartCheckoutResult{Orders: []partnercenter.Order{{ID: "o-2"}}}, nil
	}
	reconcileOK(t, r, cart)
	g.Expect(pc.Count(partnercenter.OpCheckout)).To(BeZero())
	g.Expect(storedCart(t, k8s, cart)).To(haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.IdenticalRecentPurchaseReason))
}

// TestRenamedCartFindsTheReceiptOfItsContent: a rename in Git within Partner Center's 15-minute
// listing delay (the order is not listed yet) is found by the receipt's content label, when
// the object that bought is gone; a sibling that still exists is another intended purchase.
func TestRenamedCartFindsTheReceiptOfItsContent(t *testing.T) {
	for _, buyerExists := range []bool{false, true} {
		t.Run(map[bool]string{false: "buyer gone", true: "buyer exists"}[buyerExists], func(t *testing.T) {
			g := NewWithT(t)
			now := time.Now().Truncate(time.Second)
			cart := syncedApprovedCart("0f6c1b8e-4c9e-4f7e-9a1d-3c5b7d9e1f54")
			r, k8s, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(now), interceptor.Funcs{}, Options{})
			renamed := boughtCart("5e1a7c01-4c9e-4f7e-9a1d-3c5b7d9e1f54", now.Add(-5*time.Minute))
			renamed.Name = "before-the-rename"
			receipt, _ := receiptWrittenBy(t, renamed)
			g.Expect(k8s.Create(t.Context(), receipt)).To(Succeed())
			if buyerExists {
				sibling := renamed.DeepCopy()
				sibling.ResourceVersion = ""
				g.Expect(k8s.Create(t.Context(), sibling)).To(Succeed())
			}
			pc.CheckoutFn = func(context.Context, string, string, string) (*partnercenter.CartCheckoutResult, error) {
				return &partnercenter.CartCheckoutResult{Orders: []partnercenter.Order{{ID: "o-2"}}}, nil
			}
			reconcileOK(t, r, cart) // the order list is empty: o-1 is not listed yet
			if buyerExists {
				g.Expect(pc.Count(partnercenter.OpCheckout)).To(Equal(1))
				return
			}
			g.Expect(pc.Count(partnercenter.OpCheckout)).To(BeZero())
			g.Expect(storedCart(t, k8s, cart)).To(haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.PreviouslyPurchasedReason))
		})
	}
}
