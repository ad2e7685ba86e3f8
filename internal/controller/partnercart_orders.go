package controller

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
)

// reconcileOrders polls pending orders with growing, jittered intervals until each is
// terminal and has its subscription IDs; then it makes no further upstream calls.
func (r *PartnerCartReconciler) reconcileOrders(ctx context.Context, s *scope) (ctrl.Result, error) {
	cart := s.cart
	co := cart.Status.Checkout
	if co == nil || !co.Outcome.Final() || co.CompletedAt == nil {
		return ctrl.Result{}, nil
	}
	if len(cart.Status.Orders) > 0 || co.Resolution != "" {
		// A receipt that could not be written at checkout, or was deleted since, is written
		// by every reconcile (a deleted receipt wakes its cart).
		if err := r.ensureReceiptKept(ctx, s); err != nil {
			return ctrl.Result{}, err
		}
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
			o, err := pc.GetOrder(ctx, s.customerID(), cart.Status.Orders[i].ID)
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
		// A person recorded that the checkout bought nothing (Abandoned): only they move it on.
		s.stalled = &stall{pcv1alpha1.CheckoutAbandonedReason, co.Message}
		return ctrl.Result{}, nil
	}
	return r.ordersFinished(s)
}

// ordersFinished settles orders that all reached a final status. Everything bought and
// provisioned is a state, which Ready=True (Succeeded) and the phase say; it makes no Event.
// Events are for what the operator did (OrdersCreated at checkout) and for what needs a
// person: an order that did not complete, or order groups that failed at checkout, stall with
// a Warning, once.
func (r *PartnerCartReconciler) ordersFinished(s *scope) (ctrl.Result, error) {
	cart := s.cart
	switch failed := failedOrders(cart.Status.Orders); {
	case failed != "":
		// A Warning, so an alert on Warning Events sees a purchase that was not fulfilled.
		return r.stall(s, pcv1alpha1.OrdersFailedReason, "Orders did not complete: "+failed+"; Partner Center advises repurchasing what was not fulfilled")
	case len(cart.Status.OrderErrors) > 0:
		// Not everything asked for was bought: a person decides whether to buy the rest.
		return r.stall(s, pcv1alpha1.CheckoutPartiallyFailedReason, fmt.Sprintf(
			"Orders %s completed, but order groups failed at checkout: %s; buy what is missing with a new PartnerCart",
			orderIDs(cart.Status.Orders), describeOrderErrors(cart.Status.OrderErrors)))
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
	return r.jitter(d)
}

func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// jitter is jitter(d) drawn from r.jitterRand when set (the checkout simulation's seeded
// source, so that a seed replays the same requeue waits), from math/rand/v2 otherwise.
func (r *PartnerCartReconciler) jitter(d time.Duration) time.Duration {
	if r == nil || r.jitterRand == nil {
		return jitter(d)
	}
	return time.Duration(float64(d) * (0.8 + 0.4*r.jitterRand()))
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
