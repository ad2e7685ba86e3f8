package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
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

// reconcileCheckout moves the checkout one step along its state machine.
func (r *PartnerCartReconciler) reconcileCheckout(ctx context.Context, s *scope) (ctrl.Result, error) {
	co := s.cart.Status.Checkout
	switch {
	case co == nil:
		return r.startCheckout(ctx, s)
	case co.Outcome == pcv1alpha1.CheckoutPending:
		return r.continueCheckout(ctx, s)
	case co.Outcome == pcv1alpha1.CheckoutUnknown:
		return r.awaitResolution(ctx, s)
	}
	return ctrl.Result{}, nil
}

// startCheckout runs the whole gate for a new intent and makes its first call. Everything that
// can stop a purchase is checked here, against fresh data, before the intent is written.
func (r *PartnerCartReconciler) startCheckout(ctx context.Context, s *scope) (ctrl.Result, error) {
	cart := s.cart
	if stop, res, err := r.refusalGate(s); stop {
		return res, err
	}
	if r.Options.PurchaseFreeze {
		msg := "Approved, but new checkouts are frozen (the manager runs with --purchase-freeze); nothing is bought until it runs without it"
		if s.before.Status.Phase != pcv1alpha1.PhaseAwaitingApproval || conditionReason(s.before, pcv1alpha1.ReadyCondition) != pcv1alpha1.PurchaseFrozenReason {
			r.eventf(cart, corev1.EventTypeNormal, pcv1alpha1.EventPurchaseFrozen, "%s", msg)
		}
		return s.wait(pcv1alpha1.PurchaseFrozenReason, msg)
	}
	if stop, res, err := r.repurchaseGuard(ctx, s); stop || err != nil {
		return res, err
	}
	if s.cartExpiresSoon() && !s.cartWritten {
		// Re-create first. A cart written in this very reconcile is trusted: upstream just
		// made it, whatever our clock says.
		return r.recreateCart(ctx, s, cart.Status.Cart.ID)
	}
	if stop, res, err := r.verifyUpstreamCart(ctx, s); stop {
		return res, err
	}
	// The approval is decided again on the fresh quote, not one that may be days old.
	if reason, msg := r.approvalDecision(ctx, s); reason != pcv1alpha1.ApprovedReason {
		if conditionReason(cart, pcv1alpha1.ApprovedCondition) != reason {
			r.eventf(cart, corev1.EventTypeNormal, pcv1alpha1.EventWaitingForApproval, "%s", msg)
		}
		setCondition(cart, pcv1alpha1.ApprovedCondition, metav1.ConditionFalse, reason, msg)
		return s.wait(reason, msg)
	}
	if msg, err := s.customerNotAllowed(ctx); err != nil {
		return r.upstreamError(s, "read the account", err)
	} else if msg != "" {
		return r.stall(s, pcv1alpha1.CustomerNotAllowedReason, msg)
	}
	if msg, err := s.aboveAccountCeiling(ctx); err != nil {
		return r.upstreamError(s, "read the account", err)
	} else if msg != "" {
		return r.stall(s, pcv1alpha1.AccountPriceCeilingExceededReason, msg)
	}
	if err := r.persistCheckoutIntent(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	return r.callCheckout(ctx, s)
}

// refusalGate keeps a refused cart from being checked out again until a person acts: a
// definite refusal (a credit limit, say) blocks new intents for as long as the spec keeps the
// generation it was refused at. A new generation (an edit, a new approval) lets a new intent
// through the whole gate; an expired cart, a restart or a watch event never does. A cart that
// vanished at checkout (404) is re-created, a bounded number of times per generation.
func (r *PartnerCartReconciler) refusalGate(s *scope) (bool, ctrl.Result, error) {
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
		return false, ctrl.Result{}, nil
	case refusals >= maxRefusalsPerGeneration:
		msg := fmt.Sprintf("Partner Center refused %d checkouts of this spec; nothing was bought. Last: %s. Change the spec (or re-approve) to try again",
			refusals, last.Message)
		res, err := r.stall(s, pcv1alpha1.CheckoutFailedReason, msg)
		return true, res, err
	case !last.CartGone:
		res, err := r.stall(s, pcv1alpha1.CheckoutRefusedReason, refusedMessage(last))
		return true, res, err
	}
	return false, ctrl.Result{}, nil
}

func refusedMessage(h *pcv1alpha1.CheckoutStatus) string {
	return fmt.Sprintf("%s. Nothing was bought; change the spec or re-approve it to try again with a new checkout", h.Message)
}

// verifyUpstreamCart makes sure the cart about to be bought holds exactly what the spec asks
// for, by reading it now (unless this reconcile just wrote it): a lost status write, a
// conflicting intent write or another manager's stale PUT can leave the cart with content
// nobody approved. A difference is PUT right, never bought.
func (r *PartnerCartReconciler) verifyUpstreamCart(ctx context.Context, s *scope) (bool, ctrl.Result, error) {
	cart := s.cart
	if !s.cartWritten {
		pc, err := s.partnerCenter(ctx)
		if err != nil {
			res, err := r.upstreamError(s, "read cart", err)
			return true, res, err
		}
		observed, err := pc.GetCart(ctx, cart.Spec.CustomerID, cart.Status.Cart.ID)
		if err != nil {
			if partnercenter.Classify(err) == partnercenter.ClassNotFound {
				res, err := r.recreateCart(ctx, s, cart.Status.Cart.ID)
				return true, res, err
			}
			res, err := r.upstreamError(s, "read cart "+cart.Status.Cart.ID, err)
			return true, res, err
		}
		if diff := linesDiffer(observed.LineItems, &cart.Spec); diff != "" {
			log := ctrl.LoggerFrom(ctx)
			log.Info("Upstream cart differs from the spec; updating it instead of buying", "cartID", observed.ID, "difference", diff)
			res, err := r.updateCart(ctx, s)
			if err != nil || !res.IsZero() || s.stalled != nil || s.done {
				return true, res, err
			}
		} else {
			r.recordCart(s, observed)
			if res, err := r.checkLineItems(s); s.stalled != nil {
				return true, res, err
			}
		}
	}
	if diff := linesDiffer(s.upstreamLines, &cart.Spec); diff != "" {
		// Our own write was answered with other content: buying it would buy what nobody approved.
		res, err := r.stall(s, pcv1alpha1.UpstreamCartDiffersReason, fmt.Sprintf(
			"Cart %s upstream does not hold what the spec asks for (%s) even after it was written; nothing is bought. "+
				"If Partner Center sets this itself (an eligible promotion, say), put it in the spec and approve that content", cart.Status.Cart.ID, diff))
		return true, res, err
	}
	return false, ctrl.Result{}, nil
}

// persistCheckoutIntent writes status.checkout before the first call, with a resourceVersion
// precondition: if another reconcile (or another manager) got there first, or our cache is
// stale, the write fails and no checkout is made.
func (r *PartnerCartReconciler) persistCheckoutIntent(ctx context.Context, s *scope) error {
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
			return fmt.Errorf("read PartnerCenterAccount %s (no checkout call was made): %w", account, err)
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
func (r *PartnerCartReconciler) persistAttempt(ctx context.Context, s *scope) error {
	cart := s.cart
	co := cart.Status.Checkout
	co.Attempts++
	co.Owner = r.Options.Identity
	// The deadline counts from now, not from the reconcile's start (reads, a PUT, the client's
	// limiter may have taken a while), and is whole seconds, as it is stored: the call's own
	// context ends at it, so no call of this process is in flight once another may repeat it.
	deadline := metav1.NewTime(r.Clock.Now().Add(r.Options.CheckoutTimeout).Truncate(time.Second))
	co.Deadline = &deadline
	cart.Status.Phase = pcv1alpha1.PhaseCheckingOut
	msg := fmt.Sprintf("Checking out cart %s (MS-RequestId %s, attempt %d)", co.CartID, co.RequestID, co.Attempts)
	setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionUnknown, pcv1alpha1.CheckoutInProgressReason, msg)
	// The intent write also carries the summary, so nobody reads an older Ready while it is in flight.
	setCondition(cart, pcv1alpha1.ReconcilingCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutInProgressReason, msg)
	setCondition(cart, pcv1alpha1.ReadyCondition, metav1.ConditionFalse, pcv1alpha1.CheckoutInProgressReason, msg)
	meta.RemoveStatusCondition(&cart.Status.Conditions, pcv1alpha1.StalledCondition)
	if err := r.Client.Status().Patch(ctx, cart, optimisticMergeFrom(s.before)); err != nil {
		// Nothing of this reconcile is written: another writer's state is newer than ours. The
		// upstream cart is read again before any later intent, so a PUT made here cannot be
		// bought unseen.
		cart.Status = *s.before.Status.DeepCopy()
		s.noStatusWrite = true
		return fmt.Errorf("persist checkout attempt (no checkout call was made): %w", err)
	}
	s.before = cart.DeepCopy()
	if co.Attempts > 1 {
		// The first call's answer is the next Event (OrdersCreated, CheckoutRefused or
		// CheckoutOutcomeUnknown); a repeat means an answer was lost, which a person may want
		// to see.
		r.eventf(cart, corev1.EventTypeNormal, pcv1alpha1.EventCheckoutSubmitted, "Repeating: %s", msg)
	}
	return nil
}

// continueCheckout recovers an intent whose outcome is not recorded (a crash, a lost answer, a
// 5xx): from the receipt if the result was already kept there, otherwise by re-reading the
// cart and repeating the same call with the same request ID, which Partner Center answers
// with the first result. A different cart is never checked out.
func (r *PartnerCartReconciler) continueCheckout(ctx context.Context, s *scope) (ctrl.Result, error) {
	cart := s.cart
	co := cart.Status.Checkout
	if rec, err := r.readOwnReceipt(ctx, s); err != nil {
		return ctrl.Result{}, err
	} else if rec != nil && len(rec.Orders) > 0 {
		if recorded, err := r.resultRecorded(ctx, s); err != nil || recorded {
			return ctrl.Result{RequeueAfter: time.Second}, err
		}
		cart.Status.ReceiptName = receiptName(cart)
		return r.recordResult(ctx, s, &partnercenter.CartCheckoutResult{}, rec)
	}
	if co.Owner != r.Options.Identity && co.Deadline != nil && s.now.Before(co.Deadline.Time) {
		// Another process made the last call and may still be waiting for its answer.
		wait := co.Deadline.Sub(s.now)
		return s.waitInProgress(fmt.Sprintf("Checkout of cart %s is in the hands of %s until %s", co.CartID, co.Owner,
			co.Deadline.UTC().Format(time.RFC3339)), wait+time.Second)
	}
	if co.Attempts >= maxCheckoutAttempts {
		return r.checkoutUnknown(ctx, s, fmt.Sprintf("%d checkout calls of cart %s got no usable answer", co.Attempts, co.CartID))
	}
	pc, err := s.partnerCenter(ctx)
	if err != nil {
		return r.upstreamError(s, "checkout", err)
	}
	observed, err := pc.GetCart(ctx, s.customerID(), co.CartID)
	if err != nil {
		if partnercenter.Classify(err) == partnercenter.ClassNotFound {
			return r.checkoutUnknown(ctx, s, fmt.Sprintf(
				"cart %s is gone upstream (404) after a checkout was started at %s, so the operator cannot tell whether it was bought",
				co.CartID, co.StartedAt.UTC().Format(time.RFC3339)))
		}
		return r.upstreamError(s, "re-read cart "+co.CartID, err)
	}
	if cart.Status.Cart != nil {
		cart.Status.Cart.Status = observed.Status
	}
	if observed.Status == partnercenter.CartStatusOrdered {
		co.CartSeenOrdered = true
	}
	if !co.CartSeenOrdered {
		// The cart is not ordered, so the earlier calls may not have been processed, and this
		// repeat could be the call that buys: it must pass what the first one passed.
		if r.Options.PurchaseFreeze {
			return s.wait(pcv1alpha1.PurchaseFrozenReason, fmt.Sprintf(
				"New checkout calls are frozen (--purchase-freeze), and cart %s is not ordered: the call of this checkout (MS-RequestId %s) is repeated once the manager runs without it",
				co.CartID, co.RequestID))
		}
		if why := repeatBlocked(s, observed); why != "" {
			return r.checkoutUnknown(ctx, s, why)
		}
	}
	if err := r.persistAttempt(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	return r.callCheckout(ctx, s)
}

// repeatAboveLimit reports whether the quote of the upstream cart as observed now is above the
// approval's price limit, or unknown.
func repeatAboveLimit(cart *pcv1alpha1.PartnerCart, observed *partnercenter.Cart) bool {
	now := cart.DeepCopy()
	now.Status.Cart = cartStatus(observed, cart.Status.SpecHash)
	_, known, above := quoteAbove(now, cart.Spec.Approval.MaxTotalPrice)
	return !known || above
}

// repeatBlocked says why the call of a Pending intent whose cart is not ordered must not be
// repeated ("" when it may): whether an earlier call was processed cannot be known, so the
// repeat may be the call that buys, and it would buy past what changed since the intent was
// made. A person then looks, as for any unknown outcome.
func repeatBlocked(s *scope, observed *partnercenter.Cart) string {
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
	case cart.Spec.Approval.MaxTotalPrice != "" && repeatAboveLimit(cart, observed):
		return lead + "its quote upstream is now above spec.approval.maxTotalPrice " + cart.Spec.Approval.MaxTotalPrice + " (or cannot be compared with it)"
	case co.ContentHash != "" && contentHash(s.customerID(), observed.LineItems, &cart.Spec) != co.ContentHash:
		return lead + "its content upstream changed since it was verified (" + linesDiffer(observed.LineItems, &cart.Spec) + "): repeating the call would buy content nobody approved"
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
	s.noStatusWrite = true // this reconcile's view is older than what is written
	return true, nil
}

// callCheckout makes one persisted checkout call and records what its answer means. The call
// and the writes after it run on a context that a shutdown does not cancel (bounded by the
// checkout timeout), so a result that arrives is never dropped.
func (r *PartnerCartReconciler) callCheckout(ctx context.Context, s *scope) (ctrl.Result, error) {
	cart, co := s.cart, s.cart.Status.Checkout
	pc, err := s.partnerCenter(ctx)
	if err != nil {
		return r.upstreamError(s, "checkout", err)
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
	case len(result.OrderErrors) > 0 && r.onlyCall(co):
		// Every order group failed on the only call: Partner Center created nothing.
		cart.Status.OrderErrors = orderErrors(result.OrderErrors)
		return r.refuse(callCtx, s, "Partner Center created no order: "+describeOrderErrors(orderErrors(result.OrderErrors)), false)
	case len(result.OrderErrors) > 0:
		return r.checkoutUnknown(callCtx, s, fmt.Sprintf("a repeated checkout of cart %s was answered with order errors only (%s); an earlier call may have bought",
			co.CartID, describeOrderErrors(orderErrors(result.OrderErrors))))
	}
	return r.checkoutUnknown(callCtx, s, fmt.Sprintf("Partner Center answered the checkout of cart %s with success but neither orders nor order errors", co.CartID))
}

// onlyCall reports whether the call just answered is the only checkout call ever made for this
// intent and the cart was never seen Ordered: only then can a refusal mean nothing was bought.
func (r *PartnerCartReconciler) onlyCall(co *pcv1alpha1.CheckoutStatus) bool {
	return co.Attempts == 1 && !co.CartSeenOrdered
}

// checkoutError decides what a failed checkout call means. Only a definite refusal of the only
// call says nothing was bought; no answer, a 5xx or a 429 may hide a committed purchase, so
// the intent stays Pending and is repeated; anything else unclear goes to a person.
func (r *PartnerCartReconciler) checkoutError(ctx context.Context, s *scope, err error) (ctrl.Result, error) {
	co := s.cart.Status.Checkout
	class := partnercenter.Classify(err)
	switch {
	case class == partnercenter.ClassUndecodable:
		return r.checkoutUnknown(ctx, s, fmt.Sprintf("Partner Center answered the checkout of cart %s with success, but the answer cannot be read (%v)", co.CartID, err))
	case class == partnercenter.ClassTerminal && partnercenter.ErrorCode(err) == partnercenter.CodeCartAlreadySubmitted:
		return r.checkoutUnknown(ctx, s, fmt.Sprintf("Partner Center says cart %s was already submitted (800065) but returned no orders", co.CartID))
	case (class == partnercenter.ClassTerminal || class == partnercenter.ClassNotFound) && r.onlyCall(co):
		return r.refuse(ctx, s, "Partner Center refused the checkout of cart "+co.CartID+": "+err.Error(), class == partnercenter.ClassNotFound)
	case class == partnercenter.ClassTerminal || class == partnercenter.ClassNotFound:
		return r.checkoutUnknown(ctx, s, fmt.Sprintf("a repeated checkout of cart %s was refused (%v), so whether an earlier call bought cannot be told from the answer", co.CartID, err))
	}
	if _, credentials := isCredentialsError(err); credentials || class == partnercenter.ClassThrottled {
		// Refused before Partner Center processed it (no token, 401, 429, or our own tenant
		// gate): this call cannot have bought, so it does not count as a call that might have,
		// and a later definite refusal of the only processed call still means nothing was bought.
		co.Attempts--
	}
	setCondition(s.cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionUnknown, pcv1alpha1.CheckoutInProgressReason,
		fmt.Sprintf("Outcome of the checkout of cart %s not known yet; it will be re-read and repeated with MS-RequestId %s: %v", co.CartID, co.RequestID, err))
	return r.upstreamError(s, "checkout", err)
}

// refuse closes an intent that Partner Center definitely refused on its only call: nothing was
// bought. The intent becomes history, and a later attempt is a new intent through the whole
// gate. A cart that vanished (cartGone) is re-created, at most maxRefusalsPerGeneration times
// and backing off; any other refusal waits for the spec to change.
func (r *PartnerCartReconciler) refuse(ctx context.Context, s *scope, why string, cartGone bool) (ctrl.Result, error) {
	cart := s.cart
	co := cart.Status.Checkout
	now := metav1.NewTime(s.now)
	co.CompletedAt = &now
	co.CartGone = cartGone
	retireRefused(cart, why, cart.Generation)
	s.observe("refused")
	setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionFalse, pcv1alpha1.CheckoutRefusedReason, why+"; nothing was bought")
	if cartGone && cart.Status.Cart != nil {
		// As far as we can know, the cart expired: if re-creating it fails now, the next
		// reconcile re-creates it before anything else.
		cart.Status.Cart.ExpirationTimestamp = &now
	}
	if stop, res, err := r.refusalGate(s); stop || !cartGone {
		return res, err
	}
	r.eventf(cart, corev1.EventTypeWarning, pcv1alpha1.EventCheckoutRefused, "%s; nothing was bought; the cart is re-created", why)
	res, err := r.createCart(ctx, s, co.CartID)
	if err == nil && res.IsZero() && s.stalled == nil {
		res.RequeueAfter = time.Duration(1<<len(cart.Status.CheckoutHistory)) * time.Second
	}
	return res, err
}

// retireRefused closes the current intent as Refused (nothing was bought) and moves it to the
// bounded history: status.checkout is empty again, and a new intent passes the whole gate.
func retireRefused(cart *pcv1alpha1.PartnerCart, why string, generation int64) {
	co := cart.Status.Checkout
	co.Outcome, co.Message, co.Generation = pcv1alpha1.CheckoutRefused, printable.Truncate(why, 2048), generation
	co.Owner, co.Deadline = "", nil
	cart.Status.CheckoutHistory = append(cart.Status.CheckoutHistory, *co)
	if n := len(cart.Status.CheckoutHistory); n > pcv1alpha1.MaxCheckoutHistory {
		cart.Status.CheckoutHistory = cart.Status.CheckoutHistory[n-pcv1alpha1.MaxCheckoutHistory:]
	}
	cart.Status.Checkout = nil
}

// recordResult records the orders of a checkout (from its answer, or from the receipt already
// written for it) and makes sure the receipt exists before the status says so.
func (r *PartnerCartReconciler) recordResult(ctx context.Context, s *scope, result *partnercenter.CartCheckoutResult, fromReceipt *receiptRecord) (ctrl.Result, error) {
	cart := s.cart
	co := cart.Status.Checkout
	now := metav1.NewTime(s.now)
	if fromReceipt != nil {
		cart.Status.Orders, cart.Status.OrderErrors = fromReceipt.Orders, fromReceipt.OrderErrors
	} else {
		cart.Status.Orders = nil
		for _, o := range result.Orders {
			cart.Status.Orders = append(cart.Status.Orders, orderStatus(o))
		}
		cart.Status.OrderErrors = orderErrors(result.OrderErrors)
		co.AdditionalInformation = additionalInformation(result.AdditionalInformation)
	}
	co.CompletedAt = &now
	co.Owner, co.Deadline = "", nil
	co.Generation = cart.Generation
	if co.Outcome != pcv1alpha1.CheckoutResolved {
		co.Outcome = pcv1alpha1.CheckoutSucceeded
		if len(cart.Status.OrderErrors) > 0 {
			co.Outcome = pcv1alpha1.CheckoutPartiallySucceeded
		}
	}
	if cart.Status.Cart != nil {
		cart.Status.Cart.Status = partnercenter.CartStatusOrdered
	}
	if co.SpecHash == cart.Status.SpecHash {
		// (Otherwise CartSynced keeps saying that the spec changed after checkout.)
		setCartFrozen(cart)
	}
	// The receipt is written before the result is patched into status: if we crash in
	// between, recovery finds the receipt and records it without another call.
	if err := r.ensureReceipt(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	// One Event for the purchase, naming the orders and their status; their completion is
	// the Ready condition's to say (see ordersFinished).
	r.eventf(cart, corev1.EventTypeNormal, pcv1alpha1.EventOrdersCreated,
		"Checked out cart %s: orders %s", co.CartID, orderStatuses(cart.Status.Orders))
	switch co.Outcome {
	case pcv1alpha1.CheckoutPartiallySucceeded:
		msg := fmt.Sprintf("Created orders %s; order groups failed: %s", orderIDs(cart.Status.Orders), describeOrderErrors(cart.Status.OrderErrors))
		setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutPartiallyFailedReason, msg)
		r.eventf(cart, corev1.EventTypeWarning, pcv1alpha1.EventCheckoutFailed, "%s", msg)
		s.observe("partially_failed")
	case pcv1alpha1.CheckoutSucceeded:
		setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutSucceededReason,
			"Created orders "+orderIDs(cart.Status.Orders))
		s.observe("succeeded")
	}
	return ctrl.Result{}, nil
}

// checkoutUnknown hands the intent to a person: the operator cannot tell whether the purchase
// happened, and guessing could buy twice or lose a purchase. Before that, it looks at the
// customer's orders created since the intent, so the message can name the candidates.
func (r *PartnerCartReconciler) checkoutUnknown(ctx context.Context, s *scope, why string) (ctrl.Result, error) {
	cart := s.cart
	co := cart.Status.Checkout
	candidates := r.ordersSince(ctx, s, co.StartedAt.Time)
	if candidates != "" {
		why += "; orders of this customer created since the checkout started: " + candidates
	}
	msg := fmt.Sprintf("%s. Check the orders of customer %s created since %s in Partner Center (MS-RequestId %s). "+
		"The operator will not check out again: record what you find with the annotation %s=%s/nothing-bought or %s=%s/orders=<id>[,<id>...]",
		why, s.customerID(), co.StartedAt.UTC().Format(time.RFC3339), co.RequestID,
		pcv1alpha1.CheckoutResolutionAnnotation, co.RequestID, pcv1alpha1.CheckoutResolutionAnnotation, co.RequestID)
	co.Outcome, co.Message, co.Generation = pcv1alpha1.CheckoutUnknown, printable.Truncate(msg, 2048), cart.Generation
	// The deadline stays: it bounds when the last call was made, which a "nothing-bought"
	// resolution is checked against (orders are listed only some minutes after they are made).
	co.Owner = ""
	s.observe("unknown")
	r.eventf(cart, corev1.EventTypeWarning, pcv1alpha1.EventCheckoutUnknown, "%s", msg)
	return r.awaitResolution(ctx, s)
}

// ordersSince lists the IDs of the customer's orders created at or after t that hold one of the
// cart's items, best effort: it is a hint for the person settling an unknown outcome, never a
// decision.
func (r *PartnerCartReconciler) ordersSince(ctx context.Context, s *scope, t time.Time) string {
	ids, err := r.candidateOrders(ctx, s, t)
	if err != nil {
		return ""
	}
	return strings.Join(ids, ", ")
}

// candidateOrders returns the IDs of the customer's orders created at or after t (less a
// minute of clock skew) that hold one of the cart's items.
func (r *PartnerCartReconciler) candidateOrders(ctx context.Context, s *scope, t time.Time) ([]string, error) {
	pc, err := s.partnerCenter(ctx)
	if err != nil {
		return nil, err
	}
	orders, err := pc.ListOrders(ctx, s.customerID())
	if err != nil {
		return nil, err
	}
	items := map[string]bool{}
	forEachLine(wireLineItems(s.cart.Spec.LineItems), func(l partnercenter.CartLineItem) { items[strings.ToLower(l.CatalogItemID)] = true })
	var found []string
	for _, o := range orders {
		created := parseTime(o.CreationDate)
		if created == nil || created.Time.Before(t.Add(-time.Minute)) {
			continue
		}
		if slices.ContainsFunc(o.LineItems, func(l partnercenter.OrderLineItem) bool { return items[strings.ToLower(l.OfferID)] }) {
			found = append(found, o.ID)
		}
	}
	return found, nil
}

// awaitResolution waits for a person: only the checkout-resolution annotation naming this
// intent's request ID moves an Unknown outcome on. Nothing is called upstream meanwhile.
func (r *PartnerCartReconciler) awaitResolution(ctx context.Context, s *scope) (ctrl.Result, error) {
	cart := s.cart
	co := cart.Status.Checkout
	msg := co.Message
	switch value, by, at := r.decision(ctx, cart, pcv1alpha1.CheckoutResolutionAnnotation); {
	case value != "" && !r.admissionInForce():
		msg += ". The annotation " + pcv1alpha1.CheckoutResolutionAnnotation + " is not read while the admission policies are not in force: " + r.admissionState()
	case value != "":
		if res, err, settled := r.resolveCheckout(ctx, s, value, by, at); settled {
			return res, err
		}
	case cart.Annotations[pcv1alpha1.CheckoutResolutionAnnotation] != "":
		msg += ". The annotation " + pcv1alpha1.CheckoutResolutionAnnotation + " has no " + pcv1alpha1.DecidedBySuffix + "/" + pcv1alpha1.DecidedAtSuffix +
			" stamps from while the admission policies were in force (it may have been typed by hand): an approver must set it again"
	}
	setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionUnknown, pcv1alpha1.CheckoutOutcomeUnknownReason, msg)
	s.stalled = &stall{pcv1alpha1.CheckoutOutcomeUnknownReason, printable.Truncate(msg, 4096)}
	return ctrl.Result{}, nil
}

// recreateCart replaces a cart that expired or vanished before checkout; the new cart is
// checked out on a later pass.
func (r *PartnerCartReconciler) recreateCart(ctx context.Context, s *scope, replaced string) (ctrl.Result, error) {
	res, err := r.createCart(ctx, s, replaced)
	if err == nil && res.IsZero() && !s.done && s.stalled == nil {
		res.RequeueAfter = time.Second
	}
	return res, err
}

// stall stops the cart with a reason only a person (or a spec change) can clear.
func (r *PartnerCartReconciler) stall(s *scope, reason, msg string) (ctrl.Result, error) {
	if conditionReason(s.before, pcv1alpha1.StalledCondition) != reason {
		r.eventf(s.cart, corev1.EventTypeWarning, reason, "%s", msg)
	}
	s.stalled = &stall{reason, msg}
	return ctrl.Result{}, nil
}

// additionalInformation keeps the checkout answer's additionalInformation entries as compact
// JSON, at most 16, each cut to 1024 bytes.
func additionalInformation(raw []json.RawMessage) []string {
	var out []string
	for _, r := range raw[:min(len(raw), 16)] {
		var b bytes.Buffer
		if err := json.Compact(&b, r); err != nil {
			continue
		}
		out = append(out, printable.Truncate(b.String(), 1024))
	}
	return out
}

// countFunc counts the elements of xs for which f is true.
func countFunc[T any](xs []T, f func(T) bool) int {
	n := 0
	for _, x := range xs {
		if f(x) {
			n++
		}
	}
	return n
}
