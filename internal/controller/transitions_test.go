package controller

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	pcfake "github.com/partnercart/partnercart-operator/internal/partnercenter/fake"
)

// TestCheckoutTransitions is the checkout state machine of docs/api.md, one reconcile per row:
// each row starts a cart in a state of the table (beforeFunc), lets Partner Center answer as
// the row says (partnerCenter), reconciles once and asserts the state reached, the checkout
// calls made and the conditions a person reads. TestSummarize covers how a phase result
// becomes conditions; this covers which result each state and answer lead to.
func TestCheckoutTransitions(t *testing.T) {
	const uid = "0f6c1b8e-4c9e-4f7e-9a1d-3c5b7d9e1f30"
	now := time.Now().Truncate(time.Second)
	started := now.Add(-time.Hour)
	past := metav1.NewTime(now.Add(-time.Minute))
	orders := func(os ...partnercenter.Order) *partnercenter.CartCheckoutResult {
		return &partnercenter.CartCheckoutResult{Orders: os}
	}
	o1 := partnercenter.Order{ID: "o-1", Status: "completed", TotalPrice: "10.00", CurrencyCode: "USD",
		CreationDate: now.Add(-50 * time.Minute).UTC().Format(time.RFC3339), LineItems: []partnercenter.OrderLineItem{{OfferID: testItemE5, SubscriptionID: "sub-1"}}}
	refusal := &partnercenter.APIError{StatusCode: http.StatusForbidden, Code: "900121", Description: "credit limit"}
	codedOrderError := partnercenter.OrderError{OrderGroupID: "0", Code: 10021, Description: "offer not available"}
	answer := func(res *partnercenter.CartCheckoutResult, err error) func(*pcfake.Client) {
		return func(pc *pcfake.Client) {
			pc.CheckoutFn = func(context.Context, string, string, string) (*partnercenter.CartCheckoutResult, error) {
				return res, err
			}
		}
	}
	// pending: an intent whose first call was made and whose answer was lost; its deadline
	// has passed, so this process may repeat it.
	pending := func(c *pcv1alpha1.PartnerCart) {
		c.Status.Checkout = pendingIntent(c, started)
		c.Status.Checkout.Owner, c.Status.Checkout.Deadline = "manager-a_1234", &past
	}
	// unknown: a pending intent handed to a person, with a resolution written for it.
	unknown := func(verdict string) func(*pcv1alpha1.PartnerCart) {
		return func(c *pcv1alpha1.PartnerCart) {
			pending(c)
			c.Status.Checkout.Outcome, c.Status.Checkout.Message, c.Status.Checkout.Owner = pcv1alpha1.CheckoutUnknown, "a repeat was refused", ""
			// Its last call ended long enough ago for Partner Center to list its orders.
			lastCall := metav1.NewTime(started.Add(2 * time.Minute))
			c.Status.Checkout.Deadline = &lastCall
			if verdict != "" {
				c.Annotations = map[string]string{pcv1alpha1.CheckoutResolutionAnnotation: c.Status.Checkout.RequestID + "/" + verdict}
			}
		}
	}
	cond := func(condType string, status metav1.ConditionStatus, reason string) metav1.Condition {
		return metav1.Condition{Type: condType, Status: status, Reason: reason}
	}
	ready := func(reason string) metav1.Condition {
		return cond(pcv1alpha1.ReadyCondition, metav1.ConditionFalse, reason)
	}
	stalled := cond(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutOutcomeUnknownReason)
	inProgress := cond(pcv1alpha1.CheckedOutCondition, metav1.ConditionUnknown, pcv1alpha1.CheckoutInProgressReason)
	outcomeUnknown := cond(pcv1alpha1.CheckedOutCondition, metav1.ConditionUnknown, pcv1alpha1.CheckoutOutcomeUnknownReason)

	for _, tc := range []struct {
		// row names the row of docs/api.md's table, then the case.
		row           string
		beforeFunc    func(*pcv1alpha1.PartnerCart)
		partnerCenter func(*pcfake.Client)
		opts          Options
		// want: the outcome reached ("" for no intent), the intents kept as history, the
		// checkout calls made and the calls status.checkout.attempts counts after them.
		// wantErr: the reconcile returns the upstream error, for controller-runtime's backoff.
		wantErr          bool
		wantOutcome      pcv1alpha1.CheckoutOutcome
		wantHistory      int
		wantCalls        int
		wantAttempts     int32
		wantPhase        pcv1alpha1.Phase
		assertConditions []metav1.Condition
		assert           func(g Gomega, got *pcv1alpha1.PartnerCart, k8s client.Client)
		// wantNoUpstream: no call at all reached Partner Center.
		wantNoUpstream bool
	}{
		// no intent: the gate stops before any call.
		{row: "no intent: not approved",
			beforeFunc: func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval = pcv1alpha1.Approval{} },
			wantPhase:  pcv1alpha1.PhaseAwaitingApproval,
			assertConditions: []metav1.Condition{ready(pcv1alpha1.WaitingForApprovalReason),
				cond(pcv1alpha1.ApprovedCondition, metav1.ConditionFalse, pcv1alpha1.WaitingForApprovalReason)}},
		{row: "no intent: denied by an approver",
			beforeFunc: func(c *pcv1alpha1.PartnerCart) {
				c.Spec.Approval = pcv1alpha1.Approval{Denied: true, Reason: "not in this budget", ApprovedBy: "approver@example.com", ApprovedAt: "2026-01-01T00:00:00Z"}
			},
			wantPhase: pcv1alpha1.PhaseFailed,
			assertConditions: []metav1.Condition{ready(pcv1alpha1.DeniedReason),
				cond(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.DeniedReason),
				cond(pcv1alpha1.ApprovedCondition, metav1.ConditionFalse, pcv1alpha1.DeniedReason)},
			assert: func(g Gomega, got *pcv1alpha1.PartnerCart, _ client.Client) {
				g.Expect(conditionMessage(got, pcv1alpha1.StalledCondition)).To(And(ContainSubstring("approver@example.com"), ContainSubstring("not in this budget")))
			}},
		{row: "no intent: approval pinned to other content",
			beforeFunc: func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.SpecHash = "sha256:other" },
			wantPhase:  pcv1alpha1.PhaseAwaitingApproval,
			assertConditions: []metav1.Condition{ready(pcv1alpha1.ApprovalHashMismatchReason),
				cond(pcv1alpha1.ApprovedCondition, metav1.ConditionFalse, pcv1alpha1.ApprovalHashMismatchReason)}},
		{row: "no intent: a price limit and no quote to hold it against",
			beforeFunc: withMaxTotal("100.00"),
			wantPhase:  pcv1alpha1.PhaseAwaitingApproval,
			assertConditions: []metav1.Condition{ready(pcv1alpha1.QuoteUnavailableReason),
				cond(pcv1alpha1.ApprovedCondition, metav1.ConditionFalse, pcv1alpha1.QuoteUnavailableReason)}},
		{row: "no intent: purchases frozen", opts: Options{PurchaseFreeze: true},
			wantPhase:        pcv1alpha1.PhaseAwaitingApproval,
			assertConditions: []metav1.Condition{ready(pcv1alpha1.PurchaseFrozenReason)}},
		{row: "no intent: refused at this generation",
			beforeFunc: func(c *pcv1alpha1.PartnerCart) {
				c.Generation = 1
				c.Status.CheckoutHistory = []pcv1alpha1.CheckoutStatus{{RequestID: "r-0", CartID: "cart-1", Intent: 1,
					Outcome: pcv1alpha1.CheckoutRefused, Generation: 1, Message: "credit limit"}}
			},
			wantHistory: 1, wantPhase: pcv1alpha1.PhaseFailed,
			assertConditions: []metav1.Condition{ready(pcv1alpha1.CheckoutRefusedReason),
				cond(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutRefusedReason)}},

		{row: "no intent: the customer bought exactly these lines recently, and no receipt says by whom",
			partnerCenter: pcfake.WithOrders(partnercenter.Order{ID: "o-0", BillingCycle: string(pcv1alpha1.BillingCycleMonthly),
				CreationDate: now.Add(-24 * time.Hour).UTC().Format(time.RFC3339),
				LineItems:    []partnercenter.OrderLineItem{{OfferID: testItemE5, Quantity: 25, TermDuration: "P1Y", FriendlyName: "Contoso E5"}}}),
			wantPhase: pcv1alpha1.PhaseFailed,
			assertConditions: []metav1.Condition{ready(pcv1alpha1.IdenticalRecentPurchaseReason),
				cond(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.IdenticalRecentPurchaseReason)}},
		{row: "no intent: the customer's orders cannot be read, so the re-purchase guard fails closed",
			partnerCenter:    pcfake.WithError(partnercenter.OpListOrders, &partnercenter.DecodeError{Operation: partnercenter.OpListOrders, StatusCode: http.StatusOK, Cause: "too many pages"}),
			wantPhase:        pcv1alpha1.PhaseFailed,
			assertConditions: []metav1.Condition{ready(pcv1alpha1.OrdersUnreadableReason)}},
		{row: "no intent: the upstream cart holds other content even after it was written",
			partnerCenter: func(pc *pcfake.Client) {
				other := &partnercenter.Cart{ID: "cart-1", Status: partnercenter.CartStatusActive, LineItems: wireLineItems(newCart("ns", "c").Spec.LineItems)}
				other.LineItems[0].Quantity = 2500
				pcfake.WithCart(other)(pc)
				pc.UpdateCartFn = func(context.Context, string, string, *partnercenter.Cart) (*partnercenter.Cart, error) {
					return other, nil
				}
			},
			wantPhase:        pcv1alpha1.PhaseFailed,
			assertConditions: []metav1.Condition{ready(pcv1alpha1.UpstreamCartDiffersReason)}},

		// Paused (the annotation): no phase runs, whatever the state.
		{row: "paused: an approved cart makes no call at all",
			beforeFunc: func(c *pcv1alpha1.PartnerCart) {
				c.Annotations = map[string]string{pcv1alpha1.PausedAnnotation: "true"}
			},
			partnerCenter:  answer(orders(o1), nil),
			wantNoUpstream: true, wantPhase: pcv1alpha1.PhasePending,
			assertConditions: []metav1.Condition{ready(pcv1alpha1.PausedReason)},
			assert: func(g Gomega, got *pcv1alpha1.PartnerCart, _ client.Client) {
				g.Expect(got).NotTo(haveCondition(pcv1alpha1.ReconcilingCondition, metav1.ConditionTrue, pcv1alpha1.PausedReason), "a pause is not work in flight")
				g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
			}},
		{row: "paused: a Pending intent is not repeated",
			beforeFunc: func(c *pcv1alpha1.PartnerCart) {
				pending(c)
				c.Annotations = map[string]string{pcv1alpha1.PausedAnnotation: "true"}
			},
			partnerCenter: answer(orders(o1), nil),
			wantOutcome:   pcv1alpha1.CheckoutPending, wantAttempts: 1, wantNoUpstream: true, wantPhase: pcv1alpha1.PhaseCheckingOut,
			assertConditions: []metav1.Condition{ready(pcv1alpha1.PausedReason)}},

		// no intent → Pending: the gate passes, the intent is persisted and called.
		{row: "no intent → Pending: the first call's answer is lost", wantErr: true,
			partnerCenter: answer(nil, &partnercenter.TransportError{Err: errors.New("connection reset")}),
			wantOutcome:   pcv1alpha1.CheckoutPending, wantCalls: 1, wantAttempts: 1, wantPhase: pcv1alpha1.PhaseCheckingOut,
			assertConditions: []metav1.Condition{ready(pcv1alpha1.UpstreamUnavailableReason), inProgress}},

		// Pending → Pending: repeated later with the same request ID.
		{row: "Pending → Pending: 503 on a repeat", beforeFunc: pending, wantErr: true,
			partnerCenter: answer(nil, &partnercenter.APIError{StatusCode: http.StatusServiceUnavailable}),
			wantOutcome:   pcv1alpha1.CheckoutPending, wantCalls: 1, wantAttempts: 2, wantPhase: pcv1alpha1.PhaseCheckingOut,
			assertConditions: []metav1.Condition{ready(pcv1alpha1.UpstreamUnavailableReason), inProgress}},
		{row: "Pending → Pending: 429 is not counted as a call that may have bought", beforeFunc: pending,
			partnerCenter: answer(nil, &partnercenter.APIError{StatusCode: http.StatusTooManyRequests, RetryAfter: time.Second}),
			wantOutcome:   pcv1alpha1.CheckoutPending, wantCalls: 1, wantAttempts: 1, wantPhase: pcv1alpha1.PhaseCheckingOut,
			assertConditions: []metav1.Condition{ready(pcv1alpha1.ThrottledReason), inProgress}},
		{row: "Pending → Pending: another process owns the call until its deadline",
			beforeFunc: func(c *pcv1alpha1.PartnerCart) {
				pending(c)
				ahead := metav1.NewTime(now.Add(time.Minute))
				c.Status.Checkout.Deadline = &ahead
			},
			partnerCenter: answer(orders(o1), nil),
			wantOutcome:   pcv1alpha1.CheckoutPending, wantAttempts: 1, wantPhase: pcv1alpha1.PhaseCheckingOut,
			assertConditions: []metav1.Condition{ready(pcv1alpha1.CheckoutInProgressReason)}},
		{row: "Pending → Pending: frozen, and the cart is not ordered", beforeFunc: pending, opts: Options{PurchaseFreeze: true},
			partnerCenter: answer(orders(o1), nil),
			wantOutcome:   pcv1alpha1.CheckoutPending, wantAttempts: 1,
			assertConditions: []metav1.Condition{ready(pcv1alpha1.PurchaseFrozenReason)}},

		// Pending → Unknown (repeat gate): the cart is not ordered, so a repeat may be the
		// call that buys, and something it was approved for changed.
		{row: "Pending → Unknown (repeat gate): approval withdrawn",
			beforeFunc:    func(c *pcv1alpha1.PartnerCart) { pending(c); c.Spec.Approval.Approved = false },
			partnerCenter: answer(orders(o1), nil),
			wantOutcome:   pcv1alpha1.CheckoutUnknown, wantAttempts: 1, wantPhase: pcv1alpha1.PhaseCheckingOut,
			assertConditions: []metav1.Condition{ready(pcv1alpha1.CheckoutOutcomeUnknownReason), stalled, outcomeUnknown}},
		{row: "Pending → Unknown (repeat gate): denied since the intent",
			beforeFunc: func(c *pcv1alpha1.PartnerCart) {
				pending(c)
				c.Spec.Approval.Approved, c.Spec.Approval.Denied = false, true
			},
			partnerCenter: answer(orders(o1), nil),
			wantOutcome:   pcv1alpha1.CheckoutUnknown, wantAttempts: 1, wantPhase: pcv1alpha1.PhaseCheckingOut,
			assertConditions: []metav1.Condition{stalled}},
		{row: "Pending → Unknown (repeat gate): the spec's content changed",
			beforeFunc:    func(c *pcv1alpha1.PartnerCart) { pending(c); c.Status.Checkout.SpecHash = "sha256:checked-out" },
			partnerCenter: answer(orders(o1), nil),
			wantOutcome:   pcv1alpha1.CheckoutUnknown, wantAttempts: 1, wantPhase: pcv1alpha1.PhaseCheckingOut,
			assertConditions: []metav1.Condition{ready(pcv1alpha1.CheckoutOutcomeUnknownReason), stalled}},
		{row: "Pending → Unknown (repeat gate): the upstream cart's content changed",
			beforeFunc: func(c *pcv1alpha1.PartnerCart) {
				pending(c)
				c.Status.Checkout.ContentHash = contentHash(c.Spec.CustomerID, wireLineItems(c.Spec.LineItems), &c.Spec)
			},
			partnerCenter: func(pc *pcfake.Client) {
				answer(orders(o1), nil)(pc)
				pc.GetCartFn = func(context.Context, string, string) (*partnercenter.Cart, error) {
					lines := wireLineItems(newCart("ns", "c").Spec.LineItems)
					lines[0].Quantity = 2500
					return &partnercenter.Cart{ID: "cart-1", Status: partnercenter.CartStatusActive, LineItems: lines}, nil
				}
			},
			wantOutcome: pcv1alpha1.CheckoutUnknown, wantAttempts: 1, wantPhase: pcv1alpha1.PhaseCheckingOut,
			assertConditions: []metav1.Condition{ready(pcv1alpha1.CheckoutOutcomeUnknownReason), stalled}},
		{row: "Pending → Unknown (repeat gate): the object is being deleted",
			beforeFunc:    func(c *pcv1alpha1.PartnerCart) { pending(c); c.DeletionTimestamp = &past },
			partnerCenter: answer(orders(o1), nil),
			wantOutcome:   pcv1alpha1.CheckoutUnknown, wantAttempts: 1, wantPhase: pcv1alpha1.PhaseCheckingOut,
			assertConditions: []metav1.Condition{ready(pcv1alpha1.DeletionBlockedReason), outcomeUnknown}},
		{row: "Pending → Pending: the cart was seen ordered, so a repeat only re-reads the answer",
			beforeFunc: func(c *pcv1alpha1.PartnerCart) { pending(c); c.Spec.Approval.Approved = false },
			partnerCenter: func(pc *pcfake.Client) {
				answer(orders(o1), nil)(pc)
				pcfake.WithOrders(o1)(pc)
				pc.GetCartFn = func(context.Context, string, string) (*partnercenter.Cart, error) {
					return &partnercenter.Cart{ID: "cart-1", Status: partnercenter.CartStatusOrdered, LineItems: wireLineItems(newCart("ns", "c").Spec.LineItems)}, nil
				}
			},
			wantOutcome: pcv1alpha1.CheckoutSucceeded, wantCalls: 1, wantAttempts: 2, wantPhase: pcv1alpha1.PhaseCompleted,
			assertConditions: []metav1.Condition{cond(pcv1alpha1.ReadyCondition, metav1.ConditionTrue, pcv1alpha1.SucceededReason)}},

		// Pending → no intent: no call reached Partner Center, so the whole gate runs again.
		{row: "Pending → no intent: the only call was throttled, and the approval was withdrawn since",
			beforeFunc: func(c *pcv1alpha1.PartnerCart) {
				pending(c)
				c.Status.Checkout.Attempts = 0
				c.Spec.Approval = pcv1alpha1.Approval{}
			},
			partnerCenter: answer(orders(o1), nil),
			wantPhase:     pcv1alpha1.PhaseAwaitingApproval,
			assertConditions: []metav1.Condition{ready(pcv1alpha1.WaitingForApprovalReason),
				cond(pcv1alpha1.ApprovedCondition, metav1.ConditionFalse, pcv1alpha1.WaitingForApprovalReason)}},

		// Pending → Succeeded, PartiallySucceeded.
		{row: "Pending → Succeeded: orders, no order errors",
			partnerCenter: func(pc *pcfake.Client) { answer(orders(o1), nil)(pc); pcfake.WithOrders(o1)(pc) },
			wantOutcome:   pcv1alpha1.CheckoutSucceeded, wantCalls: 1, wantAttempts: 1, wantPhase: pcv1alpha1.PhaseCompleted,
			assertConditions: []metav1.Condition{cond(pcv1alpha1.ReadyCondition, metav1.ConditionTrue, pcv1alpha1.SucceededReason),
				cond(pcv1alpha1.CheckedOutCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutSucceededReason)},
			assert: func(g Gomega, got *pcv1alpha1.PartnerCart, k8s client.Client) {
				g.Expect(got.Status.Orders).To(HaveLen(1))
				g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: unitReceiptNS, Name: got.Status.ReceiptName}, &corev1.ConfigMap{})).To(Succeed(), "the receipt")
			}},
		{row: "Pending → PartiallySucceeded: orders and order errors",
			partnerCenter: func(pc *pcfake.Client) {
				answer(&partnercenter.CartCheckoutResult{Orders: []partnercenter.Order{o1}, OrderErrors: []partnercenter.OrderError{codedOrderError}}, nil)(pc)
				pcfake.WithOrders(o1)(pc)
			},
			wantOutcome: pcv1alpha1.CheckoutPartiallySucceeded, wantCalls: 1, wantAttempts: 1, wantPhase: pcv1alpha1.PhaseFailed,
			assertConditions: []metav1.Condition{ready(pcv1alpha1.CheckoutPartiallyFailedReason),
				cond(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutPartiallyFailedReason)}},

		// Pending → Refused (history): a definite refusal of the only call.
		{row: "Pending → Refused: a 4xx on the only call",
			partnerCenter: answer(nil, refusal),
			wantHistory:   1, wantCalls: 1, wantPhase: pcv1alpha1.PhaseFailed,
			assertConditions: []metav1.Condition{ready(pcv1alpha1.CheckoutRefusedReason),
				cond(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutRefusedReason),
				cond(pcv1alpha1.CheckedOutCondition, metav1.ConditionFalse, pcv1alpha1.CheckoutRefusedReason)}},
		{row: "Pending → Refused: only order errors, each with a code, on the only call",
			partnerCenter: answer(&partnercenter.CartCheckoutResult{OrderErrors: []partnercenter.OrderError{codedOrderError}}, nil),
			wantHistory:   1, wantCalls: 1, wantPhase: pcv1alpha1.PhaseFailed,
			assertConditions: []metav1.Condition{ready(pcv1alpha1.CheckoutRefusedReason)}},
		{row: "Pending → Refused: the cart vanished (404) at the only call, so it is re-created",
			partnerCenter: answer(nil, &partnercenter.APIError{StatusCode: http.StatusNotFound, Description: "cart not found"}),
			wantHistory:   1, wantCalls: 1,
			assertConditions: []metav1.Condition{ready(pcv1alpha1.CheckoutRefusedReason)},
			assert: func(g Gomega, got *pcv1alpha1.PartnerCart, _ client.Client) {
				g.Expect(got.Status.CheckoutHistory[0].CartGone).To(BeTrue())
				g.Expect(got.Status.Cart.ExpirationTimestamp).NotTo(BeNil(), "marked for the cart phase to re-create")
			}},

		// Pending → Unknown: an answer that cannot tell whether something was bought.
		{row: "Pending → Unknown: a refusal of a repeat", beforeFunc: pending,
			partnerCenter: answer(nil, refusal),
			wantOutcome:   pcv1alpha1.CheckoutUnknown, wantCalls: 1, wantAttempts: 2, wantPhase: pcv1alpha1.PhaseCheckingOut,
			assertConditions: []metav1.Condition{ready(pcv1alpha1.CheckoutOutcomeUnknownReason), stalled, outcomeUnknown}},
		{row: "Pending → Unknown: only order errors on a repeat", beforeFunc: pending,
			partnerCenter: answer(&partnercenter.CartCheckoutResult{OrderErrors: []partnercenter.OrderError{codedOrderError}}, nil),
			wantOutcome:   pcv1alpha1.CheckoutUnknown, wantCalls: 1, wantAttempts: 2, wantPhase: pcv1alpha1.PhaseCheckingOut,
			assertConditions: []metav1.Condition{stalled}},
		{row: "Pending → Unknown: 800065 on the first call",
			partnerCenter: answer(nil, &partnercenter.APIError{StatusCode: http.StatusBadRequest, Code: partnercenter.CodeCartAlreadySubmitted}),
			wantOutcome:   pcv1alpha1.CheckoutUnknown, wantCalls: 1, wantAttempts: 1, wantPhase: pcv1alpha1.PhaseCheckingOut,
			assertConditions: []metav1.Condition{stalled}},
		{row: "Pending → Unknown: a 2xx with neither orders nor order errors",
			partnerCenter: answer(&partnercenter.CartCheckoutResult{}, nil),
			wantOutcome:   pcv1alpha1.CheckoutUnknown, wantCalls: 1, wantAttempts: 1, wantPhase: pcv1alpha1.PhaseCheckingOut,
			assertConditions: []metav1.Condition{stalled}},
		{row: "Pending → Unknown: a 2xx with an order without ID",
			partnerCenter: answer(orders(partnercenter.Order{Status: "pending"}), nil),
			wantOutcome:   pcv1alpha1.CheckoutUnknown, wantCalls: 1, wantAttempts: 1, wantPhase: pcv1alpha1.PhaseCheckingOut,
			assertConditions: []metav1.Condition{stalled}},
		{row: "Pending → Unknown: a 2xx with an order error without code",
			partnerCenter: answer(&partnercenter.CartCheckoutResult{OrderErrors: []partnercenter.OrderError{{OrderGroupID: "0"}}}, nil),
			wantOutcome:   pcv1alpha1.CheckoutUnknown, wantCalls: 1, wantAttempts: 1, wantPhase: pcv1alpha1.PhaseCheckingOut,
			assertConditions: []metav1.Condition{stalled}},
		{row: "Pending → Unknown: an undecodable 2xx",
			partnerCenter: answer(nil, &partnercenter.DecodeError{Operation: partnercenter.OpCheckout, StatusCode: http.StatusCreated, Cause: "truncated"}),
			wantOutcome:   pcv1alpha1.CheckoutUnknown, wantCalls: 1, wantAttempts: 1, wantPhase: pcv1alpha1.PhaseCheckingOut,
			assertConditions: []metav1.Condition{stalled}},
		{row: "Pending → Unknown: the cart is gone (404) on re-read", beforeFunc: pending,
			partnerCenter: func(pc *pcfake.Client) {
				answer(orders(o1), nil)(pc)
				pcfake.WithError(partnercenter.OpGetCart, &partnercenter.APIError{StatusCode: http.StatusNotFound})(pc)
			},
			wantOutcome: pcv1alpha1.CheckoutUnknown, wantAttempts: 1, wantPhase: pcv1alpha1.PhaseCheckingOut,
			assertConditions: []metav1.Condition{stalled}},
		{row: "Pending → Unknown: the call cap",
			beforeFunc:    func(c *pcv1alpha1.PartnerCart) { pending(c); c.Status.Checkout.Attempts = maxCheckoutAttempts },
			partnerCenter: answer(orders(o1), nil),
			wantOutcome:   pcv1alpha1.CheckoutUnknown, wantAttempts: maxCheckoutAttempts, wantPhase: pcv1alpha1.PhaseCheckingOut,
			assertConditions: []metav1.Condition{stalled}},

		// Unknown → Abandoned, Resolved, or still Unknown: only a person moves it.
		{row: "Unknown: no annotation, nothing is called", beforeFunc: unknown(""),
			partnerCenter: answer(orders(o1), nil),
			wantOutcome:   pcv1alpha1.CheckoutUnknown, wantAttempts: 1, wantPhase: pcv1alpha1.PhaseCheckingOut,
			assertConditions: []metav1.Condition{stalled, outcomeUnknown}},
		{row: "Unknown: an annotation for another request ID is ignored",
			beforeFunc: func(c *pcv1alpha1.PartnerCart) {
				unknown(resolutionNothingBought)(c)
				c.Annotations[pcv1alpha1.CheckoutResolutionAnnotation] = "another-request/" + resolutionNothingBought
			},
			wantOutcome: pcv1alpha1.CheckoutUnknown, wantAttempts: 1, wantPhase: pcv1alpha1.PhaseCheckingOut,
			assertConditions: []metav1.Condition{stalled}},
		{row: "Unknown → Abandoned: nothing-bought, no evidence of a purchase", beforeFunc: unknown(resolutionNothingBought),
			wantOutcome: pcv1alpha1.CheckoutAbandoned, wantAttempts: 1, wantPhase: pcv1alpha1.PhaseFailed,
			assertConditions: []metav1.Condition{ready(pcv1alpha1.CheckoutAbandonedReason),
				cond(pcv1alpha1.CheckedOutCondition, metav1.ConditionFalse, pcv1alpha1.CheckoutAbandonedReason)},
			assert: func(g Gomega, got *pcv1alpha1.PartnerCart, k8s client.Client) {
				g.Expect(got.Status.Checkout.ResolvedBy).NotTo(BeEmpty())
				g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: unitReceiptNS, Name: got.Status.ReceiptName}, &corev1.ConfigMap{})).To(Succeed(), "the receipt")
			}},
		{row: "Unknown stays: nothing-bought, but the cart was seen ordered",
			beforeFunc: func(c *pcv1alpha1.PartnerCart) {
				unknown(resolutionNothingBought)(c)
				c.Status.Checkout.CartSeenOrdered = true
			},
			wantOutcome: pcv1alpha1.CheckoutUnknown, wantAttempts: 1, wantPhase: pcv1alpha1.PhaseCheckingOut,
			assertConditions: []metav1.Condition{stalled}},
		{row: "Unknown stays: nothing-bought, but an order since the intent holds the cart's items",
			beforeFunc: unknown(resolutionNothingBought), partnerCenter: pcfake.WithOrders(o1),
			wantOutcome: pcv1alpha1.CheckoutUnknown, wantAttempts: 1, wantPhase: pcv1alpha1.PhaseCheckingOut,
			assertConditions: []metav1.Condition{stalled}},
		{row: "Unknown → Abandoned: nothing-bought naming that order as not ours",
			beforeFunc: unknown(resolutionNothingBought + ";" + resolutionNotOursPrefix + "o-1"), partnerCenter: pcfake.WithOrders(o1),
			wantOutcome: pcv1alpha1.CheckoutAbandoned, wantAttempts: 1, wantPhase: pcv1alpha1.PhaseFailed,
			assertConditions: []metav1.Condition{ready(pcv1alpha1.CheckoutAbandonedReason)}},
		{row: "Unknown stays: nothing-bought before Partner Center lists every order of the call",
			beforeFunc: func(c *pcv1alpha1.PartnerCart) {
				unknown(resolutionNothingBought)(c)
				recent := metav1.NewTime(now.Add(-5 * time.Minute))
				c.Status.Checkout.Deadline = &recent
			},
			wantOutcome: pcv1alpha1.CheckoutUnknown, wantAttempts: 1, wantPhase: pcv1alpha1.PhaseCheckingOut,
			assertConditions: []metav1.Condition{ready(pcv1alpha1.CheckoutOutcomeUnknownReason)}},
		{row: "Unknown → Resolved: orders named, each read from Partner Center",
			beforeFunc: unknown(resolutionOrdersPrefix + "o-1"), partnerCenter: pcfake.WithOrders(o1),
			wantOutcome: pcv1alpha1.CheckoutResolved, wantAttempts: 1, wantPhase: pcv1alpha1.PhaseCompleted,
			assertConditions: []metav1.Condition{cond(pcv1alpha1.ReadyCondition, metav1.ConditionTrue, pcv1alpha1.SucceededReason),
				cond(pcv1alpha1.CheckedOutCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutResolvedReason)},
			assert: func(g Gomega, got *pcv1alpha1.PartnerCart, _ client.Client) {
				g.Expect(got.Status.Orders).To(HaveLen(1))
				g.Expect(got.Status.Checkout.Resolution).To(HaveSuffix("/orders=o-1"))
			}},
		{row: "Unknown stays: an order named that does not exist",
			beforeFunc: unknown(resolutionOrdersPrefix + "o-404"), partnerCenter: pcfake.WithOrders(o1),
			wantOutcome: pcv1alpha1.CheckoutUnknown, wantAttempts: 1, wantPhase: pcv1alpha1.PhaseCheckingOut,
			assertConditions: []metav1.Condition{stalled}},
	} {
		t.Run(tc.row, func(t *testing.T) {
			g := NewWithT(t)
			cart := syncedApprovedCart(uid)
			if tc.beforeFunc != nil {
				tc.beforeFunc(cart)
			}
			r, k8s, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(now), interceptor.Funcs{}, tc.opts)
			if tc.partnerCenter != nil {
				tc.partnerCenter(pc)
			}
			_, err := r.Reconcile(t.Context(), reconcileRequest(cart))
			if tc.wantErr {
				g.Expect(err).To(HaveOccurred())
			} else {
				g.Expect(err).NotTo(HaveOccurred())
			}

			got := storedCart(t, k8s, cart)
			g.Expect(pc.Count(partnercenter.OpCheckout)).To(Equal(tc.wantCalls), "checkout calls")
			if tc.wantOutcome == "" {
				g.Expect(got.Status.Checkout).To(BeNil(), "no intent")
			} else {
				g.Expect(got.Status.Checkout).NotTo(BeNil())
				g.Expect(got.Status.Checkout.Outcome).To(Equal(tc.wantOutcome))
				g.Expect(got.Status.Checkout.Attempts).To(Equal(tc.wantAttempts), "attempts")
			}
			g.Expect(got.Status.CheckoutHistory).To(HaveLen(tc.wantHistory), "refused intents")
			if tc.wantPhase != "" {
				g.Expect(got).To(havePhase(tc.wantPhase))
			}
			for _, c := range tc.assertConditions {
				g.Expect(got).To(haveCondition(c.Type, c.Status, c.Reason))
			}
			if tc.assert != nil {
				tc.assert(g, got, k8s)
			}
			if tc.wantNoUpstream {
				g.Expect(pc.Calls()).To(BeEmpty(), "calls to Partner Center")
			}
		})
	}
}
