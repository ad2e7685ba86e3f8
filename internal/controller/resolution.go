package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	"github.com/partnercart/partnercart-operator/internal/printable"
)

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
func (r *PartnerCartReconciler) purchaseEvidence(ctx context.Context, s *scope, notOurs []string) (string, ctrl.Result, error) {
	co := s.cart.Status.Checkout
	if co.CartSeenOrdered {
		return fmt.Sprintf("cart %s was seen Ordered in Partner Center for this checkout, so it was bought: record its orders with %s=%s/%s<id>[,<id>...]",
			co.CartID, pcv1alpha1.CheckoutResolutionAnnotation, co.RequestID, resolutionOrdersPrefix), ctrl.Result{}, nil
	}
	lastCall := co.StartedAt.Time
	if co.Deadline != nil {
		lastCall = co.Deadline.Time
	}
	if listed := lastCall.Add(orderListingDelay); s.now.Before(listed) {
		s.waitReason, s.waitMessage = pcv1alpha1.CheckoutOutcomeUnknownReason, fmt.Sprintf(
			"Partner Center lists an order only up to %s after it is made: nothing-bought is checked against the customer's orders at %s", orderListingDelay, listed.UTC().Format(time.RFC3339))
		return "", ctrl.Result{RequeueAfter: listed.Sub(s.now) + time.Second}, nil
	}
	candidates, err := r.candidateOrders(ctx, s, co.StartedAt.Time)
	if err != nil {
		res, err := r.upstreamError(s, "list the customer's orders to check nothing-bought", err)
		return "", res, err
	}
	unnamed := slices.DeleteFunc(slices.Clone(candidates), func(id string) bool { return slices.Contains(notOurs, id) })
	if len(unnamed) == 0 {
		return "", ctrl.Result{}, nil
	}
	return fmt.Sprintf("orders %s of customer %s, made since the checkout started, hold the cart's items: record them with %s=%s/%s<id>[,<id>...], "+
		"or, having checked that each is another purchase's, name them with %s=%s/%s;%s%s",
		strings.Join(unnamed, ", "), s.customerID(), pcv1alpha1.CheckoutResolutionAnnotation, co.RequestID, resolutionOrdersPrefix,
		pcv1alpha1.CheckoutResolutionAnnotation, co.RequestID, resolutionNothingBought, resolutionNotOursPrefix, strings.Join(candidates, ",")), ctrl.Result{}, nil
}

// resolveCheckout settles an Unknown checkout as a person recorded it in the annotation
// "<requestId>/<verdict>". A value that does not name this intent's request ID is ignored: it
// was written for another checkout, or kept in Git before this one existed, and nobody looked
// at this one. It never calls checkout: "nothing-bought" closes the intent (Abandoned), and
// "orders=..." records orders that exist in Partner Center for this customer (Resolved). The
// person's words are kept in status.checkout.resolution and in the receipt.
func (r *PartnerCartReconciler) resolveCheckout(ctx context.Context, s *scope, value, by, at string) (ctrl.Result, error, bool) {
	cart := s.cart
	co := cart.Status.Checkout
	requestID, verdict, ok := strings.Cut(strings.TrimSpace(value), "/")
	if !ok || strings.TrimSpace(requestID) != co.RequestID {
		return ctrl.Result{}, nil, false
	}
	verdict = strings.TrimSpace(verdict)
	switch {
	case verdict == resolutionNothingBought || strings.HasPrefix(verdict, resolutionNothingBought+";"):
		notOurs := pcv1alpha1.SplitOrderIDs(strings.TrimPrefix(strings.TrimPrefix(verdict, resolutionNothingBought), ";"+resolutionNotOursPrefix))
		if why, res, err := r.purchaseEvidence(ctx, s, notOurs); why != "" || err != nil || !res.IsZero() {
			if why != "" {
				setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionUnknown, pcv1alpha1.CheckoutOutcomeUnknownReason, co.Message)
				s.stalled = &stall{pcv1alpha1.CheckoutOutcomeUnknownReason, printable.Truncate(co.Message+". The annotation says nothing was bought, but "+why, 4096)}
			}
			return res, err, true
		}
		now := metav1.NewTime(s.now)
		co.Outcome, co.CompletedAt = pcv1alpha1.CheckoutAbandoned, &now
		recordResolution(co, value, by, at)
		msg := fmt.Sprintf("A person recorded that the checkout of cart %s bought nothing (annotation %s); the operator will not check it out again: create a new PartnerCart to buy",
			co.CartID, pcv1alpha1.CheckoutResolutionAnnotation)
		co.Message = msg
		setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionFalse, pcv1alpha1.CheckoutAbandonedReason, msg)
		r.eventf(cart, corev1.EventTypeNormal, pcv1alpha1.EventCheckoutResolved, "%s", msg)
		s.stalled = &stall{pcv1alpha1.CheckoutAbandonedReason, msg}
		// The receipt keeps the intent and the person's word after the object is gone.
		return ctrl.Result{}, r.ensureReceipt(ctx, s), true
	case strings.HasPrefix(verdict, resolutionOrdersPrefix):
		res, err := r.recordResolvedOrders(ctx, s, strings.TrimPrefix(verdict, resolutionOrdersPrefix), func() { recordResolution(co, value, by, at) })
		return res, err, true
	}
	res, err := r.stall(s, pcv1alpha1.CheckoutOutcomeUnknownReason, fmt.Sprintf("%s. Annotation %s=%q is neither %q nor %q",
		co.Message, pcv1alpha1.CheckoutResolutionAnnotation, printable.Truncate(value, 256),
		co.RequestID+"/"+resolutionNothingBought, co.RequestID+"/"+resolutionOrdersPrefix+"<id>[,<id>...]"))
	return res, err, true
}

// recordResolution keeps a person's settlement of the checkout: the annotation's value, and
// who set it when, as the API server stamped them.
func recordResolution(co *pcv1alpha1.CheckoutStatus, value, by, at string) {
	co.Resolution, co.ResolvedBy, co.ResolvedAt = printable.Truncate(value, 1024), printable.Truncate(by, 512), printable.Truncate(at, 64)
}

// recordResolvedOrders reads each order the person named and records them as the purchase;
// record keeps the person's word once the orders are read.
func (r *PartnerCartReconciler) recordResolvedOrders(ctx context.Context, s *scope, list string, record func()) (ctrl.Result, error) {
	cart := s.cart
	co := cart.Status.Checkout
	ids := pcv1alpha1.SplitOrderIDs(list)
	if len(ids) == 0 {
		return r.stall(s, pcv1alpha1.CheckoutOutcomeUnknownReason, co.Message+". The annotation names no order")
	}
	pc, err := s.partnerCenter(ctx)
	if err != nil {
		return r.upstreamError(s, "read the orders named by "+pcv1alpha1.CheckoutResolutionAnnotation, err)
	}
	result := &partnercenter.CartCheckoutResult{}
	for _, id := range ids {
		o, err := pc.GetOrder(ctx, s.customerID(), id)
		if err != nil {
			if partnercenter.Classify(err) == partnercenter.ClassNotFound {
				return r.stall(s, pcv1alpha1.CheckoutOutcomeUnknownReason, fmt.Sprintf("%s. Order %s named by annotation %s does not exist for customer %s",
					co.Message, id, pcv1alpha1.CheckoutResolutionAnnotation, s.customerID()))
			}
			return r.upstreamError(s, "get order "+id, err)
		}
		result.Orders = append(result.Orders, *o)
	}
	co.Outcome = pcv1alpha1.CheckoutResolved
	record()
	r.eventf(cart, corev1.EventTypeNormal, pcv1alpha1.EventCheckoutResolved,
		"A person recorded orders %s as the outcome of the checkout of cart %s", strings.Join(ids, ", "), co.CartID)
	res, err := r.recordResult(ctx, s, result, nil)
	setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutResolvedReason,
		"A person recorded orders "+strings.Join(ids, ", ")+" as the outcome of the checkout")
	return res, err
}
