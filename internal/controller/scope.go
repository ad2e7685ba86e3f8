package controller

import (
	"time"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
)

// scope is everything one reconcile reads once: the object, the copies to compare it with,
// and (lazily, only when an upstream call is needed) the Partner Center client. What the
// phases conclude is their phaseResult, not a field here.
type scope struct {
	r    *PartnerCartReconciler
	cart *pcv1alpha1.PartnerCart
	// read is the object as this reconcile read it: transitions (Events) are told from it.
	read *pcv1alpha1.PartnerCart
	// stored is the object as last stored: as read, or as the checkout intent write left it.
	// The final status patch is a diff against it.
	stored *pcv1alpha1.PartnerCart
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
	// ordersAnswered: the orders were answered by a checkout (or read) in this reconcile, so
	// they are not polled again before the poll interval.
	ordersAnswered bool
	// checkoutResult is the checkout result this reconcile recorded, counted in the metrics
	// once the status that records it is written (a failed write is recorded, and counted, by a
	// later reconcile, so nothing is counted twice).
	checkoutResult string
	// cancellationCompleted: this reconcile completed the cancellation; counted in the metrics
	// once the status that records it is written.
	cancellationCompleted bool
}

// countCheckout counts the checkout result in the metrics once the status write succeeds.
func (s *scope) countCheckout(result string) { s.checkoutResult = result }

func newScope(r *PartnerCartReconciler, cart *pcv1alpha1.PartnerCart) *scope {
	return &scope{r: r, cart: cart, read: cart.DeepCopy(), stored: cart.DeepCopy(), now: r.Clock.Now()}
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
