package controller

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
)

// reconcileCart makes the upstream cart equal to the spec: POST when there is none (or it
// expired), PUT when the purchase content changed, and no call at all when nothing changed.
// After a checkout the cart is history and is never written again.
func (r *PartnerCartReconciler) reconcileCart(ctx context.Context, s *scope) (ctrl.Result, error) {
	cart := s.cart
	specHash := SpecHash(&cart.Spec)
	cart.Status.SpecHash = specHash

	if co := cart.Status.Checkout; co != nil {
		if co.SpecHash != specHash {
			if conditionReason(cart, pcv1alpha1.CartSyncedCondition) != pcv1alpha1.SpecChangedAfterCheckoutReason {
				r.eventf(cart, corev1.EventTypeWarning, pcv1alpha1.EventSpecIgnored,
					"Purchase content changed after cart %s was checked out; the change is ignored: create a new PartnerCart to buy more", co.CartID)
			}
			setCondition(cart, pcv1alpha1.CartSyncedCondition, metav1.ConditionFalse, pcv1alpha1.SpecChangedAfterCheckoutReason,
				fmt.Sprintf("The purchase content (%s) differs from what cart %s checked out (%s); edits after checkout are ignored", specHash, co.CartID, co.SpecHash))
		} else {
			setCartFrozen(cart)
		}
		return ctrl.Result{}, nil
	}

	current := cart.Status.Cart
	switch {
	case current == nil:
		return r.createCart(ctx, s, "")
	case s.cartExpiresSoon():
		return r.createCart(ctx, s, current.ID)
	case current.SyncedSpecHash != specHash:
		return r.updateCart(ctx, s)
	}
	return r.checkLineItems(s)
}

// setCartFrozen marks the cart as history: checked out, never written again.
func setCartFrozen(cart *pcv1alpha1.PartnerCart) {
	setCondition(cart, pcv1alpha1.CartSyncedCondition, metav1.ConditionTrue, pcv1alpha1.CartFrozenReason,
		"Cart "+cart.Status.Checkout.CartID+" was checked out; its content is frozen")
}

func (r *PartnerCartReconciler) createCart(ctx context.Context, s *scope, replaced string) (ctrl.Result, error) {
	pc, err := s.partnerCenter(ctx)
	if err != nil {
		return r.upstreamError(s, "create cart", err)
	}
	cart := s.cart
	created, err := pc.CreateCart(ctx, cart.Spec.CustomerID, wireCart(&cart.Spec), createRequestID(cart.UID, cart.Status.SpecHash, replaced))
	if err != nil {
		if partnercenter.Classify(err) == partnercenter.ClassNotFound {
			// A 404 on POST .../carts means the customer, not a cart, is unknown.
			return r.rejected(s, "Partner Center does not know customer "+cart.Spec.CustomerID+": "+err.Error(), err)
		}
		return r.upstreamError(s, "create cart", err)
	}
	r.recordCart(s, created)
	s.cartCreated = true
	if replaced == "" {
		r.eventf(cart, corev1.EventTypeNormal, pcv1alpha1.EventCartCreated, "Created cart %s", created.ID)
	} else {
		r.eventf(cart, corev1.EventTypeNormal, pcv1alpha1.EventCartRecreated,
			"Cart %s expired or vanished before checkout; created cart %s from the spec", replaced, created.ID)
	}
	return r.checkLineItems(s)
}

func (r *PartnerCartReconciler) updateCart(ctx context.Context, s *scope) (ctrl.Result, error) {
	pc, err := s.partnerCenter(ctx)
	if err != nil {
		return r.upstreamError(s, "update cart", err)
	}
	cart := s.cart
	id := cart.Status.Cart.ID
	body := wireCart(&cart.Spec)
	body.ID = id
	updated, err := pc.UpdateCart(ctx, cart.Spec.CustomerID, id, body)
	if err != nil {
		if partnercenter.Classify(err) == partnercenter.ClassNotFound {
			return r.createCart(ctx, s, id)
		}
		return r.upstreamError(s, "update cart", err)
	}
	r.recordCart(s, updated)
	r.eventf(cart, corev1.EventTypeNormal, pcv1alpha1.EventCartUpdated, "Updated cart %s to spec %s", id, cart.Status.SpecHash)
	return r.checkLineItems(s)
}

func (r *PartnerCartReconciler) recordCart(s *scope, c *partnercenter.Cart) {
	s.cart.Status.Cart = cartStatus(c, s.cart.Status.SpecHash)
	errs := lineItemErrors(c)
	if len(errs) > 0 && !equalLineErrors(s.cart.Status.LineItemErrors, errs) {
		r.eventf(s.cart, corev1.EventTypeWarning, pcv1alpha1.EventLineItemErrors, "Partner Center rejected line items: %s", describeLineErrors(errs))
	}
	s.cart.Status.LineItemErrors = errs
}

// checkLineItems blocks everything after the cart while Partner Center rejects a line. This
// is terminal until the spec changes: no upstream call would change the answer.
func (r *PartnerCartReconciler) checkLineItems(s *scope) (ctrl.Result, error) {
	cart := s.cart
	if errs := cart.Status.LineItemErrors; len(errs) > 0 {
		msg := "Partner Center rejected line items: " + describeLineErrors(errs) + "; fix spec.lineItems"
		setCondition(cart, pcv1alpha1.CartSyncedCondition, metav1.ConditionFalse, pcv1alpha1.LineItemErrorsReason, msg)
		s.stalled = &stall{pcv1alpha1.LineItemErrorsReason, msg}
		s.done = true
		return ctrl.Result{}, nil
	}
	setCondition(cart, pcv1alpha1.CartSyncedCondition, metav1.ConditionTrue, pcv1alpha1.CartSyncedReason,
		fmt.Sprintf("Cart %s matches spec %s", cart.Status.Cart.ID, cart.Status.SpecHash))
	return ctrl.Result{}, nil
}

// reconcileApproval is the gate: nothing is bought until spec.approval allows it. Waiting
// makes no upstream call and no requeue: a spec change wakes the cart.
func (r *PartnerCartReconciler) reconcileApproval(_ context.Context, s *scope) (ctrl.Result, error) {
	cart := s.cart
	if cart.Status.Checkout != nil {
		// What was checked out was approved, whatever spec.approval says now.
		setCondition(cart, pcv1alpha1.ApprovedCondition, metav1.ConditionTrue, pcv1alpha1.ApprovedReason,
			approvedMessage(cart.Status.Checkout.SpecHash))
		return ctrl.Result{}, nil
	}
	reason, msg := approvalDecision(cart)
	if reason == pcv1alpha1.ApprovedReason {
		setCondition(cart, pcv1alpha1.ApprovedCondition, metav1.ConditionTrue, reason, msg)
		return ctrl.Result{}, nil
	}
	if conditionReason(cart, pcv1alpha1.ApprovedCondition) != reason {
		r.eventf(cart, corev1.EventTypeNormal, pcv1alpha1.EventWaitingForApproval, "%s", msg)
	}
	setCondition(cart, pcv1alpha1.ApprovedCondition, metav1.ConditionFalse, reason, msg)
	s.waitReason, s.waitMessage = reason, msg
	s.done = true
	return ctrl.Result{}, nil
}

// approvalDecision says whether spec.approval allows checking out the cart as synced.
func approvalDecision(cart *pcv1alpha1.PartnerCart) (reason, message string) {
	a := cart.Spec.Approval
	hash := cart.Status.SpecHash
	if !a.Approved {
		return pcv1alpha1.WaitingForApprovalReason, fmt.Sprintf(
			"Waiting for approval: set spec.approval.approved to true (optionally pin spec.approval.specHash to %s)", hash)
	}
	if a.SpecHash != "" && a.SpecHash != hash {
		return pcv1alpha1.ApprovalHashMismatchReason, fmt.Sprintf(
			"spec.approval.specHash %s does not match the current purchase content %s: the content changed after approval; approve it again", a.SpecHash, hash)
	}
	if a.MaxTotalPrice != "" {
		quoted := ""
		if cart.Status.Cart != nil {
			quoted = cart.Status.Cart.QuotedTotal
		}
		if quoted == "" {
			return pcv1alpha1.QuoteUnavailableReason, "spec.approval.maxTotalPrice is set but Partner Center quoted no total for the cart"
		}
		if cmp, err := compareDecimals(quoted, a.MaxTotalPrice); err != nil || cmp > 0 {
			return pcv1alpha1.PriceLimitExceededReason, fmt.Sprintf(
				"The quoted total %s %s is above spec.approval.maxTotalPrice %s", quoted, cart.Status.Cart.CurrencyCode, a.MaxTotalPrice)
		}
	}
	return pcv1alpha1.ApprovedReason, approvedMessage(hash)
}

func approvedMessage(specHash string) string { return "Approved for purchase content " + specHash }

// reconcileCheckout checks the cart out at most once (design 3.4).
//
//  1. Before the call, the intent {requestId, cartId, specHash, startedAt} is persisted with an
//     optimistic lock. If that write fails, no call is made.
//  2. The call carries MS-RequestId = UUIDv5(uid, "checkout", cartId), the same on every attempt.
//  3. Results are recorded at once, with the receipt.
//  4. An intent without a result (a crash, a lost answer) is recovered by re-observing the same
//     cart and repeating the checkout of that cart with the same request ID, which Partner
//     Center answers with the first result. A different cart is never checked out.
func (r *PartnerCartReconciler) reconcileCheckout(ctx context.Context, s *scope) (ctrl.Result, error) {
	if res, err, stop := r.checkoutGate(ctx, s); stop {
		return res, err
	}
	pc, err := s.partnerCenter(ctx)
	if err != nil {
		return r.upstreamError(s, "checkout", err)
	}
	if s.cart.Status.Checkout == nil {
		if res, err, stop := r.startCheckout(ctx, s); stop {
			return res, err
		}
	} else if res, err, proceed := r.reobserveCart(ctx, s, pc); !proceed {
		return res, err
	}

	cart, co := s.cart, s.cart.Status.Checkout
	r.eventf(cart, corev1.EventTypeNormal, pcv1alpha1.EventCheckoutSubmitted,
		"Checking out cart %s (MS-RequestId %s, attempt %d)", co.CartID, co.RequestID, co.Attempts+1)
	co.Attempts++
	result, err := pc.Checkout(ctx, cart.Spec.CustomerID, co.CartID, co.RequestID)
	if err != nil {
		return r.checkoutError(ctx, s, err)
	}
	return r.recordCheckout(ctx, s, result)
}

// checkoutGate decides whether this reconcile may call checkout at all: not once the result
// is recorded, not while an unknown outcome waits for a person, not again after a definite
// refusal of the same generation, and not while purchases are frozen.
func (r *PartnerCartReconciler) checkoutGate(ctx context.Context, s *scope) (ctrl.Result, error, bool) {
	cart := s.cart
	co := cart.Status.Checkout
	switch {
	case co != nil && co.CompletedAt != nil:
		return ctrl.Result{}, nil, true
	case awaitingResolution(s.before):
		if value, ok := cart.Annotations[pcv1alpha1.CheckoutResolutionAnnotation]; ok {
			res, err := r.resolveCheckout(ctx, s, value)
			return res, err, true
		}
		// Only a person can settle it; nothing to do until they do (the annotation wakes us).
		s.stalled = &stall{pcv1alpha1.CheckoutOutcomeUnknownReason, conditionMessage(cart, pcv1alpha1.CheckedOutCondition)}
		return ctrl.Result{}, nil, true
	case co != nil && s.checkoutDefinitelyFailed() && cart.Generation == cart.Status.ObservedGeneration:
		// Partner Center refused this checkout; nothing was bought. A new spec generation
		// (say, after fixing the credit limit upstream and touching the object) retries it.
		s.done = true
		return ctrl.Result{}, nil, true
	case co == nil && r.Options.PurchaseFreeze:
		s.waitReason, s.waitMessage = pcv1alpha1.PurchaseFrozenReason,
			"Approved, but new checkouts are frozen (the manager runs with --purchase-freeze); nothing is bought until it runs without it"
		if conditionReason(s.before, pcv1alpha1.ReadyCondition) != pcv1alpha1.PurchaseFrozenReason {
			r.eventf(cart, corev1.EventTypeNormal, pcv1alpha1.EventPurchaseFrozen, "%s", s.waitMessage)
		}
		s.done = true
		return ctrl.Result{}, nil, true
	}
	return ctrl.Result{}, nil, false
}

// startCheckout persists the intent of a first checkout, after making sure the cart will not
// expire between the intent and the call.
func (r *PartnerCartReconciler) startCheckout(ctx context.Context, s *scope) (ctrl.Result, error, bool) {
	if s.cartExpiresSoon() && !s.cartCreated {
		// Re-create first. A cart created in this very reconcile is trusted: upstream just
		// made it, whatever our clock says.
		res, err := r.recreateCart(ctx, s, s.cart.Status.Cart.ID)
		return res, err, true
	}
	if err := r.persistCheckoutIntent(ctx, s); err != nil {
		return ctrl.Result{}, err, true
	}
	s.freshIntent = true
	return ctrl.Result{}, nil, false
}

// recreateCart replaces a cart that expired or vanished before checkout; the new cart is
// checked out on the next pass, a second from now.
func (r *PartnerCartReconciler) recreateCart(ctx context.Context, s *scope, replaced string) (ctrl.Result, error) {
	res, err := r.createCart(ctx, s, replaced)
	if err == nil && res.IsZero() && !s.done {
		res.RequeueAfter = time.Second
	}
	return res, err
}

// persistCheckoutIntent writes status.checkout before the call, with a resourceVersion
// precondition: if another reconcile (or another manager) got there first, or our cache is
// stale, the write fails and no checkout is made.
func (r *PartnerCartReconciler) persistCheckoutIntent(ctx context.Context, s *scope) error {
	cart := s.cart
	cart.Status.Checkout = &pcv1alpha1.CheckoutStatus{
		RequestID: checkoutRequestID(cart.UID, cart.Status.Cart.ID),
		CartID:    cart.Status.Cart.ID,
		SpecHash:  cart.Status.SpecHash,
		StartedAt: metav1.NewTime(s.now),
	}
	cart.Status.Phase = pcv1alpha1.PhaseCheckingOut
	msg := "Checking out cart " + cart.Status.Cart.ID
	setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionUnknown, pcv1alpha1.CheckoutInProgressReason, msg)
	// The intent write also carries the summary, so nobody reads an older Ready while it is in flight.
	setCondition(cart, pcv1alpha1.ReconcilingCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutInProgressReason, msg)
	setCondition(cart, pcv1alpha1.ReadyCondition, metav1.ConditionFalse, pcv1alpha1.CheckoutInProgressReason, msg)
	meta.RemoveStatusCondition(&cart.Status.Conditions, pcv1alpha1.StalledCondition)
	if err := r.Client.Status().Patch(ctx, cart, optimisticMergeFrom(s.before)); err != nil {
		// Leave status as it was: the deferred patch must not record an intent that is not stored.
		cart.Status = *s.before.Status.DeepCopy()
		s.deleted = true // nothing more to write in this reconcile
		return fmt.Errorf("persist checkout intent (no checkout was made): %w", err)
	}
	s.before = cart.DeepCopy()
	return nil
}

// reobserveCart looks at the cart of an unfinished checkout before repeating it. It reports
// whether repeating the checkout of that same cart is the right move.
func (r *PartnerCartReconciler) reobserveCart(ctx context.Context, s *scope, pc partnercenter.Client) (ctrl.Result, error, bool) {
	cart := s.cart
	co := cart.Status.Checkout
	observed, err := pc.GetCart(ctx, cart.Spec.CustomerID, co.CartID)
	if err != nil {
		if partnercenter.Classify(err) == partnercenter.ClassNotFound {
			res, err := r.checkoutUnknown(s, fmt.Sprintf(
				"cart %s is gone upstream (404) after a checkout was started at %s, so the operator cannot tell whether it was bought",
				co.CartID, co.StartedAt.UTC().Format(time.RFC3339)))
			return res, err, false
		}
		res, err := r.upstreamError(s, "re-observe cart "+co.CartID, err)
		return res, err, false
	}
	cart.Status.Cart.Status = observed.Status
	// Active: the checkout did not happen (or is running; Partner Center answers 409 then).
	// Ordered: it happened; repeating it returns the first result. Both repeat the same call.
	return ctrl.Result{}, nil, true
}

func (r *PartnerCartReconciler) recordCheckout(ctx context.Context, s *scope, result *partnercenter.CartCheckoutResult) (ctrl.Result, error) {
	cart := s.cart
	co := cart.Status.Checkout
	now := metav1.NewTime(s.now)
	cart.Status.Orders = nil
	for _, o := range result.Orders {
		cart.Status.Orders = append(cart.Status.Orders, orderStatus(o))
	}
	cart.Status.OrderErrors = orderErrors(result.OrderErrors)
	co.CompletedAt = &now
	if cart.Status.Cart != nil {
		cart.Status.Cart.Status = partnercenter.CartStatusOrdered
	}
	setCartFrozen(cart)
	if len(cart.Status.Orders) > 0 {
		// The receipt is written before the result is patched into status: if we crash in
		// between, recovery repeats the checkout, gets the same orders and finds the receipt.
		if err := r.ensureReceipt(ctx, s); err != nil {
			return ctrl.Result{}, err
		}
		r.eventf(cart, corev1.EventTypeNormal, pcv1alpha1.EventOrdersCreated,
			"Checked out cart %s: orders %s", co.CartID, orderIDs(cart.Status.Orders))
	}
	switch {
	case len(cart.Status.OrderErrors) > 0 && len(cart.Status.Orders) == 0:
		msg := "Partner Center created no order: " + describeOrderErrors(cart.Status.OrderErrors)
		setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionFalse, pcv1alpha1.CheckoutFailedReason, msg)
		r.eventf(cart, corev1.EventTypeWarning, pcv1alpha1.EventCheckoutFailed, "%s", msg)
		s.stalled = &stall{pcv1alpha1.CheckoutFailedReason, msg}
		observeCheckout(cart, "failed", s.now)
	case len(cart.Status.OrderErrors) > 0:
		msg := fmt.Sprintf("Created orders %s; order groups failed: %s", orderIDs(cart.Status.Orders), describeOrderErrors(cart.Status.OrderErrors))
		setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutPartiallyFailedReason, msg)
		r.eventf(cart, corev1.EventTypeWarning, pcv1alpha1.EventCheckoutFailed, "%s", msg)
		observeCheckout(cart, "partially_failed", s.now)
	default:
		setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutSucceededReason,
			"Created orders "+orderIDs(cart.Status.Orders))
		observeCheckout(cart, "succeeded", s.now)
	}
	return ctrl.Result{}, nil
}

// checkoutError decides what a failed checkout call means. Only a definite refusal (a 4xx
// other than throttling) says nothing was bought; no answer at all, or a 5xx, may hide a
// committed purchase, so the next reconcile re-observes and repeats the same checkout.
func (r *PartnerCartReconciler) checkoutError(ctx context.Context, s *scope, err error) (ctrl.Result, error) {
	cart := s.cart
	co := cart.Status.Checkout
	switch partnercenter.Classify(err) {
	case partnercenter.ClassTerminal:
		if partnercenter.ErrorCode(err) == partnercenter.CodeCartAlreadySubmitted {
			return r.checkoutUnknown(s, fmt.Sprintf(
				"Partner Center says cart %s was already submitted (800065) but returned no orders", co.CartID))
		}
		msg := "Partner Center refused the checkout of cart " + co.CartID + ", nothing was bought: " + err.Error()
		observeCheckout(cart, "failed", s.now)
		setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionFalse, pcv1alpha1.CheckoutFailedReason, msg)
		r.eventf(cart, corev1.EventTypeWarning, pcv1alpha1.EventCheckoutFailed, "%s", msg)
		return r.terminal(s, pcv1alpha1.CheckoutFailedReason, msg, err)
	case partnercenter.ClassNotFound:
		if s.freshIntent && co.Attempts == 1 {
			// The only checkout call ever made for this cart was answered "no such cart": the
			// cart expired or vanished before it could be bought, so nothing was bought.
			// Withdrawing the intent and re-creating the cart cannot buy twice.
			cart.Status.Checkout = nil
			setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionFalse, pcv1alpha1.CheckoutPendingReason,
				"Cart "+co.CartID+" was gone upstream at checkout; nothing was bought; the cart is re-created")
			return r.recreateCart(ctx, s, co.CartID)
		}
		msg := "Cart " + co.CartID + " vanished upstream before its checkout completed (404); Partner Center bought nothing for it. Delete and re-create the PartnerCart to buy again: " + err.Error()
		setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionFalse, pcv1alpha1.CheckoutFailedReason, msg)
		r.eventf(cart, corev1.EventTypeWarning, pcv1alpha1.EventCheckoutFailed, "%s", msg)
		return r.terminal(s, pcv1alpha1.CheckoutFailedReason, msg, err)
	}
	setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionUnknown, pcv1alpha1.CheckoutInProgressReason,
		fmt.Sprintf("Outcome of the checkout of cart %s not known yet; it will be re-observed and repeated with MS-RequestId %s: %v", co.CartID, co.RequestID, err))
	return r.upstreamError(s, "checkout", err)
}

// checkoutUnknown stops: the operator cannot tell whether the purchase happened, and
// guessing could buy twice or lose a purchase. A person decides.
func (r *PartnerCartReconciler) checkoutUnknown(s *scope, why string) (ctrl.Result, error) {
	cart := s.cart
	co := cart.Status.Checkout
	msg := fmt.Sprintf("%s. Check the orders of customer %s created since %s in Partner Center (MS-RequestId %s). "+
		"The operator will not check out again: record what you find with the annotation %s=nothing-bought or %s=orders=<id>[,<id>...]",
		why, cart.Spec.CustomerID, co.StartedAt.UTC().Format(time.RFC3339), co.RequestID,
		pcv1alpha1.CheckoutResolutionAnnotation, pcv1alpha1.CheckoutResolutionAnnotation)
	setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionUnknown, pcv1alpha1.CheckoutOutcomeUnknownReason, msg)
	if conditionReason(s.before, pcv1alpha1.CheckedOutCondition) != pcv1alpha1.CheckoutOutcomeUnknownReason {
		observeCheckout(cart, "unknown", s.now)
		r.eventf(cart, corev1.EventTypeWarning, pcv1alpha1.EventCheckoutUnknown, "%s", msg)
	}
	return r.terminal(s, pcv1alpha1.CheckoutOutcomeUnknownReason, msg, errors.New(why))
}

// reconcileOrders polls pending orders with growing, jittered intervals until each is
// terminal and has its subscription IDs; then it makes no further upstream calls.
func (r *PartnerCartReconciler) reconcileOrders(ctx context.Context, s *scope) (ctrl.Result, error) {
	cart := s.cart
	co := cart.Status.Checkout
	if co == nil || co.CompletedAt == nil {
		return ctrl.Result{}, nil
	}
	pendingOrders := func() (pending []int) {
		for i, o := range cart.Status.Orders {
			if r.orderNeedsPolling(o, co.CompletedAt.Time, s.now) {
				pending = append(pending, i)
			}
		}
		return pending
	}
	pending := pendingOrders()
	if len(pending) > 0 && !co.CompletedAt.Time.Equal(s.now) {
		// Orders are read only after a poll interval has passed since checkout; right after
		// checkout they are pending by definition.
		pc, err := s.partnerCenter(ctx)
		if err != nil {
			return r.upstreamError(s, "get orders", err)
		}
		for _, i := range pending {
			o, err := pc.GetOrder(ctx, cart.Spec.CustomerID, cart.Status.Orders[i].ID)
			if err != nil {
				return r.upstreamError(s, "get order "+cart.Status.Orders[i].ID, err)
			}
			cart.Status.Orders[i] = orderStatus(*o)
		}
		pending = pendingOrders()
	}
	if len(pending) > 0 {
		s.waitReason = pcv1alpha1.OrdersProvisioningReason
		s.waitMessage = fmt.Sprintf("Waiting for %d of %d orders to complete", len(pending), len(cart.Status.Orders))
		return ctrl.Result{RequeueAfter: r.orderPollInterval(s.now.Sub(co.CompletedAt.Time))}, nil
	}
	if len(cart.Status.Orders) == 0 {
		// The checkout bought nothing (every order group failed, or a person recorded that it
		// bought nothing); CheckedOut already says which and why.
		s.stalled = &stall{conditionReason(cart, pcv1alpha1.CheckedOutCondition), conditionMessage(cart, pcv1alpha1.CheckedOutCondition)}
		return ctrl.Result{}, nil
	}
	if s.before.Status.Phase != pcv1alpha1.PhaseCompleted && s.before.Status.Phase != pcv1alpha1.PhaseFailed {
		r.eventf(cart, corev1.EventTypeNormal, pcv1alpha1.EventOrdersCompleted, "Orders %s reached their final status: %s",
			orderIDs(cart.Status.Orders), orderStatuses(cart.Status.Orders))
	}
	switch failed := failedOrders(cart.Status.Orders); {
	case failed != "":
		s.stalled = &stall{pcv1alpha1.OrdersFailedReason, "Orders did not complete: " + failed + "; Partner Center advises repurchasing what was not fulfilled"}
	case len(cart.Status.OrderErrors) > 0:
		// Not everything asked for was bought: a person decides whether to buy the rest.
		s.stalled = &stall{pcv1alpha1.CheckoutPartiallyFailedReason, fmt.Sprintf(
			"Orders %s completed, but order groups failed at checkout: %s; buy what is missing with a new PartnerCart",
			orderIDs(cart.Status.Orders), describeOrderErrors(cart.Status.OrderErrors))}
	}
	return ctrl.Result{}, nil
}

// orderNeedsPolling: an order is polled until its status is terminal and, when completed,
// until its lines have subscription IDs (which may appear later), for at most SubscriptionIDWait.
func (r *PartnerCartReconciler) orderNeedsPolling(o pcv1alpha1.OrderStatus, checkedOutAt, now time.Time) bool {
	if !partnercenter.OrderStatusIsTerminal(o.Status) {
		return true
	}
	if partnercenter.NormalizeOrderStatus(o.Status) != partnercenter.OrderStatusCompleted || now.Sub(checkedOutAt) > r.Options.SubscriptionIDWait {
		return false
	}
	for _, l := range o.LineItems {
		if l.SubscriptionID == "" {
			return true
		}
	}
	return false
}

// orderPollInterval grows with the age of the orders (half their age, between the configured
// first and maximum intervals) with ±20% jitter, so thousands of carts do not poll in step.
func (r *PartnerCartReconciler) orderPollInterval(age time.Duration) time.Duration {
	d := max(r.Options.OrderPollInterval, min(age/2, r.Options.MaxOrderPollInterval))
	return jitter(d)
}

func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// upstreamError maps a failed upstream (or credentials) step to the reconcile outcome:
// credentials problems retry slowly, throttling waits Retry-After, retryable errors go back
// to the work queue's exponential backoff, and terminal errors stall with Partner Center's
// code and description.
func (r *PartnerCartReconciler) upstreamError(s *scope, step string, err error) (ctrl.Result, error) {
	if ce, ok := isCredentialsError(err); ok {
		if s.before.Status.Phase == "" || conditionReason(s.before, pcv1alpha1.ReadyCondition) != ce.reason {
			r.eventf(s.cart, corev1.EventTypeWarning, pcv1alpha1.EventCredentialsInvalid, "%s", ce.message)
		}
		s.waitReason, s.waitMessage = ce.reason, ce.message
		return ctrl.Result{RequeueAfter: jitter(r.Options.CredentialsRetryInterval)}, nil
	}
	switch partnercenter.Classify(err) {
	case partnercenter.ClassThrottled:
		wait := max(partnercenter.RetryAfter(err), time.Second)
		s.waitReason, s.waitMessage = pcv1alpha1.ThrottledReason, fmt.Sprintf("Partner Center throttled %s; retrying after %s", step, wait)
		return ctrl.Result{RequeueAfter: wait + jitter(wait)/5}, nil
	case partnercenter.ClassTerminal, partnercenter.ClassNotFound:
		return r.rejected(s, fmt.Sprintf("Partner Center refused to %s: %v", step, err), err)
	}
	s.waitReason, s.waitMessage = pcv1alpha1.UpstreamUnavailableReason, fmt.Sprintf("Failed to %s, retrying: %v", step, err)
	return ctrl.Result{}, fmt.Errorf("%s: %w", step, err)
}

// rejected stalls the cart on a refusal from Partner Center, with a Warning event the first time.
func (r *PartnerCartReconciler) rejected(s *scope, msg string, err error) (ctrl.Result, error) {
	if conditionReason(s.before, pcv1alpha1.StalledCondition) != pcv1alpha1.UpstreamRejectedReason {
		r.eventf(s.cart, corev1.EventTypeWarning, pcv1alpha1.EventUpstreamRejected, "%s", msg)
	}
	return r.terminal(s, pcv1alpha1.UpstreamRejectedReason, msg, err)
}

// terminal stalls the cart: only a person (or a spec change) can move it on.
func (r *PartnerCartReconciler) terminal(s *scope, reason, msg string, err error) (ctrl.Result, error) {
	s.stalled = &stall{reason, msg}
	return ctrl.Result{}, reconcile.TerminalError(err)
}

// cartExpiresSoon reports whether the upstream cart is past, or within the margin of, its
// expirationTimestamp.
// The margin is at most a quarter of the cart's lifetime, so a short upstream expiry never
// makes every cart look expired (which would re-create carts forever).
func (s *scope) cartExpiresSoon() bool {
	c := s.cart.Status.Cart
	if c == nil || c.ExpirationTimestamp == nil {
		return false
	}
	margin := s.r.Options.CartExpiryMargin
	if c.CreationTimestamp != nil {
		margin = min(margin, c.ExpirationTimestamp.Sub(c.CreationTimestamp.Time)/4)
	}
	return !s.now.Add(margin).Before(c.ExpirationTimestamp.Time)
}

func describeLineErrors(errs []pcv1alpha1.LineItemError) string {
	parts := make([]string, 0, len(errs))
	for _, e := range errs {
		parts = append(parts, fmt.Sprintf("line %d: %d %s", e.LineItemID, e.ErrorCode, e.ErrorDescription))
	}
	return strings.Join(parts, "; ")
}

func describeOrderErrors(errs []pcv1alpha1.OrderError) string {
	parts := make([]string, 0, len(errs))
	for _, e := range errs {
		parts = append(parts, fmt.Sprintf("order group %s: %d %s", e.OrderGroupID, e.Code, e.Description))
	}
	return strings.Join(parts, "; ")
}

func equalLineErrors(a, b []pcv1alpha1.LineItemError) bool {
	return describeLineErrors(a) == describeLineErrors(b)
}

func orderIDs(orders []pcv1alpha1.OrderStatus) string {
	ids := make([]string, 0, len(orders))
	for _, o := range orders {
		ids = append(ids, o.ID)
	}
	return strings.Join(ids, ", ")
}

func orderStatuses(orders []pcv1alpha1.OrderStatus) string {
	parts := make([]string, 0, len(orders))
	for _, o := range orders {
		parts = append(parts, o.ID+" "+o.Status)
	}
	return strings.Join(parts, ", ")
}

func failedOrders(orders []pcv1alpha1.OrderStatus) string {
	var parts []string
	for _, o := range orders {
		if partnercenter.NormalizeOrderStatus(o.Status) != partnercenter.OrderStatusCompleted {
			parts = append(parts, o.ID+" is "+o.Status)
		}
	}
	return strings.Join(parts, ", ")
}
