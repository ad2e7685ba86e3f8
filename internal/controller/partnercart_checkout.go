package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	"github.com/partnercart/partnercart-operator/internal/printable"
)

// The checkout is a state machine kept in status.checkout.outcome (design 3.7):
//
//	(none) --gate passes, intent persisted--> Pending
//	Pending --orders--> Succeeded | PartiallySucceeded
//	Pending --definite refusal of the only call, cart never seen Ordered--> Refused (history; none again)
//	Pending --lost answer, 5xx, 429--> Pending (same request ID, after re-reading the cart)
//	Pending --refusal of a repeat, 2xx without orders, undecodable 2xx, attempt cap--> Unknown
//	Unknown --annotation "<requestId>/nothing-bought"--> Abandoned
//	Unknown --annotation "<requestId>/orders=..."--> Resolved
//
// Every call of one intent carries the same MS-RequestId; a new intent (after a refusal) gets
// a new one. Each call is persisted (attempts, owner, deadline) before it is made.

// maxCheckoutAttempts caps the calls of one intent: past it, the outcome is handed to a person.
const maxCheckoutAttempts = 10

// maxRefusalsPerGeneration caps the intents one spec generation may start: a cart that keeps
// vanishing at checkout (404) is re-created at most this many times before a person looks.
const maxRefusalsPerGeneration = 3

// reconcileCheckout moves the checkout one step along its state machine. It owns every
// outcome: a new intent, its calls and their answers, the Unknown ones a person settles, and
// the settled ones, whose record it keeps.
func (r *PartnerCartReconciler) reconcileCheckout(ctx context.Context, s *scope) phaseResult {
	co := s.cart.Status.Checkout
	switch {
	case co == nil:
		return r.startCheckout(ctx, s)
	case co.Outcome == pcv1alpha1.CheckoutPending:
		return r.continueCheckout(ctx, s)
	case co.Outcome == pcv1alpha1.CheckoutUnknown:
		return r.awaitResolution(ctx, s)
	}
	return r.keepRecord(ctx, s)
}

// startCheckout runs what is left of the gate for a new intent (the cart phase verified the
// upstream cart on fresh data, and the approval phase decided on it) and makes its first call.
func (r *PartnerCartReconciler) startCheckout(ctx context.Context, s *scope) phaseResult {
	if res := r.refusalGate(s); res.stops() {
		return res
	}
	if r.Options.PurchaseFreeze {
		return waitForPerson(pcv1alpha1.PurchaseFrozenReason,
			"Approved, but new checkouts are frozen (the manager runs with --purchase-freeze); nothing is bought until it runs without it",
			pcv1alpha1.EventPurchaseFrozen)
	}
	if res := r.repurchaseGuard(ctx, s); res.stops() {
		return res
	}
	if res := r.persistCheckoutIntent(ctx, s); res.stops() {
		return res
	}
	return r.callCheckout(ctx, s)
}

// keepRecord keeps the record of a settled checkout: a receipt that could not be written at
// checkout, or was deleted since, is written by every reconcile (a deleted receipt wakes its
// cart). A checkout a person recorded as having bought nothing (Abandoned) stays there: only
// a person moves it on.
func (r *PartnerCartReconciler) keepRecord(ctx context.Context, s *scope) phaseResult {
	cart, co := s.cart, s.cart.Status.Checkout
	if co.CompletedAt == nil {
		return next()
	}
	if len(cart.Status.Orders) > 0 || co.Resolution != "" {
		if err := r.ensureReceiptKept(ctx, s); err != nil {
			return retryOn(err)
		}
	}
	if co.Outcome == pcv1alpha1.CheckoutAbandoned {
		// Announced by CheckoutResolved when the person settled it.
		return stall(pcv1alpha1.CheckoutAbandonedReason, co.Message).quiet()
	}
	return next()
}

// refusalGate keeps a refused cart from being checked out again until a person acts: a
// definite refusal (a credit limit, say) blocks new intents for as long as the spec keeps the
// generation it was refused at. A new generation (an edit, a new approval) lets a new intent
// through the whole gate; an expired cart, a restart or a watch event never does. A cart that
// vanished at checkout (404) is re-created, a bounded number of times per generation.
func (r *PartnerCartReconciler) refusalGate(s *scope) phaseResult {
	cart := s.cart
	refusals := 0
	var last *pcv1alpha1.CheckoutStatus
	for i := range cart.Status.CheckoutHistory {
		if h := &cart.Status.CheckoutHistory[i]; h.Generation == cart.Generation {
			refusals++
			last = h
		}
	}
	switch {
	case last == nil:
		return next()
	case refusals >= maxRefusalsPerGeneration:
		return stall(pcv1alpha1.CheckoutFailedReason, fmt.Sprintf(
			"Partner Center refused %d checkouts of this spec; nothing was bought. Last: %s. Change the spec (or re-approve) to try again", refusals, last.Message))
	case !last.CartGone:
		return stall(pcv1alpha1.CheckoutRefusedReason, refusedMessage(last))
	}
	return next()
}

func refusedMessage(h *pcv1alpha1.CheckoutStatus) string {
	return fmt.Sprintf("%s. Nothing was bought; change the spec or re-approve it to try again with a new checkout", h.Message)
}

// persistCheckoutIntent writes status.checkout before the first call, with a resourceVersion
// precondition: if another reconcile (or another manager) got there first, or our cache is
// stale, the write fails and no checkout is made.
func (r *PartnerCartReconciler) persistCheckoutIntent(ctx context.Context, s *scope) phaseResult {
	cart := s.cart
	intent := int32(1)
	for _, h := range cart.Status.CheckoutHistory {
		intent = max(intent, h.Intent+1)
	}
	account, accountUID := s.credentialSource().account, ""
	if account != "" {
		// The account the checkout's calls were signed in with: every later call of the
		// intent must use this very object, not one re-created under its name.
		acct, err := s.partnerAccount(ctx, account)
		if err != nil {
			return retryOn(fmt.Errorf("read PartnerCenterAccount %s (no checkout call was made): %w", account, err))
		}
		accountUID = string(acct.UID)
	}
	repurchaseOf, repurchaseOfBy, repurchaseOfAt := r.decision(ctx, cart, pcv1alpha1.RepurchaseOfAnnotation)
	cart.Status.Checkout = &pcv1alpha1.CheckoutStatus{
		RequestID:      checkoutRequestID(cart.UID, cart.Status.Cart.ID, intent),
		CartID:         cart.Status.Cart.ID,
		CustomerID:     cart.Spec.CustomerID,
		Account:        account,
		AccountUID:     accountUID,
		SpecHash:       cart.Status.SpecHash,
		ContentHash:    contentHash(cart.Spec.CustomerID, s.upstreamLines, &cart.Spec),
		RepurchaseOf:   printable.Truncate(repurchaseOf, 1024),
		RepurchaseOfBy: printable.Truncate(repurchaseOfBy, 512),
		RepurchaseOfAt: printable.Truncate(repurchaseOfAt, 64),
		RequestedBy:    cart.Spec.Approval.RequestedBy,
		ApprovedBy:     cart.Spec.Approval.ApprovedBy,
		ApprovedAt:     cart.Spec.Approval.ApprovedAt,
		AppliedBy:      appliedBy(cart),
		Intent:         intent,
		Outcome:        pcv1alpha1.CheckoutPending,
		StartedAt:      metav1.NewTime(s.now),
	}
	return r.persistAttempt(ctx, s)
}

// persistAttempt records, before a checkout call, that this process is making it and until
// when: attempts, owner and deadline. The write carries an optimistic lock, so two processes
// can never both believe they own the call. On failure no call is made.
func (r *PartnerCartReconciler) persistAttempt(ctx context.Context, s *scope) phaseResult {
	cart := s.cart
	co := cart.Status.Checkout
	co.Attempts++
	co.Owner = r.Options.Identity
	// The deadline counts from now, not from the reconcile's start (reads, a PUT, the client's
	// limiter may have taken a while), and is whole seconds, as it is stored: the call's own
	// context ends at it, so no call of this process is in flight once another may repeat it.
	deadline := metav1.NewTime(r.Clock.Now().Add(r.Options.CheckoutTimeout).Truncate(time.Second))
	co.Deadline = &deadline
	msg := fmt.Sprintf("Checking out cart %s (MS-RequestId %s, attempt %d)", co.CartID, co.RequestID, co.Attempts)
	setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionUnknown, pcv1alpha1.CheckoutInProgressReason, msg)
	// The intent write also carries the summary, so nobody reads an older Ready while it is in flight.
	summarize(cart, retryAfter(pcv1alpha1.CheckoutInProgressReason, msg, 0))
	if err := r.Client.Status().Patch(ctx, cart, optimisticMergeFrom(s.stored)); err != nil {
		return persistFailed(err)
	}
	s.stored = cart.DeepCopy()
	if co.Attempts > 1 {
		// The first call's answer is the next Event (OrdersCreated, CheckoutRefused or
		// CheckoutOutcomeUnknown); a repeat means an answer was lost, which a person may want
		// to see.
		r.eventf(cart, corev1.EventTypeNormal, pcv1alpha1.EventCheckoutSubmitted, "Repeating: %s", msg)
	}
	return next()
}

// continueCheckout recovers an intent whose outcome is not recorded (a crash, a lost answer, a
// 5xx): from the receipt if the result was already kept there, otherwise by re-reading the
// cart and repeating the same call with the same request ID, which Partner Center answers
// with the first result. A different cart is never checked out.
func (r *PartnerCartReconciler) continueCheckout(ctx context.Context, s *scope) phaseResult {
	cart := s.cart
	co := cart.Status.Checkout
	if rec, err := r.readOwnReceipt(ctx, s); err != nil {
		return retryOn(err)
	} else if rec != nil && len(rec.Orders) > 0 {
		if recorded, err := r.resultRecorded(ctx, s); err != nil {
			return retryOn(err)
		} else if recorded {
			return staleView()
		}
		return r.recordResult(ctx, s, nil, rec)
	}
	if co.Owner != r.Options.Identity && co.Deadline != nil && s.now.Before(co.Deadline.Time) {
		// Another process made the last call and may still be waiting for its answer.
		return retryAfter(pcv1alpha1.CheckoutInProgressReason, fmt.Sprintf("Checkout of cart %s is in the hands of %s until %s",
			co.CartID, co.Owner, co.Deadline.UTC().Format(time.RFC3339)), co.Deadline.Sub(s.now)+time.Second)
	}
	if co.Attempts >= maxCheckoutAttempts {
		return r.checkoutUnknown(ctx, s, fmt.Sprintf("%d checkout calls of cart %s got no usable answer", co.Attempts, co.CartID))
	}
	pc, res := r.upstream(ctx, s, "checkout")
	if res.stops() {
		return res
	}
	upstream, err := pc.GetCart(ctx, s.customerID(), co.CartID)
	if err != nil {
		if partnercenter.Classify(err) == partnercenter.ClassNotFound {
			return r.checkoutUnknown(ctx, s, fmt.Sprintf(
				"cart %s is gone upstream (404) after a checkout was started at %s, so the operator cannot tell whether it was bought",
				co.CartID, co.StartedAt.UTC().Format(time.RFC3339)))
		}
		return upstreamError(s, "re-read cart "+co.CartID, err)
	}
	if cart.Status.Cart != nil {
		cart.Status.Cart.Status = upstream.Status
	}
	if upstream.Status == partnercenter.CartStatusOrdered {
		co.CartSeenOrdered = true
	}
	if !co.CartSeenOrdered {
		// The cart is not ordered, so the earlier calls may not have been processed, and this
		// repeat could be the call that buys: it must pass what the first one passed.
		if r.Options.PurchaseFreeze {
			return waitForPerson(pcv1alpha1.PurchaseFrozenReason, fmt.Sprintf(
				"New checkout calls are frozen (--purchase-freeze), and cart %s is not ordered: the call of this checkout (MS-RequestId %s) is repeated once the manager runs without it",
				co.CartID, co.RequestID), pcv1alpha1.EventPurchaseFrozen)
		}
		if why := repeatBlocked(s, upstream); why != "" {
			return r.checkoutUnknown(ctx, s, why)
		}
	}
	if res := r.persistAttempt(ctx, s); res.stops() {
		return res
	}
	return r.callCheckout(ctx, s)
}

// repeatAboveLimit reports whether the quote of the upstream cart as read now is above the
// approval's price limit, or unknown.
func repeatAboveLimit(cart *pcv1alpha1.PartnerCart, upstream *partnercenter.Cart) bool {
	now := cart.DeepCopy()
	now.Status.Cart = cartStatus(upstream, cart.Status.SpecHash)
	_, known, above := quoteAbove(now, cart.Spec.Approval.MaxTotalPrice)
	return !known || above
}

// repeatBlocked says why the call of a Pending intent whose cart is not ordered must not be
// repeated ("" when it may): whether an earlier call was processed cannot be known, so the
// repeat may be the call that buys, and it would buy past what changed since the intent was
// made. A person then looks, as for any unknown outcome.
func repeatBlocked(s *scope, upstream *partnercenter.Cart) string {
	cart, co := s.cart, s.cart.Status.Checkout
	lead := fmt.Sprintf("the outcome of the checkout of cart %s is not known and cart %s is not ordered, but ", co.CartID, co.CartID)
	switch {
	case !cart.DeletionTimestamp.IsZero():
		return lead + "the PartnerCart is being deleted: the operator does not repeat a call that could buy now"
	case !cart.Spec.Approval.Approved:
		return lead + "the approval was withdrawn: the operator does not repeat a call that could buy now"
	case cart.Status.SpecHash != co.SpecHash:
		return lead + fmt.Sprintf("the purchase content changed (%s, checked out %s): repeating the call could buy content no longer asked for", cart.Status.SpecHash, co.SpecHash)
	case cart.Spec.Approval.SpecHash != "" && cart.Spec.Approval.SpecHash != co.SpecHash:
		return lead + "the approval is pinned to other content (" + cart.Spec.Approval.SpecHash + ")"
	case cart.Spec.Approval.MaxTotalPrice != "" && repeatAboveLimit(cart, upstream):
		return lead + "its quote upstream is now above spec.approval.maxTotalPrice " + cart.Spec.Approval.MaxTotalPrice + " (or cannot be compared with it)"
	case co.ContentHash != "" && contentHash(s.customerID(), upstream.LineItems, &cart.Spec) != co.ContentHash:
		return lead + "its content upstream changed since it was verified (" + linesDiffer(upstream.LineItems, &cart.Spec) + "): repeating the call would buy content nobody approved"
	}
	return ""
}

// resultRecorded reads the cart from the API server to tell whether the result of its
// checkout is recorded already. The cache may not show yet the status this process wrote a
// moment ago; recording the receipt again would count the purchase twice in the metrics and
// the events. Only the recovery from a receipt asks, which is rare.
func (r *PartnerCartReconciler) resultRecorded(ctx context.Context, s *scope) (bool, error) {
	live := &pcv1alpha1.PartnerCart{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(s.cart), live); err != nil {
		return false, fmt.Errorf("read the cart: %w", err)
	}
	co := live.Status.Checkout
	if co == nil || co.RequestID != s.cart.Status.Checkout.RequestID || !co.Outcome.Final() {
		return false, nil
	}
	return true, nil
}

// callCheckout makes one persisted checkout call and records what its answer means. The call
// and the writes after it run on a context that a shutdown does not cancel (bounded by the
// checkout timeout), so a result that arrives is never dropped.
func (r *PartnerCartReconciler) callCheckout(ctx context.Context, s *scope) phaseResult {
	cart, co := s.cart, s.cart.Status.Checkout
	pc, res := r.upstream(ctx, s, "checkout")
	if res.stops() {
		return res
	}
	r.checkouts.Add(1)
	defer r.checkouts.Done()
	// The call ends at the deadline persisted for it; the writes that record its answer get
	// a timeout of their own, so an answer that came just in time is still recorded.
	callCtx, cancelCall := r.detachedFor(ctx, co.Deadline.Sub(r.Clock.Now()))
	result, err := pc.Checkout(callCtx, s.customerID(), co.CartID, co.RequestID)
	cancelCall()
	callCtx, cancel := r.detached(ctx)
	defer cancel()
	if err != nil {
		return r.checkoutError(callCtx, s, err)
	}
	noID := countFunc(result.Orders, func(o partnercenter.Order) bool { return strings.TrimSpace(o.ID) == "" })
	switch {
	case noID > 0:
		// An order without an ID (`{"orders":[{}]}`, `[null]`) cannot be polled, recorded or
		// told apart from another purchase: something was bought, but not what.
		return r.checkoutUnknown(callCtx, s, fmt.Sprintf("Partner Center answered the checkout of cart %s with %d orders, %d of them without an ID",
			co.CartID, len(result.Orders), noID))
	case len(result.Orders) > 0:
		return r.recordResult(callCtx, s, result, nil)
	case slices.ContainsFunc(result.OrderErrors, func(e partnercenter.OrderError) bool { return e.Code == 0 }):
		// A refusal names its error code; an order error without one (`[null]`, `[{}]`) says
		// nothing definite about what Partner Center did.
		return r.checkoutUnknown(callCtx, s, fmt.Sprintf("Partner Center answered the checkout of cart %s with order errors that carry no error code", co.CartID))
	case len(result.OrderErrors) > 0 && onlyCall(co):
		// Every order group failed on the only call: Partner Center created nothing.
		cart.Status.OrderErrors = orderErrors(result.OrderErrors)
		return r.refuse(s, "Partner Center created no order: "+describeOrderErrors(orderErrors(result.OrderErrors)), false)
	case len(result.OrderErrors) > 0:
		return r.checkoutUnknown(callCtx, s, fmt.Sprintf("a repeated checkout of cart %s was answered with order errors only (%s); an earlier call may have bought",
			co.CartID, describeOrderErrors(orderErrors(result.OrderErrors))))
	}
	return r.checkoutUnknown(callCtx, s, fmt.Sprintf("Partner Center answered the checkout of cart %s with success but neither orders nor order errors", co.CartID))
}

// onlyCall reports whether the call just answered is the only checkout call ever made for this
// intent and the cart was never seen Ordered: only then can a refusal mean nothing was bought.
func onlyCall(co *pcv1alpha1.CheckoutStatus) bool {
	return co.Attempts == 1 && !co.CartSeenOrdered
}

// checkoutError decides what a failed checkout call means. Only a definite refusal of the only
// call says nothing was bought; no answer, a 5xx or a 429 may hide a committed purchase, so
// the intent stays Pending and is repeated; anything else unclear goes to a person.
func (r *PartnerCartReconciler) checkoutError(ctx context.Context, s *scope, err error) phaseResult {
	co := s.cart.Status.Checkout
	class := partnercenter.Classify(err)
	switch {
	case class == partnercenter.ClassUndecodable:
		return r.checkoutUnknown(ctx, s, fmt.Sprintf("Partner Center answered the checkout of cart %s with success, but the answer cannot be read (%v)", co.CartID, err))
	case class == partnercenter.ClassTerminal && partnercenter.ErrorCode(err) == partnercenter.CodeCartAlreadySubmitted:
		return r.checkoutUnknown(ctx, s, fmt.Sprintf("Partner Center says cart %s was already submitted (800065) but returned no orders", co.CartID))
	case (class == partnercenter.ClassTerminal || class == partnercenter.ClassNotFound) && onlyCall(co):
		return r.refuse(s, "Partner Center refused the checkout of cart "+co.CartID+": "+err.Error(), class == partnercenter.ClassNotFound)
	case class == partnercenter.ClassTerminal || class == partnercenter.ClassNotFound:
		return r.checkoutUnknown(ctx, s, fmt.Sprintf("a repeated checkout of cart %s was refused (%v), so whether an earlier call bought cannot be told from the answer", co.CartID, err))
	}
	if _, credentials := isCredentialsError(err); credentials || class == partnercenter.ClassThrottled {
		// Refused before Partner Center processed it (no token, 401, 429, or our own tenant
		// gate): this call cannot have bought, so attempts (the calls that may have) does not
		// count it, and a later definite refusal of the only processed call still means
		// nothing was bought.
		co.Attempts--
	}
	setCondition(s.cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionUnknown, pcv1alpha1.CheckoutInProgressReason,
		fmt.Sprintf("Outcome of the checkout of cart %s not known yet; it will be re-read and repeated with MS-RequestId %s: %v", co.CartID, co.RequestID, err))
	return upstreamError(s, "checkout", err)
}

// refuse closes an intent that Partner Center definitely refused on its only call: nothing was
// bought. The intent becomes history, and a later attempt is a new intent through the whole
// gate. A cart that vanished (cartGone) is marked expired, so the cart phase re-creates it
// (at most maxRefusalsPerGeneration times, backing off); any other refusal waits for the spec
// to change.
func (r *PartnerCartReconciler) refuse(s *scope, why string, cartGone bool) phaseResult {
	cart := s.cart
	co := cart.Status.Checkout
	now := metav1.NewTime(s.now)
	co.CompletedAt = &now
	co.CartGone = cartGone
	retireRefused(cart, why, cart.Generation)
	s.countCheckout("refused")
	setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionFalse, pcv1alpha1.CheckoutRefusedReason, why+"; nothing was bought")
	if res := r.refusalGate(s); res.stops() || !cartGone {
		return res
	}
	if cart.Status.Cart != nil {
		// As far as we can know, the cart expired: the cart phase re-creates it.
		cart.Status.Cart.ExpirationTimestamp = &now
	}
	msg := why + "; nothing was bought; the cart is re-created"
	r.eventf(cart, corev1.EventTypeWarning, pcv1alpha1.EventCheckoutRefused, "%s", msg)
	return retryAfter(pcv1alpha1.CheckoutRefusedReason, msg, time.Duration(1<<len(cart.Status.CheckoutHistory))*time.Second)
}

// persistFailed ends a reconcile whose intent or attempt write failed: another writer's state
// is newer than ours, so nothing of this reconcile is written and no call is made. The
// upstream cart is read again before any later intent, so a PUT made here cannot be bought
// unseen.
func persistFailed(err error) phaseResult {
	return phaseResult{kind: kindRetry, err: fmt.Errorf("persist checkout attempt (no checkout call was made): %w", err), noStatusWrite: true}
}
