package controller

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	pcfake "github.com/partnercart/partnercart-operator/internal/partnercenter/fake"
)

// The purchase-safety paths of issue 19, each driven through Reconcile over a fake API server
// and a fake Partner Center. Every test here failed on 7803f87.

// reconcileOK runs one reconcile of cart and expects no error.
func reconcileOK(t *testing.T, r *PartnerCartReconciler, cart *pcv1alpha1.PartnerCart) {
	t.Helper()
	_, err := r.Reconcile(t.Context(), reconcileRequest(cart))
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
}

// expiringCarts makes the fake Partner Center create a new cart (cart-2, cart-3, ...) for every
// POST, living a week from clk's now, and serve the latest for GET and PUT.
func expiringCarts(pc *pcfake.Client, clk *clocktesting.FakePassiveClock, cart *pcv1alpha1.PartnerCart) {
	n := 1
	current := &partnercenter.Cart{ID: "cart-1", Status: partnercenter.CartStatusActive, LineItems: wireLineItems(cart.Spec.LineItems),
		CreationTimestamp: clk.Now().UTC().Format(time.RFC3339), ExpirationTimestamp: clk.Now().Add(7 * 24 * time.Hour).UTC().Format(time.RFC3339)}
	pc.GetCartFn = func(context.Context, string, string) (*partnercenter.Cart, error) { c := *current; return &c, nil }
	pc.CreateCartFn = func(_ context.Context, _ string, sent *partnercenter.Cart, _ string) (*partnercenter.Cart, error) {
		n++
		current = &partnercenter.Cart{ID: "cart-" + string(rune('0'+n)), Status: partnercenter.CartStatusActive, LineItems: sent.LineItems,
			CreationTimestamp: clk.Now().UTC().Format(time.RFC3339), ExpirationTimestamp: clk.Now().Add(7 * 24 * time.Hour).UTC().Format(time.RFC3339)}
		c := *current
		return &c, nil
	}
}

// Path 1: a definite refusal blocks new intents until a person changes the spec; the refused
// cart expiring upstream (and a restart, a watch event) changes nothing.
func TestRefusedCartStaysRefusedAfterItsCartExpires(t *testing.T) {
	g := NewWithT(t)
	now := time.Now().Truncate(time.Second)
	clk := clocktesting.NewFakePassiveClock(now)
	cart := syncedApprovedCart("a1001000-0000-4f7e-9a1d-3c5b7d9e1f30")
	cart.Status.Cart = nil
	r, k8s, pc := unitReconciler(cart, clk, interceptor.Funcs{}, Options{})
	expiringCarts(pc, clk, cart)
	pc.CheckoutFn = func(context.Context, string, string, string) (*partnercenter.CartCheckoutResult, error) {
		return nil, &partnercenter.APIError{StatusCode: http.StatusForbidden, Code: "900121", Description: "credit limit"}
	}
	reconcileOK(t, r, cart) // the finalizer is on: create, approve, check out, refused
	g.Expect(pc.Count(partnercenter.OpCheckout)).To(Equal(1))
	g.Expect(storedCart(t, k8s, cart).Status.CheckoutHistory).To(HaveLen(1))

	clk.SetTime(now.Add(8 * 24 * time.Hour)) // the refused cart has expired
	for range 3 {
		reconcileOK(t, r, cart)
	}
	got := storedCart(t, k8s, cart)
	g.Expect(pc.Count(partnercenter.OpCheckout)).To(Equal(1), "no checkout without a person acting")
	g.Expect(got.Status.Checkout).To(BeNil())
	g.Expect(got).To(haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutRefusedReason))

	// A person acts: a new approval is a new generation, and a new intent goes through.
	pc.CheckoutFn = func(context.Context, string, string, string) (*partnercenter.CartCheckoutResult, error) {
		return &partnercenter.CartCheckoutResult{Orders: []partnercenter.Order{{ID: "o-1", Status: "completed"}}}, nil
	}
	got.Generation++
	got.Spec.Approval.ApprovedAt = now.Add(8 * 24 * time.Hour).UTC().Format(time.RFC3339)
	g.Expect(k8s.Update(t.Context(), got)).To(Succeed())
	reconcileOK(t, r, cart)
	g.Expect(pc.Count(partnercenter.OpCheckout)).To(Equal(2))
	g.Expect(storedCart(t, k8s, cart).Status.Checkout.Outcome).To(Equal(pcv1alpha1.CheckoutSucceeded))
}

// Path 2: what the 4abeaaf release recorded as CheckoutFailed without completion, or completed
// without orders, may have bought: it becomes Unknown, never refused history.
func TestLegacyFailuresThatMayHaveBoughtAreUnknown(t *testing.T) {
	for name, legacy := range map[string]func(*pcv1alpha1.PartnerCart){
		"CheckoutFailed, not completed": func(c *pcv1alpha1.PartnerCart) {
			setCondition(c, pcv1alpha1.CheckedOutCondition, metav1.ConditionFalse, pcv1alpha1.CheckoutFailedReason, "refused: 800002")
		},
		"completed with no orders": func(c *pcv1alpha1.PartnerCart) {
			done := metav1.NewTime(c.Status.Checkout.StartedAt.Add(time.Second))
			c.Status.Checkout.CompletedAt = &done
		},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			now := time.Now().Truncate(time.Second)
			cart := syncedApprovedCart("a1002000-0000-4f7e-9a1d-3c5b7d9e1f30")
			cart.Status.Checkout = pendingIntent(cart, now)
			cart.Status.Checkout.Outcome, cart.Status.Checkout.Attempts = "", 0
			legacy(cart)
			r, k8s, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(now.Add(time.Hour)), interceptor.Funcs{}, Options{})
			pc.CheckoutFn = func(context.Context, string, string, string) (*partnercenter.CartCheckoutResult, error) {
				return &partnercenter.CartCheckoutResult{Orders: []partnercenter.Order{{ID: "o-2"}}}, nil
			}
			reconcileOK(t, r, cart)
			reconcileOK(t, r, cart)
			got := storedCart(t, k8s, cart)
			g.Expect(pc.Count(partnercenter.OpCheckout)).To(BeZero())
			g.Expect(got.Status.CheckoutHistory).To(BeEmpty())
			g.Expect(got.Status.Checkout.Outcome).To(Equal(pcv1alpha1.CheckoutUnknown))
			g.Expect(got).To(haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutOutcomeUnknownReason))
		})
	}
}

// Path 4: an intent none of whose calls Partner Center processed (429, 401) is gated again
// before its next call: a withdrawn approval, a freeze or a deletion stops it without a call.
func TestUnprocessedIntentIsGatedAgain(t *testing.T) {
	for name, tc := range map[string]struct {
		change func(*pcv1alpha1.PartnerCart)
		opts   Options
	}{
		"approval withdrawn": {change: func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.Approved = false }},
		"purchase freeze":    {opts: Options{PurchaseFreeze: true}},
		"price limit below":  {change: func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.MaxTotalPrice = "0.01" }},
		"object deleted":     {change: func(c *pcv1alpha1.PartnerCart) { now := metav1.Now(); c.DeletionTimestamp = &now }},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			now := time.Now().Truncate(time.Second)
			cart := syncedApprovedCart("a1004000-0000-4f7e-9a1d-3c5b7d9e1f30")
			cart.Status.Checkout = pendingIntent(cart, now)
			cart.Status.Checkout.Attempts = 0 // its only call was answered 429 and taken back
			if tc.change != nil {
				tc.change(cart)
			}
			r, k8s, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(now.Add(time.Minute)), interceptor.Funcs{}, tc.opts)
			pc.GetCartFn = func(context.Context, string, string) (*partnercenter.Cart, error) {
				return pricedCart(cart, "1425.00"), nil
			}
			pc.CheckoutFn = func(context.Context, string, string, string) (*partnercenter.CartCheckoutResult, error) {
				return &partnercenter.CartCheckoutResult{Orders: []partnercenter.Order{{ID: "o-1"}}}, nil
			}
			reconcileOK(t, r, cart)
			g.Expect(pc.Count(partnercenter.OpCheckout)).To(BeZero(), "the gate runs before any call")
			got := &pcv1alpha1.PartnerCart{}
			if err := k8s.Get(t.Context(), client.ObjectKeyFromObject(cart), got); apierrors.IsNotFound(err) {
				return // deleted: the intent was retired without a call
			}
			g.Expect(got.Status.Checkout).To(BeNil(), "the unprocessed intent is withdrawn")
		})
	}
}

// pricedCart is cart-1 upstream holding the spec's lines, quoted at total (one line).
func pricedCart(cart *pcv1alpha1.PartnerCart, total string) *partnercenter.Cart {
	lines := wireLineItems(cart.Spec.LineItems)
	lines[0].CurrencyCode = "USD"
	lines[0].Pricing = &partnercenter.Pricing{Price: json.Number(total), ExtendedPrice: json.Number(total)}
	return &partnercenter.Cart{ID: "cart-1", Status: partnercenter.CartStatusActive, LineItems: lines}
}

// Path 5: an upstream cart that differs from the spec in any field that decides what is bought
// is never bought: it is PUT right first, and stalls if it stays different.
func TestContentNobodyApprovedIsNotBought(t *testing.T) {
	for name, differ := range map[string]func(*partnercenter.CartLineItem){
		"promotion":            func(l *partnercenter.CartLineItem) { l.PromotionID = "39NFJQT1PHSN:0008:39NFJQT1Q5J0" },
		"custom term end date": func(l *partnercenter.CartLineItem) { l.CustomTermEndDate = "2031-01-01T00:00:00Z" },
		"provisioning context": func(l *partnercenter.CartLineItem) {
			l.ProvisioningContext = partnercenter.ProvisioningContext{"scope": "shared"}
		},
		"participants": func(l *partnercenter.CartLineItem) {
			l.Participants = []partnercenter.KeyValuePair{{Key: "transaction_reseller", Value: "5357564"}}
		},
		"renewal": func(l *partnercenter.CartLineItem) { l.RenewsTo = &partnercenter.RenewsTo{TermDuration: "P3Y"} },
		"purchase commitment": func(l *partnercenter.CartLineItem) {
			l.PurchaseCommitment = &partnercenter.PurchaseCommitment{Amount: "9.5", Currency: "USD", Grain: "hourly"}
		},
		"attestation": func(l *partnercenter.CartLineItem) { l.AttestationAccepted = ptrTo(false) },
		"add-on": func(l *partnercenter.CartLineItem) {
			l.AddonItems = []partnercenter.CartLineItem{{ID: 1, CatalogItemID: testItemE5, Quantity: 1, BillingCycle: "monthly", TermDuration: "P1Y"}}
		},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			cart := syncedApprovedCart("a1005000-0000-4f7e-9a1d-3c5b7d9e1f30")
			cart.Spec.Approval.SpecHash = cart.Status.SpecHash // even a pinned approval
			r, k8s, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(time.Now()), interceptor.Funcs{}, Options{})
			changed := func() *partnercenter.Cart {
				c := &partnercenter.Cart{ID: "cart-1", Status: partnercenter.CartStatusActive, LineItems: wireLineItems(cart.Spec.LineItems)}
				differ(&c.LineItems[0])
				return c
			}
			pc.GetCartFn = func(context.Context, string, string) (*partnercenter.Cart, error) { return changed(), nil }
			pc.UpdateCartFn = func(context.Context, string, string, *partnercenter.Cart) (*partnercenter.Cart, error) {
				return changed(), nil
			}
			pc.CheckoutFn = func(context.Context, string, string, string) (*partnercenter.CartCheckoutResult, error) {
				return &partnercenter.CartCheckoutResult{Orders: []partnercenter.Order{{ID: "o-1"}}}, nil
			}
			reconcileOK(t, r, cart)
			g.Expect(pc.Count(partnercenter.OpUpdateCart)).To(Equal(1), "the difference is PUT right first")
			g.Expect(pc.Count(partnercenter.OpCheckout)).To(BeZero())
			g.Expect(storedCart(t, k8s, cart)).To(haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.UpstreamCartDiffersReason))
		})
	}
}

// Path 5, the other half: what was verified is recorded. A cart that matches in Partner
// Center's own spelling (case, decimal form) is bought, and the intent and the receipt record
// the hash of the content bought.
func TestVerifiedContentIsRecorded(t *testing.T) {
	g := NewWithT(t)
	cart := syncedApprovedCart("a1015000-0000-4f7e-9a1d-3c5b7d9e1f30")
	r, k8s, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(time.Now()), interceptor.Funcs{}, Options{})
	pc.GetCartFn = func(context.Context, string, string) (*partnercenter.Cart, error) {
		c := &partnercenter.Cart{ID: "cart-1", Status: partnercenter.CartStatusActive, LineItems: wireLineItems(cart.Spec.LineItems)}
		c.LineItems[0].BillingCycle, c.LineItems[0].TermDuration = "Monthly", "p1y"
		return c, nil
	}
	pc.CheckoutFn = func(context.Context, string, string, string) (*partnercenter.CartCheckoutResult, error) {
		return &partnercenter.CartCheckoutResult{Orders: []partnercenter.Order{{ID: "o-1", Status: "completed"}}}, nil
	}
	reconcileOK(t, r, cart)
	got := storedCart(t, k8s, cart)
	g.Expect(pc.Count(partnercenter.OpCheckout)).To(Equal(1))
	want := contentHash(cart.Spec.CustomerID, wireLineItems(cart.Spec.LineItems), &cart.Spec)
	g.Expect(got.Status.Checkout.ContentHash).To(Equal(want))
	receipt := &corev1.ConfigMap{}
	g.Expect(k8s.Get(t.Context(), client.ObjectKey{Namespace: unitReceiptNS, Name: receiptName(cart)}, receipt)).To(Succeed())
	g.Expect(receipt.Data).To(HaveKeyWithValue("contentHash", want))
}

// boughtCart is a cart whose checkout succeeded with order o-1, recorded in status.
func boughtCart(uid string, now time.Time) *pcv1alpha1.PartnerCart {
	cart := syncedApprovedCart(types.UID(uid))
	cart.Status.Checkout = pendingIntent(cart, now)
	done := metav1.NewTime(now)
	cart.Status.Checkout.Outcome, cart.Status.Checkout.CompletedAt = pcv1alpha1.CheckoutSucceeded, &done
	cart.Status.Orders = []pcv1alpha1.OrderStatus{{ID: "o-1", Status: "completed", TotalPrice: "10.00", CurrencyCode: "USD",
		LineItems: []pcv1alpha1.OrderLineItemStatus{{SubscriptionID: "s-1"}}}}
	return cart
}

// Path 6: a receipt someone deleted is written again, by the cart's next reconcile and before
// its deletion lets it go: status.receiptName does not prove that it exists.
func TestDeletedReceiptIsWrittenAgain(t *testing.T) {
	for _, deleting := range []bool{false, true} {
		t.Run(map[bool]string{false: "reconcile", true: "deletion"}[deleting], func(t *testing.T) {
			g := NewWithT(t)
			now := time.Now().Truncate(time.Second)
			cart := boughtCart("a1006000-0000-4f7e-9a1d-3c5b7d9e1f30", now)
			cart.Status.ReceiptName = receiptName(cart) // written once, deleted since
			if deleting {
				cart.DeletionTimestamp = &metav1.Time{Time: now}
			}
			r, k8s, _ := unitReconciler(cart, clocktesting.NewFakePassiveClock(now.Add(time.Hour)), interceptor.Funcs{}, Options{})
			reconcileOK(t, r, cart)
			receipt := &corev1.ConfigMap{}
			g.Expect(k8s.Get(t.Context(), client.ObjectKey{Namespace: unitReceiptNS, Name: receiptName(cart)}, receipt)).To(Succeed())
			g.Expect(receipt.Data).To(HaveKeyWithValue("orderIds", "o-1"))
			if deleting {
				g.Expect(apierrors.IsNotFound(k8s.Get(t.Context(), client.ObjectKeyFromObject(cart), &pcv1alpha1.PartnerCart{}))).To(BeTrue(),
					"with the record written, the object goes")
			}
		})
	}
}

// unknownCart is a cart whose checkout outcome is Unknown, resolved by the annotation value.
func unknownCart(uid string, started time.Time, resolution func(requestID string) string) *pcv1alpha1.PartnerCart {
	cart := syncedApprovedCart(types.UID(uid))
	cart.Status.Checkout = pendingIntent(cart, started)
	cart.Status.Checkout.Outcome, cart.Status.Checkout.Message = pcv1alpha1.CheckoutUnknown, "lost answer"
	cart.Annotations = map[string]string{pcv1alpha1.CheckoutResolutionAnnotation: resolution(cart.Status.Checkout.RequestID)}
	return cart
}

// Path 7: "nothing-bought" is not taken against the operator's own evidence: a cart seen
// Ordered, or orders of the cart's items made since the checkout that the person did not name
// as another purchase's; and not before Partner Center lists every order of the checkout.
func TestNothingBoughtAgainstEvidenceStaysUnknown(t *testing.T) {
	started := time.Now().Add(-time.Hour).Truncate(time.Second)
	candidate := partnercenter.Order{ID: "o-9", CreationDate: started.Add(time.Minute).UTC().Format(time.RFC3339),
		LineItems: []partnercenter.OrderLineItem{{OfferID: testItemE5, Quantity: 25}}}
	for name, tc := range map[string]struct {
		verdict   string
		seen      bool
		orders    []partnercenter.Order
		now       time.Time
		abandoned bool
	}{
		"cart seen Ordered":                       {verdict: "nothing-bought", seen: true, now: started.Add(time.Hour)},
		"a candidate order unnamed":               {verdict: "nothing-bought", orders: []partnercenter.Order{candidate}, now: started.Add(time.Hour)},
		"before the orders are listed":            {verdict: "nothing-bought", now: started.Add(5 * time.Minute)},
		"the candidate named as another purchase": {verdict: "nothing-bought;not-ours=o-9", orders: []partnercenter.Order{candidate}, now: started.Add(time.Hour), abandoned: true},
		"no evidence":                             {verdict: "nothing-bought", now: started.Add(time.Hour), abandoned: true},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			cart := unknownCart("a1007000-0000-4f7e-9a1d-3c5b7d9e1f30", started, func(id string) string { return id + "/" + tc.verdict })
			cart.Status.Checkout.CartSeenOrdered = tc.seen
			r, k8s, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(tc.now), interceptor.Funcs{}, Options{})
			pcfake.WithOrders(tc.orders...)(pc)
			reconcileOK(t, r, cart)
			got := storedCart(t, k8s, cart)
			if tc.abandoned {
				g.Expect(got.Status.Checkout.Outcome).To(Equal(pcv1alpha1.CheckoutAbandoned))
				return
			}
			g.Expect(got.Status.Checkout.Outcome).To(Equal(pcv1alpha1.CheckoutUnknown))
			g.Expect(pc.Count(partnercenter.OpCheckout)).To(BeZero())
		})
	}
}

// Path 9: a 2xx whose orders carry no ID, or whose order errors carry no code, says nothing
// definite: Unknown, never Succeeded with order "" nor Refused.
func TestCheckoutAnswersWithoutIDsAreUnknown(t *testing.T) {
	for name, answer := range map[string]*partnercenter.CartCheckoutResult{
		"an order without ID":         {Orders: []partnercenter.Order{{}}},
		"one of two orders lacks one": {Orders: []partnercenter.Order{{ID: "o-1"}, {}}},
		"an order error without code": {OrderErrors: []partnercenter.OrderError{{}}},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			cart := syncedApprovedCart("a1009000-0000-4f7e-9a1d-3c5b7d9e1f30")
			r, k8s, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(time.Now()), interceptor.Funcs{}, Options{})
			pc.CheckoutFn = func(context.Context, string, string, string) (*partnercenter.CartCheckoutResult, error) {
				return answer, nil
			}
			reconcileOK(t, r, cart)
			got := storedCart(t, k8s, cart)
			g.Expect(got.Status.Checkout).NotTo(BeNil())
			g.Expect(got.Status.Checkout.Outcome).To(Equal(pcv1alpha1.CheckoutUnknown))
			g.Expect(got.Status.Orders).To(BeEmpty())
		})
	}
}

// Path 3: repurchase-of allows one purchase: it must name the newest receipt that blocks, so
// an annotation kept in Git does not buy again once the purchase it allowed has a receipt.
func TestRepurchaseOfAllowsOnePurchase(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	older := boughtCart("a1103000-0000-4f7e-9a1d-3c5b7d9e1f30", now.Add(-48*time.Hour))
	newer := boughtCart("a1203000-0000-4f7e-9a1d-3c5b7d9e1f30", now.Add(-24*time.Hour))
	for name, tc := range map[string]struct {
		names  string
		bought bool
		used   bool // a purchase under another name (a rename, the annotation kept in Git) used it
	}{
		"the newest receipt":              {names: receiptName(newer), bought: true},
		"an older receipt (kept in Git)":  {names: receiptName(older)},
		"no receipt":                      {names: ""},
		"the newest among other receipts": {names: receiptName(older) + "," + receiptName(newer), bought: true},
		"the newest, already used":        {names: receiptName(newer), used: true},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			cart := syncedApprovedCart("a1303000-0000-4f7e-9a1d-3c5b7d9e1f30")
			cart.Annotations = map[string]string{pcv1alpha1.RepurchaseOfAnnotation: tc.names}
			r, k8s, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(now), interceptor.Funcs{}, Options{})
			earlier := []*pcv1alpha1.PartnerCart{older, newer}
			if tc.used {
				renamed := boughtCart("a1403000-0000-4f7e-9a1d-3c5b7d9e1f30", now.Add(-time.Hour))
				renamed.Name = "renamed-since"
				renamed.Status.Checkout.RepurchaseOf = receiptName(newer)
				earlier = append(earlier, renamed)
			}
			for _, e := range earlier {
				receipt, _ := receiptWrittenBy(t, e)
				g.Expect(k8s.Create(t.Context(), receipt)).To(Succeed())
			}
			if tc.used {
				// The object that used it still exists: its own purchase does not stop this
				// cart (a sibling's is another intended purchase); the used override does.
				sibling := earlier[2].DeepCopy()
				sibling.ResourceVersion = ""
				g.Expect(k8s.Create(t.Context(), sibling)).To(Succeed())
			}
			pc.CheckoutFn = func(context.Context, string, string, string) (*partnercenter.CartCheckoutResult, error) {
				return &partnercenter.CartCheckoutResult{Orders: []partnercenter.Order{{ID: "o-2"}}}, nil
			}
			reconcileOK(t, r, cart)
			got := storedCart(t, k8s, cart)
			if !tc.bought {
				g.Expect(pc.Count(partnercenter.OpCheckout)).To(BeZero())
				g.Expect(got).To(haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.PreviouslyPurchasedReason))
				return
			}
			g.Expect(pc.Count(partnercenter.OpCheckout)).To(Equal(1))
			g.Expect(got.Status.Checkout.RepurchaseOf).To(Equal(tc.names))
		})
	}
}

// Path 8: the write after a call is locked. A reconcile whose view went stale during its call
// (another manager recorded the purchase meanwhile) cannot turn Succeeded back into Unknown.
func TestLateWriterCannotOverwriteARecordedPurchase(t *testing.T) {
	g := NewWithT(t)
	now := time.Now().Truncate(time.Second)
	cart := syncedApprovedCart("a1008000-0000-4f7e-9a1d-3c5b7d9e1f30")
	cart.Status.Checkout = pendingIntent(cart, now.Add(-time.Hour)) // a call was made; its answer was lost
	r, k8s, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(now), interceptor.Funcs{}, Options{})
	pc.CheckoutFn = func(ctx context.Context, _, _, _ string) (*partnercenter.CartCheckoutResult, error) {
		// Meanwhile another manager recorded the first call's orders.
		other := storedCart(t, k8s, cart)
		done := metav1.NewTime(now)
		other.Status.Checkout.Outcome, other.Status.Checkout.CompletedAt = pcv1alpha1.CheckoutSucceeded, &done
		other.Status.Orders = []pcv1alpha1.OrderStatus{{ID: "o-1", Status: "completed"}}
		if err := k8s.Status().Update(ctx, other); err != nil {
			return nil, err
		}
		return nil, &partnercenter.APIError{StatusCode: http.StatusForbidden, Code: "800002", Description: "refused"}
	}
	_, err := r.Reconcile(t.Context(), reconcileRequest(cart))
	g.Expect(err).To(HaveOccurred(), "the stale write loses the race")
	got := storedCart(t, k8s, cart)
	g.Expect(got.Status.Checkout.Outcome).To(Equal(pcv1alpha1.CheckoutSucceeded))
	g.Expect(got.Status.Orders).To(HaveLen(1))
}

// Path 8: the deadline of a call counts from the call, not from the reconcile's start (reads,
// a PUT or the client's limiter before it may take a while).
func TestCheckoutDeadlineCountsFromTheCall(t *testing.T) {
	g := NewWithT(t)
	now := time.Now().Truncate(time.Second)
	clk := clocktesting.NewFakePassiveClock(now)
	cart := syncedApprovedCart("a1018000-0000-4f7e-9a1d-3c5b7d9e1f30")
	r, k8s, pc := unitReconciler(cart, clk, interceptor.Funcs{}, Options{})
	pc.GetCartFn = func(context.Context, string, string) (*partnercenter.Cart, error) {
		clk.SetTime(now.Add(90 * time.Second)) // a slow read before the call
		return &partnercenter.Cart{ID: "cart-1", Status: partnercenter.CartStatusActive, LineItems: wireLineItems(cart.Spec.LineItems)}, nil
	}
	var deadline time.Time
	pc.CheckoutFn = func(ctx context.Context, _, _, _ string) (*partnercenter.CartCheckoutResult, error) {
		deadline = storedCart(t, k8s, cart).Status.Checkout.Deadline.Time
		return nil, errors.New("connection reset")
	}
	_, _ = r.Reconcile(t.Context(), reconcileRequest(cart))
	g.Expect(deadline).To(Equal(now.Add(90 * time.Second).Add(r.Options.CheckoutTimeout)))
}

// Low: the process waits for a checkout call in flight before it exits, also when a lost
// lease ended the manager without a graceful shutdown.
func TestWaitForCheckoutsWaitsForTheCallInFlight(t *testing.T) {
	g := NewWithT(t)
	cart := syncedApprovedCart("a1019000-0000-4f7e-9a1d-3c5b7d9e1f30")
	r, k8s, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(time.Now()), interceptor.Funcs{}, Options{})
	arrived, answer := make(chan struct{}), make(chan struct{})
	pc.CheckoutFn = func(context.Context, string, string, string) (*partnercenter.CartCheckoutResult, error) {
		close(arrived)
		<-answer
		return &partnercenter.CartCheckoutResult{Orders: []partnercenter.Order{{ID: "o-1", Status: "completed"}}}, nil
	}
	done := make(chan error, 1)
	go func() { _, err := r.Reconcile(context.Background(), reconcileRequest(cart)); done <- err }()
	<-arrived
	expired, cancel := context.WithCancel(t.Context())
	cancel()
	g.Expect(r.WaitForCheckouts(expired)).To(HaveOccurred(), "a call is in flight")
	close(answer)
	g.Expect(r.WaitForCheckouts(t.Context())).To(Succeed())
	g.Expect(<-done).To(Succeed())
	g.Expect(storedCart(t, k8s, cart).Status.Checkout.Outcome).To(Equal(pcv1alpha1.CheckoutSucceeded), "recorded before the wait ends")
}

// Review finding: a second manager whose cache is stale (it still shows the spec before a
// person's edit) must not PUT the old content under a checkout another manager is making. A
// PUT is made only from a copy of the object as current as the API server's.
func TestStaleManagerDoesNotRewriteTheCart(t *testing.T) {
	g := NewWithT(t)
	now := time.Now().Truncate(time.Second)
	cart := syncedApprovedCart("b0b00010-0000-4f7e-9a1d-3c5b7d9e1f30")
	cart.Status.Cart.SyncedSpecHash = "sha256:old" // the spec changed since the cart was written
	r, k8s, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(now), interceptor.Funcs{}, Options{})
	stale := storedCart(t, k8s, cart)
	// Another writer moves the object on; this manager's cache still serves the copy above.
	fresh := stale.DeepCopy()
	fresh.Annotations = map[string]string{"touched": "by another writer"}
	g.Expect(k8s.Update(t.Context(), fresh)).To(Succeed())
	cached := interceptor.NewClient(k8s.(client.WithWatch), interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if p, ok := obj.(*pcv1alpha1.PartnerCart); ok && key == client.ObjectKeyFromObject(cart) {
				stale.DeepCopyInto(p)
				return nil
			}
			return c.Get(ctx, key, obj, opts...)
		}})
	r.Client = cached
	pc.UpdateCartFn = func(context.Context, string, string, *partnercenter.Cart) (*partnercenter.Cart, error) {
		return nil, errors.New("the stale manager wrote the cart")
	}
	res, err := r.Reconcile(t.Context(), reconcileRequest(cart))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.RequeueAfter).To(BeNumerically(">", 0), "it comes back once its cache caught up")
	g.Expect(pc.Count(partnercenter.OpUpdateCart)).To(BeZero())
	g.Expect(pc.Count(partnercenter.OpCheckout)).To(BeZero())
}

// Review finding: a ConfigMap of the receipt's name and labels that someone else made (here
// without the orders) is not taken as the record of the purchase: the orders stay in status,
// the reconcile says why, and the object cannot go until the record is right.
func TestForeignReceiptIsNotTheRecord(t *testing.T) {
	g := NewWithT(t)
	cart := syncedApprovedCart("b0b00012-0000-4f7e-9a1d-3c5b7d9e1f30")
	r, k8s, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(time.Now()), interceptor.Funcs{}, Options{})
	forged := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: unitReceiptNS, Name: receiptName(cart),
		Labels: map[string]string{pcv1alpha1.ReceiptLabel: "true", pcv1alpha1.ReceiptCartLabel: cart.Name, pcv1alpha1.ReceiptCartUIDLabel: string(cart.UID)}},
		Data: map[string]string{"cartId": "cart-1", "receipt.json": `{"orders":[]}`}}
	g.Expect(k8s.Create(t.Context(), forged)).To(Succeed())
	pc.CheckoutFn = func(context.Context, string, string, string) (*partnercenter.CartCheckoutResult, error) {
		return &partnercenter.CartCheckoutResult{Orders: []partnercenter.Order{{ID: "o-1", Status: "pending"}}}, nil
	}
	_, err := r.Reconcile(t.Context(), reconcileRequest(cart))
	g.Expect(err).To(MatchError(ContainSubstring("records another purchase")))
	got := storedCart(t, k8s, cart)
	g.Expect(got.Status.Orders).To(HaveLen(1), "the purchase is recorded in status")

	g.Expect(k8s.Delete(t.Context(), got)).To(Succeed())
	_, err = r.Reconcile(t.Context(), reconcileRequest(cart))
	g.Expect(err).To(HaveOccurred())
	g.Expect(storedCart(t, k8s, cart).Finalizers).To(ContainElement(pcv1alpha1.Finalizer), "deletion waits for a true record")
}
