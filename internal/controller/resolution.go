package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	"github.com/partnercart/partnercart-operator/internal/printable"
)

// checkoutUnknown hands the intent to a person: the operator cannot tell whether the purchase
// happened, and guessing could buy twice or lose a purchase. Before that, it looks at the
// customer's orders created since the intent, so the message can name the candidates.
func (r *PartnerCartReconciler) checkoutUnknown(ctx context.Context, s *scope, why string) phaseResult {
	cart := s.cart
	co := cart.Status.Checkout
	candidates := r.ordersSince(ctx, s, co.StartedAt.Time)
	if candidates != "" {
		why += "; orders of this customer created since the checkout started: " + candidates
	}
	msg := fmt.Sprintf("%s. Check the orders of customer %s created since %s in Partner Center (MS-RequestId %s). "+
		"The operator will not check out again: an approver records what you find with `kubectl partnercart resolve %s --nothing-bought` or `--orders <id>[,<id>...]` "+
		"(the annotation %s=%s/nothing-bought or %s=%s/orders=<id>[,<id>...], from Git)",
		why, s.customerID(), co.StartedAt.UTC().Format(time.RFC3339), co.RequestID, cart.Name,
		pcv1alpha1.CheckoutResolutionAnnotation, co.RequestID, pcv1alpha1.CheckoutResolutionAnnotation, co.RequestID)
	co.Outcome, co.Message, co.Generation = pcv1alpha1.CheckoutUnknown, printable.Truncate(msg, 2048), cart.Generation
	// The deadline stays: it bounds when the last call was made, which a "nothing-bought"
	// resolution is checked against (orders are listed only some minutes after they are made).
	co.Owner = ""
	s.countCheckout("unknown")
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
func (r *PartnerCartReconciler) awaitResolution(ctx context.Context, s *scope) phaseResult {
	cart := s.cart
	co := cart.Status.Checkout
	msg := co.Message
	switch value, by, at := r.decision(ctx, cart, pcv1alpha1.CheckoutResolutionAnnotation); {
	case value != "" && !r.admissionInForce():
		msg += ". The annotation " + pcv1alpha1.CheckoutResolutionAnnotation + " is not read while the admission policies are not in force: " + r.admissionState()
	case value != "":
		if res, settled := r.resolveCheckout(ctx, s, value, by, at); settled {
			return res
		}
	case cart.Annotations[pcv1alpha1.CheckoutResolutionAnnotation] != "":
		msg += ". The annotation " + pcv1alpha1.CheckoutResolutionAnnotation + " has no " + pcv1alpha1.DecidedBySuffix + "/" + pcv1alpha1.DecidedAtSuffix +
			" stamps from while the admission policies were in force (it may have been typed by hand): an approver must set it again"
	}
	setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionUnknown, pcv1alpha1.CheckoutOutcomeUnknownReason, msg)
	// Announced by the CheckoutOutcomeUnknown Event when the outcome became Unknown.
	return stall(pcv1alpha1.CheckoutOutcomeUnknownReason, printable.Truncate(msg, 4096)).quiet()
}

// Verdicts of the checkout-resolution annotation, after "<requestId>/".
const (
	resolutionNothingBought = "nothing-bought"
	resolutionOrdersPrefix  = "orders="
	// resolutionNotOursPrefix follows "nothing-bought;": the orders the person looked at and
	// found to be another purchase's.
	resolutionNotOursPrefix = "not-ours="
)

// orderListingDelay: Partner Center lists a new order among the customer's orders only up to
// 15 minutes after it was made ("Get all of a customer's orders").
const orderListingDelay = 15 * time.Minute

// purchaseEvidence says why "nothing-bought" cannot be taken as it stands ("" when it can):
// the cart was seen Ordered for this intent, or the customer has orders holding the cart's
// items made since the intent started that the person did not name as another purchase's
// (notOurs). Until every order of the intent can be listed, it asks to wait (res). A receipt
// with no orders would otherwise let a re-apply buy again while that order is not yet listed.
func (r *PartnerCartReconciler) purchaseEvidence(ctx context.Context, s *scope, notOurs []string) (string, phaseResult) {
	co := s.cart.Status.Checkout
	if co.CartSeenOrdered {
		return fmt.Sprintf("cart %s was seen Ordered in Partner Center for this checkout, so it was bought: record its orders with %s=%s/%s<id>[,<id>...]",
			co.CartID, pcv1alpha1.CheckoutResolutionAnnotation, co.RequestID, resolutionOrdersPrefix), next()
	}
	lastCall := co.StartedAt.Time
	if co.Deadline != nil {
		lastCall = co.Deadline.Time
	}
	if listed := lastCall.Add(orderListingDelay); s.now.Before(listed) {
		return "", retryAfter(pcv1alpha1.CheckoutOutcomeUnknownReason, fmt.Sprintf(
			"Partner Center lists an order only up to %s after it is made: nothing-bought is checked against the customer's orders at %s", orderListingDelay, listed.UTC().Format(time.RFC3339)),
			listed.Sub(s.now)+time.Second)
	}
	candidates, err := r.candidateOrders(ctx, s, co.StartedAt.Time)
	if err != nil {
		return "", upstreamError(s, "list the customer's orders to check nothing-bought", err)
	}
	unnamed := slices.DeleteFunc(slices.Clone(candidates), func(id string) bool { return slices.Contains(notOurs, id) })
	if len(unnamed) == 0 {
		return "", next()
	}
	return fmt.Sprintf("orders %s of customer %s, made since the checkout started, hold the cart's items: record them with %s=%s/%s<id>[,<id>...], "+
		"or, having checked that each is another purchase's, name them with %s=%s/%s;%s%s",
		strings.Join(unnamed, ", "), s.customerID(), pcv1alpha1.CheckoutResolutionAnnotation, co.RequestID, resolutionOrdersPrefix,
		pcv1alpha1.CheckoutResolutionAnnotation, co.RequestID, resolutionNothingBought, resolutionNotOursPrefix, strings.Join(candidates, ",")), next()
}

// resolveCheckout settles an Unknown checkout as a person recorded it in the annotation
// "<requestId>/<verdict>". A value that does not name this intent's request ID is ignored: it
// was written for another checkout, or kept in Git before this one existed, and nobody looked
// at this one. It never calls checkout: "nothing-bought" closes the intent (Abandoned), and
// "orders=..." records orders that exist in Partner Center for this customer (Resolved). The
// person's words are kept in status.checkout.resolution and in the receipt.
func (r *PartnerCartReconciler) resolveCheckout(ctx context.Context, s *scope, value, by, at string) (res phaseResult, settled bool) {
	cart := s.cart
	co := cart.Status.Checkout
	requestID, verdict, ok := strings.Cut(strings.TrimSpace(value), "/")
	if !ok || strings.TrimSpace(requestID) != co.RequestID {
		return next(), false
	}
	verdict = strings.TrimSpace(verdict)
	switch {
	case verdict == resolutionNothingBought || strings.HasPrefix(verdict, resolutionNothingBought+";"):
		notOurs := pcv1alpha1.SplitOrderIDs(strings.TrimPrefix(strings.TrimPrefix(verdict, resolutionNothingBought), ";"+resolutionNotOursPrefix))
		if why, res := r.purchaseEvidence(ctx, s, notOurs); why != "" {
			setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionUnknown, pcv1alpha1.CheckoutOutcomeUnknownReason, co.Message)
			return stall(pcv1alpha1.CheckoutOutcomeUnknownReason, printable.Truncate(co.Message+". The annotation says nothing was bought, but "+why, 4096)).quiet(), true
		} else if res.stops() {
			return res, true
		}
		now := metav1.NewTime(s.now)
		co.Outcome, co.CompletedAt = pcv1alpha1.CheckoutAbandoned, &now
		recordResolution(co, value, by, at)
		msg := fmt.Sprintf("A person recorded that the checkout of cart %s bought nothing (annotation %s); the operator will not check it out again: create a new PartnerCart to buy",
			co.CartID, pcv1alpha1.CheckoutResolutionAnnotation)
		co.Message = msg
		setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionFalse, pcv1alpha1.CheckoutAbandonedReason, msg)
		r.eventf(cart, corev1.EventTypeNormal, pcv1alpha1.EventCheckoutResolved, "%s", msg)
		// The receipt keeps the intent and the person's word after the object is gone.
		return stall(pcv1alpha1.CheckoutAbandonedReason, msg).quiet().withError(r.ensureReceipt(ctx, s)), true
	case strings.HasPrefix(verdict, resolutionOrdersPrefix):
		return r.recordResolvedOrders(ctx, s, strings.TrimPrefix(verdict, resolutionOrdersPrefix), func() { recordResolution(co, value, by, at) }), true
	}
	return stall(pcv1alpha1.CheckoutOutcomeUnknownReason, fmt.Sprintf("%s. Annotation %s=%q is neither %q nor %q",
		co.Message, pcv1alpha1.CheckoutResolutionAnnotation, printable.Truncate(value, 256),
		co.RequestID+"/"+resolutionNothingBought, co.RequestID+"/"+resolutionOrdersPrefix+"<id>[,<id>...]")), true
}

// recordResolution keeps a person's settlement of the checkout: the annotation's value, and
// who set it when, as the API server stamped them.
func recordResolution(co *pcv1alpha1.CheckoutStatus, value, by, at string) {
	co.Resolution, co.ResolvedBy, co.ResolvedAt = printable.Truncate(value, 1024), printable.Truncate(by, 512), printable.Truncate(at, 64)
}

// recordResolvedOrders reads each order the person named and records them as the purchase;
// record keeps the person's word once the orders are read.
func (r *PartnerCartReconciler) recordResolvedOrders(ctx context.Context, s *scope, list string, record func()) phaseResult {
	cart := s.cart
	co := cart.Status.Checkout
	ids := pcv1alpha1.SplitOrderIDs(list)
	if len(ids) == 0 {
		return stall(pcv1alpha1.CheckoutOutcomeUnknownReason, co.Message+". The annotation names no order")
	}
	pc, res := r.upstream(ctx, s, "read the orders named by "+pcv1alpha1.CheckoutResolutionAnnotation)
	if res.stops() {
		return res
	}
	result := &partnercenter.CartCheckoutResult{}
	for _, id := range ids {
		o, err := pc.GetOrder(ctx, s.customerID(), id)
		if err != nil {
			if partnercenter.Classify(err) == partnercenter.ClassNotFound {
				return stall(pcv1alpha1.CheckoutOutcomeUnknownReason, fmt.Sprintf("%s. Order %s named by annotation %s does not exist for customer %s",
					co.Message, id, pcv1alpha1.CheckoutResolutionAnnotation, s.customerID()))
			}
			return upstreamError(s, "get order "+id, err)
		}
		result.Orders = append(result.Orders, *o)
	}
	co.Outcome = pcv1alpha1.CheckoutResolved
	record()
	r.eventf(cart, corev1.EventTypeNormal, pcv1alpha1.EventCheckoutResolved,
		"A person recorded orders %s as the outcome of the checkout of cart %s", strings.Join(ids, ", "), co.CartID)
	return r.recordResult(ctx, s, result, nil)
}
