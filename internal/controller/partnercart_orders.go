package controller

import (
	"context"
	"fmt"
	"time"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
)

// reconcileOrders polls pending orders with growing, jittered intervals until each is
// terminal and has its subscription IDs; then it makes no further upstream calls.
func (r *PartnerCartReconciler) reconcileOrders(ctx context.Context, s *scope) phaseResult {
	cart := s.cart
	co := cart.Status.Checkout
	if co == nil || !co.Outcome.Final() || co.CompletedAt == nil || len(cart.Status.Orders) == 0 {
		return next()
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
	if len(pending) > 0 && !s.ordersAnswered {
		// Orders just answered are not read again before a poll interval has passed.
		pc, res := r.upstream(ctx, s, "get orders")
		if res.stops() {
			return res
		}
		for _, i := range pending {
			o, err := pc.GetOrder(ctx, s.customerID(), cart.Status.Orders[i].ID)
			if err != nil {
				return upstreamError(s, "get order "+cart.Status.Orders[i].ID, err)
			}
			cart.Status.Orders[i] = orderStatus(*o)
		}
		pending = pendingOrders()
	}
	if len(pending) > 0 {
		return waitForUpstream(pcv1alpha1.OrdersProvisioningReason,
			fmt.Sprintf("Waiting for %d of %d orders to complete", len(pending), len(cart.Status.Orders)),
			r.orderPollInterval(s.now.Sub(co.CompletedAt.Time)))
	}
	return ordersFinished(s)
}

// ordersFinished settles orders that all reached a final status. Everything bought and
// provisioned is a state, which Ready=True (Succeeded) and the phase say; it makes no Event.
// Events are for what the operator did (OrdersCreated at checkout) and for what needs a
// person: an order that did not complete stalls with a Warning, once; order groups that
// failed at checkout were announced then (CheckoutPartiallyFailed).
func ordersFinished(s *scope) phaseResult {
	cart := s.cart
	switch failed := failedOrders(cart.Status.Orders); {
	case failed != "":
		// A Warning, so an alert on Warning Events sees a purchase that was not fulfilled.
		return stall(pcv1alpha1.OrdersFailedReason, "Orders did not complete: "+failed+"; Partner Center advises repurchasing what was not fulfilled")
	case len(cart.Status.OrderErrors) > 0:
		// Not everything asked for was bought: a person decides whether to buy the rest.
		return stall(pcv1alpha1.CheckoutPartiallyFailedReason, fmt.Sprintf(
			"Orders %s completed, but order groups failed at checkout: %s; buy what is missing with a new PartnerCart",
			orderIDs(cart.Status.Orders), describeOrderErrors(cart.Status.OrderErrors))).quiet()
	}
	return next()
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
	return r.jitter(d)
}
