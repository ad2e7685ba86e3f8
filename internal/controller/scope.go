package controller

import (
	"context"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
)

// scope is everything one reconcile reads once: the object, a snapshot to diff the status
// against, and (lazily, only when an upstream call is needed) the Partner Center client.
type scope struct {
	r      *PartnerCartReconciler
	cart   *pcv1alpha1.PartnerCart
	before *pcv1alpha1.PartnerCart
	now    time.Time

	pc partnercenter.Client
	// account is the PartnerCenterAccount the cart uses, once read in this reconcile.
	account *pcv1alpha1.PartnerCenterAccount
	// cartWritten: the upstream cart was created or PUT in this reconcile, so upstreamLines
	// are as fresh as a read.
	cartWritten bool
	// upstreamLines are the line items of the upstream cart as last answered in this reconcile.
	upstreamLines []partnercenter.CartLineItem
	// receiptMark: receipt creations started before this reconcile read the cart.
	receiptMark uint64
	// receiptWritten: this reconcile wrote the receipt, or found it in the API server.
	receiptWritten bool

	// outcome is what the phases concluded; summarize derives phase and conditions from it
	// and the status.
	outcome
	// noStatusWrite: the finalizer was removed, or a locked write lost a race; this reconcile
	// writes no status.
	noStatusWrite bool
	// checkoutResult is the checkout result this reconcile recorded, counted in the metrics
	// once the status that records it is written (a failed write is recorded, and counted, by a
	// later reconcile, so nothing is counted twice).
	checkoutResult string
}

// observe counts the checkout result in the metrics once the status write succeeds.
func (s *scope) observe(result string) { s.checkoutResult = result }

// outcome is what the phases of one reconcile concluded, besides what they wrote into status.
type outcome struct {
	// stalled is set by a phase that hit a failure only a person can fix.
	stalled *stall
	// waitReason and waitMessage describe why the reconcile is waiting (not stalled).
	waitReason, waitMessage string
	// done ends the phase loop without an error or a requeue (e.g. waiting for approval).
	done bool
	// deletionBlocked says why the deletion waits, shown in Ready.
	deletionBlocked string
	// err is the reconcile's error, if any.
	err error
}

// wait ends the phases: the cart waits for a person (approval, say) or for Partner Center.
func (s *scope) wait(reason, msg string) (ctrl.Result, error) {
	s.waitReason, s.waitMessage, s.done = reason, msg, true
	return ctrl.Result{}, nil
}

// waitInProgress ends the phases while a checkout call of another process may be in flight.
func (s *scope) waitInProgress(msg string, after time.Duration) (ctrl.Result, error) {
	s.waitReason, s.waitMessage = pcv1alpha1.CheckoutInProgressReason, msg
	return ctrl.Result{RequeueAfter: after}, nil
}

// retryScheduled makes sure a reconcile that ends retrying (throttled, upstream unavailable,
// credentials refused, a checkout in another's hands) comes back by itself: only a stall or a
// wait for a person may end with nothing scheduled, since status writes do not wake the
// controller. A phase that dropped its retry is a bug (one left carts Pending for good after a
// throttled order list); this logs it and retries after the work queue's longest backoff.
func (s *scope) retryScheduled(ctx context.Context, res ctrl.Result, err error) ctrl.Result {
	if err != nil || !res.IsZero() || s.stalled != nil || s.done || s.waitReason == "" || waitingIsProgress[s.waitReason] {
		return res
	}
	ctrl.LoggerFrom(ctx).Error(nil, "A retry was not scheduled; retrying anyway", "reason", s.waitReason, "message", s.waitMessage)
	return ctrl.Result{RequeueAfter: s.r.jitter(maxRetryBackoff)}
}

// stall is a terminal failure: Stalled=True with this reason and message.
type stall struct {
	reason, message string
}

func newScope(r *PartnerCartReconciler, cart *pcv1alpha1.PartnerCart) *scope {
	return &scope{r: r, cart: cart, before: cart.DeepCopy(), now: r.Clock.Now()}
}

// customerID is the customer the cart's calls are for: the checkout intent's once there is one
// (an edit of spec.customerId that slipped past admission, a restore of an old spec, must not
// send a checkout's repeat or its order reads to another customer), the spec's before.
func (s *scope) customerID() string {
	if co := s.cart.Status.Checkout; co != nil && co.CustomerID != "" {
		return co.CustomerID
	}
	return s.cart.Spec.CustomerID
}
