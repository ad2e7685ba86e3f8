package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	"github.com/partnercart/partnercart-operator/internal/printable"
)

// The cancellation of a bought cart, with the purchase's discipline:
//
//	spec.cancellation.requested --window read, shown--> waiting for an approver
//	approved (stamped under the policies) --targets persisted--> status.cancellation
//	per subscription, one at a time:
//	  Pending --read: active, inside the window; attempt persisted--> PATCH status "deleted"
//	  Pending --read: deleted--> Cancelled (a call of ours, or a person's in the portal)
//	  Pending --read: window closed, or another cart's--> Refused (no call)
//	  Pending --PATCH answered deleted--> Cancelled
//	  Pending --PATCH refused (a code)--> Refused
//	  Pending --PATCH unanswered--> Pending (read again before any repeat, same MS-RequestId)
//	  Pending --maxCancelAttempts calls unanswered--> Unknown (read, never called again)
//	every outcome final --> completedAt, receipt, phase Cancelled or PartiallyCancelled
//
// Only subscriptions of this cart's own orders are named, each call is persisted before it is
// made, and a subscription is never cancelled by a second call while a read does not show the
// first one failed.

// maxCancelAttempts bounds the cancellation calls of one subscription whose answers were lost.
const maxCancelAttempts = 3

// cancelRetryInterval is the wait before reading again a subscription whose cancellation
// answer was lost, or whose outcome is Unknown.
const cancelRetryInterval = 30 * time.Second

// ptrTime is t, in UTC and to the second as the API server stores it.
func ptrTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t.UTC().Truncate(time.Second))
	return &mt
}

// cancellationResult marks a phase result as the cancellation's: summarize derives the phase
// from status.cancellation then, not from the checkout.
func cancellationResult(res phaseResult) phaseResult { res.cancellation = true; return res }

// reconcileCancellation carries out spec.cancellation on a bought cart.
func (r *PartnerCartReconciler) reconcileCancellation(ctx context.Context, s *scope) phaseResult {
	cart := s.cart
	req, st := cart.Spec.Cancellation, cart.Status.Cancellation
	co := cart.Status.Checkout
	if st == nil && (req == nil || !req.Requested) {
		meta.RemoveStatusCondition(&cart.Status.Conditions, pcv1alpha1.CancelledCondition)
		return next()
	}
	if co == nil || !co.Outcome.Final() || co.CompletedAt == nil {
		return next() // the checkout phase owns the cart until its outcome is recorded
	}
	if st != nil {
		return r.carryOutCancellation(ctx, s)
	}
	targets, msg := cancellationTargets(cart)
	if msg != "" {
		setCondition(cart, pcv1alpha1.CancelledCondition, metav1.ConditionFalse, pcv1alpha1.CancellationInvalidReason, msg)
		return cancellationResult(waitForPerson(pcv1alpha1.CancellationInvalidReason, msg, pcv1alpha1.EventCancellationRequested))
	}
	if targets == nil {
		msg := "The cancellation waits for Partner Center to name the subscriptions of orders " + orderIDs(cart.Status.Orders)
		setCondition(cart, pcv1alpha1.CancelledCondition, metav1.ConditionFalse, pcv1alpha1.CancellationWaitingForSubscriptionsReason, msg)
		return next() // the orders phase polls them
	}
	if res := r.readCancellationWindow(ctx, s, targets); res.stops() {
		return cancellationResult(res)
	}
	if reason, msg := r.cancellationDecision(ctx, s, targets); reason != "" {
		setCondition(cart, pcv1alpha1.CancelledCondition, metav1.ConditionFalse, reason, msg)
		res := waitForPerson(reason, msg, pcv1alpha1.EventCancellationRequested)
		if reason == pcv1alpha1.AdmissionPoliciesNotInForceReason {
			res.after = 30 * time.Second
		}
		return cancellationResult(res)
	}
	cart.Status.Cancellation = &pcv1alpha1.CancellationStatus{
		RequestedBy: req.RequestedBy, RequestedAt: req.RequestedAt, ApprovedBy: req.ApprovedBy, ApprovedAt: req.ApprovedAt,
		Reason: printable.Truncate(req.Reason, 1024), StartedAt: metav1.NewTime(s.now), Subscriptions: targets,
	}
	return r.carryOutCancellation(ctx, s)
}

// cancellationTargets are the subscriptions the request names, from this cart's own orders
// (nil while an order has not named a line's subscription yet), or why the request cannot be
// carried out.
func cancellationTargets(cart *pcv1alpha1.PartnerCart) ([]pcv1alpha1.SubscriptionCancellation, string) {
	lines := specLines(cart)
	want := map[int32]bool{}
	for _, id := range cart.Spec.Cancellation.LineItems {
		if _, ok := lines[id]; !ok {
			return nil, fmt.Sprintf("spec.cancellation.lineItems names line item %d, which spec.lineItems does not have", id)
		}
		want[id] = true
	}
	if len(cart.Status.Orders) == 0 {
		return nil, "The cart bought nothing to cancel"
	}
	// Each order line is matched to the spec line it was bought for by what it is (offer,
	// quantity, term, name): Partner Center does not echo the cart's line IDs in orders.
	used := map[int32]bool{}
	var out []pcv1alpha1.SubscriptionCancellation
	waiting := false
	for _, o := range cart.Status.Orders {
		for _, ol := range o.LineItems {
			id, found := matchSpecLine(lines, used, o.BillingCycle, ol)
			if found {
				used[id] = true
			}
			if len(want) > 0 && (!found || !want[id]) {
				continue
			}
			if ol.SubscriptionID == "" {
				waiting = true
				continue
			}
			t := pcv1alpha1.SubscriptionCancellation{SubscriptionID: ol.SubscriptionID, OrderID: o.ID, OfferID: ol.OfferID, Outcome: pcv1alpha1.CancellationPending}
			if found {
				t.LineItemID = &id
			}
			out = append(out, t)
		}
	}
	for id := range want {
		if !used[id] {
			return nil, fmt.Sprintf("spec.cancellation.lineItems names line item %d, which none of the cart's orders bought", id)
		}
	}
	if waiting {
		return nil, ""
	}
	if len(out) == 0 {
		return nil, "None of the cart's orders created a subscription to cancel"
	}
	return out, ""
}

// specLines are the spec's line items and add-ons by id.
func specLines(cart *pcv1alpha1.PartnerCart) map[int32]pcv1alpha1.LineItemFields {
	lines := map[int32]pcv1alpha1.LineItemFields{}
	for _, l := range cart.Spec.LineItems {
		lines[l.ID] = l.LineItemFields
		for _, a := range l.AddonItems {
			lines[a.ID] = a.LineItemFields
		}
	}
	return lines
}

// matchSpecLine finds the spec line (not yet matched) an order line was bought for.
func matchSpecLine(lines map[int32]pcv1alpha1.LineItemFields, used map[int32]bool, cycle string, ol pcv1alpha1.OrderLineItemStatus) (int32, bool) {
	ids := make([]int32, 0, len(lines))
	for id := range lines {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	key := orderLineKey(cycle, ol.OfferID, int(ol.Quantity), ol.TermDuration, "", false)
	for _, id := range ids {
		l := lines[id]
		if !used[id] && orderLineKey(string(l.BillingCycle), l.CatalogItemID, int(l.Quantity), l.TermDuration, "", false) == key {
			return id, true
		}
	}
	return 0, false
}

// readCancellationWindow reads the requested subscriptions once, so that the window is shown
// before anyone approves (status.cancellableUntil and the condition's message).
func (r *PartnerCartReconciler) readCancellationWindow(ctx context.Context, s *scope, targets []pcv1alpha1.SubscriptionCancellation) phaseResult {
	cart := s.cart
	if cart.Status.CancellableUntil != nil {
		return next()
	}
	pc, res := r.upstream(ctx, s, "read the subscriptions to cancel")
	if res.stops() {
		return res
	}
	var earliest time.Time
	for _, t := range targets {
		sub, err := pc.GetSubscription(ctx, s.customerID(), t.SubscriptionID)
		if err != nil {
			return upstreamError(s, "read subscription "+t.SubscriptionID, err)
		}
		if until, ok := sub.CancellableUntil(); ok && (earliest.IsZero() || until.Before(earliest)) {
			earliest = until
		}
	}
	if !earliest.IsZero() {
		cart.Status.CancellableUntil = ptrTime(earliest)
	}
	return next()
}

// cancellationDecision says why the request does not count yet ("" when it is approved and
// stamped by the API server while the admission policies were in force).
func (r *PartnerCartReconciler) cancellationDecision(ctx context.Context, s *scope, targets []pcv1alpha1.SubscriptionCancellation) (reason, msg string) {
	cart, req := s.cart, s.cart.Spec.Cancellation
	what := fmt.Sprintf("Cancellation of %s requested by %s", describeTargets(targets), printable.Truncate(orUnknown(req.RequestedBy), 256))
	window := windowMessage(cart.Status.CancellableUntil, s.now)
	if !req.Approved {
		return pcv1alpha1.CancellationAwaitingApprovalReason, what + "; " + window +
			"; an approver must approve it: kubectl partnercart approve --cancellation " + cart.Name
	}
	if !r.admissionInForce() {
		return pcv1alpha1.AdmissionPoliciesNotInForceReason, policiesNotInForce(r.admissionState())
	}
	if req.ApprovedBy == "" || req.ApprovedAt == "" || !r.trustedStamp(ctx, cart, "spec.cancellation.approved", req.ApprovedBy, req.ApprovedAt) {
		return pcv1alpha1.CancellationNotStampedReason, what + "; spec.cancellation.approved carries no stamp the API server set while the admission policies were in force: " +
			"an approver must approve it again (kubectl partnercart approve --cancellation " + cart.Name + "); " + window
	}
	return "", ""
}

// windowMessage says until when a cancellation is possible.
func windowMessage(until *metav1.Time, now time.Time) string {
	switch {
	case until == nil:
		return "Partner Center names no cancellation window for these subscriptions (it decides when asked)"
	case !until.After(now):
		return "the cancellation window closed at " + until.UTC().Format(time.RFC3339) + ": Partner Center will refuse"
	}
	return fmt.Sprintf("cancellable until %s (in %s)", until.UTC().Format(time.RFC3339), until.Sub(now).Truncate(time.Minute))
}

func describeTargets(targets []pcv1alpha1.SubscriptionCancellation) string {
	ids := make([]string, 0, len(targets))
	for _, t := range targets {
		ids = append(ids, t.SubscriptionID)
	}
	if len(ids) == 1 {
		return "subscription " + ids[0]
	}
	return "subscriptions " + strings.Join(ids, ", ")
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

// carryOutCancellation takes the next subscription whose outcome is not final one step
// further; one call per reconcile, each persisted before it is made.
func (r *PartnerCartReconciler) carryOutCancellation(ctx context.Context, s *scope) phaseResult {
	cart, st := s.cart, s.cart.Status.Cancellation
	if st.CompletedAt != nil {
		return cancellationDone(s)
	}
	i := slices.IndexFunc(st.Subscriptions, func(t pcv1alpha1.SubscriptionCancellation) bool { return !t.Outcome.Final() })
	if i < 0 {
		return r.completeCancellation(ctx, s)
	}
	if st.Owner != "" && st.Owner != r.Options.Identity && st.Deadline != nil && s.now.Before(st.Deadline.Time) {
		return cancellationResult(retryAfter(pcv1alpha1.CancellationInProgressReason,
			"Manager "+st.Owner+" is cancelling; waiting for it until "+st.Deadline.UTC().Format(time.RFC3339), st.Deadline.Sub(s.now)+time.Second))
	}
	t := &st.Subscriptions[i]
	pc, res := r.upstream(ctx, s, "cancel subscription "+t.SubscriptionID)
	if res.stops() {
		return cancellationResult(res)
	}
	// Read first, always: before the first call (window, owner, state) and before any repeat
	// (a lost answer may have cancelled it).
	sub, err := pc.GetSubscription(ctx, s.customerID(), t.SubscriptionID)
	if err != nil {
		if partnercenter.Classify(err) == partnercenter.ClassNotFound && t.Attempts == 0 {
			r.settle(s, t, pcv1alpha1.CancellationRefused, "", "Partner Center has no subscription "+t.SubscriptionID+" for customer "+s.customerID())
			return cancellationProgress(s)
		}
		return cancellationResult(upstreamError(s, "read subscription "+t.SubscriptionID, err))
	}
	if res, settled := r.settleFromRead(s, t, sub); settled {
		return res
	}
	// Persist the attempt: who calls, until when, with which request ID.
	t.RequestID = requestID(cart.UID, "cancel", t.SubscriptionID)
	t.Attempts++
	t.Outcome = pcv1alpha1.CancellationPending
	st.Owner = r.Options.Identity
	st.Deadline = ptrTime(r.Clock.Now().Add(r.Options.CheckoutTimeout).Truncate(time.Second))
	msg := fmt.Sprintf("Cancelling subscription %s (MS-RequestId %s, attempt %d)", t.SubscriptionID, t.RequestID, t.Attempts)
	setCondition(cart, pcv1alpha1.CancelledCondition, metav1.ConditionFalse, pcv1alpha1.CancellationInProgressReason, msg)
	summarize(cart, cancellationResult(retryAfter(pcv1alpha1.CancellationInProgressReason, msg, 0)))
	if err := r.Client.Status().Patch(ctx, cart, optimisticMergeFrom(s.stored)); err != nil {
		return phaseResult{kind: kindRetry, err: fmt.Errorf("persist cancellation attempt (no call was made): %w", err), noStatusWrite: true}
	}
	s.stored = cart.DeepCopy()
	// The write decoded the stored object into cart: take the entry from there.
	st, t = cart.Status.Cancellation, &cart.Status.Cancellation.Subscriptions[i]
	callCtx, cancelCall := r.detachedFor(ctx, st.Deadline.Sub(r.Clock.Now()))
	answer, err := pc.CancelSubscription(callCtx, s.customerID(), sub, t.RequestID)
	cancelCall()
	switch {
	case err == nil && answer.IsCancelled():
		r.settle(s, t, pcv1alpha1.CancellationCancelled, "", "Cancelled by this cart's request "+t.RequestID)
		t.Refund = refundFor(cart, t, sub.RefundAt(s.now))
	case err == nil:
		t.Message = fmt.Sprintf("Partner Center answered the cancellation with status %q; reading it again", answer.Status)
		return cancellationResult(retryAfter(pcv1alpha1.CancellationInProgressReason, t.Message, r.jitter(cancelRetryInterval)))
	case partnercenter.Classify(err) == partnercenter.ClassTerminal || partnercenter.Classify(err) == partnercenter.ClassNotFound:
		msg := "Partner Center refused to cancel subscription " + t.SubscriptionID + ": " + err.Error()
		if partnercenter.IsCancellationWindowPassed(err) {
			msg = "The cancellation window of subscription " + t.SubscriptionID + " has closed: " + err.Error()
		}
		r.settle(s, t, pcv1alpha1.CancellationRefused, partnercenter.ErrorCode(err), msg)
	default:
		// No answer we can trust: the subscription is read before anything else is sent.
		t.Message = "The answer to " + t.RequestID + " was lost (" + err.Error() + "); reading the subscription before anything else"
		res := upstreamError(s, "cancel subscription "+t.SubscriptionID, err)
		return cancellationResult(retryAfter(res.reason, t.Message, max(res.after, r.jitter(cancelRetryInterval))))
	}
	return cancellationProgress(s)
}

// settleFromRead decides what the subscription as just read says, before any call: already
// cancelled (by this cart's earlier call, or by a person), another order's, the window closed,
// or too many unanswered calls. settled is false when a call may be made.
func (r *PartnerCartReconciler) settleFromRead(s *scope, t *pcv1alpha1.SubscriptionCancellation, sub *partnercenter.Subscription) (res phaseResult, settled bool) {
	if until, ok := sub.CancellableUntil(); ok {
		t.CancellableUntil = ptrTime(until)
	}
	switch {
	case sub.IsCancelled():
		msg := "Cancelled by this cart's request " + t.RequestID
		if t.Attempts == 0 {
			msg = "Already cancelled in Partner Center before this cart asked (not by the operator)"
		}
		r.settle(s, t, pcv1alpha1.CancellationCancelled, "", msg)
		return cancellationProgress(s), true
	case sub.OrderID != "" && sub.OrderID != t.OrderID:
		r.settle(s, t, pcv1alpha1.CancellationRefused, "", fmt.Sprintf("Subscription %s belongs to order %s, not to this cart's order %s: not cancelled", t.SubscriptionID, sub.OrderID, t.OrderID))
		return cancellationProgress(s), true
	case t.CancellableUntil != nil && !s.now.Before(t.CancellableUntil.Time):
		msg := "The cancellation window closed at " + t.CancellableUntil.UTC().Format(time.RFC3339) + ": not cancelled, no call made"
		if t.Attempts > 0 {
			msg = fmt.Sprintf("The cancellation window closed at %s and the subscription still reads %q after %d calls: not cancelled",
				t.CancellableUntil.UTC().Format(time.RFC3339), sub.Status, t.Attempts)
		}
		r.settle(s, t, pcv1alpha1.CancellationRefused, "", msg)
		return cancellationProgress(s), true
	case t.Attempts >= maxCancelAttempts:
		t.Outcome = pcv1alpha1.CancellationUnknown
		t.Message = fmt.Sprintf("%d cancellation calls went unanswered and the subscription still reads %q; it is read again, never cancelled again: "+
			"check it in Partner Center", t.Attempts, sub.Status)
		return cancellationResult(waitForUpstream(pcv1alpha1.CancellationOutcomeUnknownReason, t.Message, r.jitter(10*cancelRetryInterval))), true
	}
	return next(), false
}

// settle records a subscription's final outcome.
func (r *PartnerCartReconciler) settle(s *scope, t *pcv1alpha1.SubscriptionCancellation, outcome pcv1alpha1.CancellationOutcome, code, msg string) {
	t.Outcome, t.Code, t.Message = outcome, code, printable.Truncate(msg, 1024)
	if outcome == pcv1alpha1.CancellationCancelled {
		t.CancelledAt = ptrTime(s.now)
		r.eventf(s.cart, corev1.EventTypeNormal, pcv1alpha1.EventSubscriptionCancelled, "Subscription %s of order %s: %s", t.SubscriptionID, t.OrderID, t.Message)
		return
	}
	r.eventf(s.cart, corev1.EventTypeWarning, pcv1alpha1.EventCancellationRefused, "Subscription %s of order %s: %s", t.SubscriptionID, t.OrderID, t.Message)
}

// cancellationProgress comes back at once for the next subscription (its status written).
func cancellationProgress(s *scope) phaseResult {
	st := s.cart.Status.Cancellation
	done := 0
	for _, t := range st.Subscriptions {
		if t.Outcome.Final() {
			done++
		}
	}
	msg := fmt.Sprintf("Cancelled or settled %d of %d subscriptions", done, len(st.Subscriptions))
	setCondition(s.cart, pcv1alpha1.CancelledCondition, metav1.ConditionFalse, pcv1alpha1.CancellationInProgressReason, msg)
	return cancellationResult(retryAfter(pcv1alpha1.CancellationInProgressReason, msg, time.Millisecond))
}

// completeCancellation records the end: completedAt, the receipt, the metrics.
func (r *PartnerCartReconciler) completeCancellation(ctx context.Context, s *scope) phaseResult {
	st := s.cart.Status.Cancellation
	st.CompletedAt = ptrTime(s.now)
	st.Owner, st.Deadline = "", nil
	if err := r.ensureCancellationReceipt(ctx, s); err != nil {
		st.CompletedAt = nil
		return cancellationResult(retryOn(err))
	}
	s.cancellationCompleted = true
	res := cancellationDone(s)
	eventType := corev1.EventTypeNormal
	if res.reason != pcv1alpha1.CancelledReason {
		eventType = corev1.EventTypeWarning
	}
	r.eventf(s.cart, eventType, pcv1alpha1.EventCancellationCompleted, "%s", res.message)
	return res
}

// cancellationDone is the result of a completed cancellation.
func cancellationDone(s *scope) phaseResult {
	st := s.cart.Status.Cancellation
	var cancelled, refused []string
	for _, t := range st.Subscriptions {
		if t.Outcome == pcv1alpha1.CancellationCancelled {
			cancelled = append(cancelled, t.SubscriptionID)
		} else {
			refused = append(refused, t.SubscriptionID+" ("+t.Message+")")
		}
	}
	reason, status := pcv1alpha1.CancelledReason, metav1.ConditionTrue
	msg := "Cancelled subscriptions " + strings.Join(cancelled, ", ")
	switch {
	case len(cancelled) == 0:
		reason, status, msg = pcv1alpha1.CancellationRefusedReason, metav1.ConditionFalse, "Nothing was cancelled: "+strings.Join(refused, "; ")
	case len(refused) > 0:
		reason, status = pcv1alpha1.CancellationPartiallyRefusedReason, metav1.ConditionFalse
		msg += "; not cancelled: " + strings.Join(refused, "; ")
	}
	msg = printable.Truncate(msg, 2048)
	if st.ReceiptName != "" {
		msg += " (receipt " + st.ReceiptName + ")"
	}
	setCondition(s.cart, pcv1alpha1.CancelledCondition, status, reason, msg)
	res := phaseResult{kind: kindWaitPerson, reason: reason, message: msg}
	if reason != pcv1alpha1.CancelledReason {
		res.kind = kindStall
	}
	return cancellationResult(res)
}

// refundFor is the refund of a cancelled subscription: the option in force when it was
// cancelled, with the amount where the order tells it (a Full refund of the line's price).
func refundFor(cart *pcv1alpha1.PartnerCart, t *pcv1alpha1.SubscriptionCancellation, option string) *pcv1alpha1.Refund {
	if option == "" {
		return nil
	}
	refund := &pcv1alpha1.Refund{Type: option}
	if option != partnercenter.RefundFull {
		return refund
	}
	for _, o := range cart.Status.Orders {
		if o.ID != t.OrderID {
			continue
		}
		for _, ol := range o.LineItems {
			if ol.SubscriptionID != t.SubscriptionID || ol.Price == "" {
				continue
			}
			price, ok := new(big.Rat).SetString(ol.Price)
			if !ok {
				return refund
			}
			refund.Amount = formatDecimal(price.Mul(price, big.NewRat(int64(max(ol.Quantity, 1)), 1)))
			refund.Currency = o.CurrencyCode
		}
	}
	return refund
}

// cancellationPhase is the phase of a cart with a cancellation: Completed while it waits for
// an approver (the purchase stands), Cancelling while it is carried out, then Cancelled,
// PartiallyCancelled, or Completed again when nothing was cancelled.
func cancellationPhase(st *pcv1alpha1.PartnerCartStatus) pcv1alpha1.Phase {
	c := st.Cancellation
	switch {
	case c == nil:
		return pcv1alpha1.PhaseCompleted
	case c.CompletedAt == nil:
		return pcv1alpha1.PhaseCancelling
	}
	cancelled := slices.ContainsFunc(c.Subscriptions, func(t pcv1alpha1.SubscriptionCancellation) bool {
		return t.Outcome == pcv1alpha1.CancellationCancelled
	})
	all := !slices.ContainsFunc(c.Subscriptions, func(t pcv1alpha1.SubscriptionCancellation) bool {
		return t.Outcome != pcv1alpha1.CancellationCancelled
	})
	switch {
	case all:
		return pcv1alpha1.PhaseCancelled
	case cancelled:
		return pcv1alpha1.PhasePartiallyCancelled
	}
	return pcv1alpha1.PhaseCompleted
}

// cancellationRecord is the cancellation receipt's receipt.json.
type cancellationRecord struct {
	Namespace       string                                `json:"namespace"`
	PartnerCart     string                                `json:"partnerCart"`
	PartnerCartUID  string                                `json:"partnerCartUID"`
	CustomerID      string                                `json:"customerId"`
	Account         string                                `json:"account,omitempty"`
	PurchaseReceipt string                                `json:"purchaseReceipt,omitempty"`
	RequestedBy     string                                `json:"requestedBy"`
	RequestedAt     string                                `json:"requestedAt,omitempty"`
	ApprovedBy      string                                `json:"approvedBy"`
	ApprovedAt      string                                `json:"approvedAt,omitempty"`
	Reason          string                                `json:"reason,omitempty"`
	StartedAt       string                                `json:"startedAt"`
	CompletedAt     string                                `json:"completedAt"`
	Subscriptions   []pcv1alpha1.SubscriptionCancellation `json:"subscriptions"`
}

// ensureCancellationReceipt records the completed cancellation in an immutable ConfigMap
// owned by nobody, beside the purchase's receipt: who asked, who approved, when, and each
// subscription's outcome with Partner Center's answer and the refund. Written once; one that
// exists for this cart is kept.
func (r *PartnerCartReconciler) ensureCancellationReceipt(ctx context.Context, s *scope) error {
	cart, st := s.cart, s.cart.Status.Cancellation
	name := pcv1alpha1.CancellationReceiptName(cart.Namespace, cart.Name, string(cart.UID))
	rec := cancellationRecord{
		Namespace: cart.Namespace, PartnerCart: cart.Name, PartnerCartUID: string(cart.UID), CustomerID: s.customerID(),
		Account: cart.Status.Checkout.Account, PurchaseReceipt: cart.Status.ReceiptName,
		RequestedBy: st.RequestedBy, RequestedAt: st.RequestedAt, ApprovedBy: st.ApprovedBy, ApprovedAt: st.ApprovedAt, Reason: st.Reason,
		StartedAt: st.StartedAt.UTC().Format(time.RFC3339), CompletedAt: st.CompletedAt.UTC().Format(time.RFC3339), Subscriptions: st.Subscriptions,
	}
	body, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("encode cancellation receipt: %w", err)
	}
	var cancelled, refused []string
	for _, t := range st.Subscriptions {
		if t.Outcome == pcv1alpha1.CancellationCancelled {
			cancelled = append(cancelled, t.SubscriptionID)
		} else {
			refused = append(refused, t.SubscriptionID)
		}
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: r.Options.ReceiptNamespace,
			Name:      name,
			Labels: map[string]string{
				pcv1alpha1.CancellationReceiptLabel: "true", pcv1alpha1.ReceiptCartNamespaceLabel: cart.Namespace,
				pcv1alpha1.ReceiptCartLabel: cartLabelValue(cart.Name), pcv1alpha1.ReceiptCartUIDLabel: string(cart.UID),
			},
		},
		Immutable: ptr.To(true),
		Data: map[string]string{
			"customerId":               rec.CustomerID,
			"purchaseReceipt":          cart.Status.ReceiptName,
			"cancelledSubscriptionIds": strings.Join(cancelled, ","),
			"refusedSubscriptionIds":   strings.Join(refused, ","),
			"requestedBy":              st.RequestedBy,
			"approvedBy":               st.ApprovedBy,
			"receipt.json":             string(body),
		},
	}
	if err := r.Client.Create(ctx, cm); err != nil {
		if !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create cancellation receipt %s: %w", name, err)
		}
		existing := &corev1.ConfigMap{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(cm), existing); err != nil {
			return fmt.Errorf("read existing cancellation receipt %s: %w", name, err)
		}
		if existing.Labels[pcv1alpha1.ReceiptCartUIDLabel] != string(cart.UID) || existing.Labels[pcv1alpha1.CancellationReceiptLabel] != "true" {
			return fmt.Errorf("cancellation receipt %s exists but is not this cart's; refusing to overwrite it", name)
		}
	}
	st.ReceiptName = name
	return nil
}
