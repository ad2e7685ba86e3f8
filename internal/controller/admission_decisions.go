package controller

// How the reconciler uses the admission check: an approval or a decision annotation counts only
// when the API server stamped it while the approval admission policies were in force.

import (
	"context"
	"slices"
	"time"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/printable"
)

// admissionState says why the policies are not in force, for conditions.
func (r *PartnerCartReconciler) admissionState() string {
	if r.Admission == nil {
		return "this manager was started without checking them"
	}
	return r.Admission.Problem()
}

// admissionInForce is true when the manager has found the policies in force.
func (r *PartnerCartReconciler) admissionInForce() bool {
	return r.Admission != nil && r.Admission.Problem() == ""
}

// admissionMissing is true when the check found the policies missing (not merely unknown).
func (r *PartnerCartReconciler) admissionMissing() bool {
	return r.Admission != nil && r.Admission.Missing()
}

// stampedUnderPolicies is false for a stamp (approvedAt, a decision's -at) older than the
// policies' unbroken enforcement: it may have been typed by hand while they were not in force.
func (r *PartnerCartReconciler) stampedUnderPolicies(at string) bool {
	t, err := time.Parse(time.RFC3339, at)
	return err == nil && r.Admission != nil && !t.Before(r.Admission.Since().Truncate(time.Second))
}

// decision is a decision annotation the operator may act on: stamped by the API server while
// the policies were in force (pcv1alpha1.Decision), else "".
func (r *PartnerCartReconciler) decision(ctx context.Context, cart *pcv1alpha1.PartnerCart, key string) (value, by, at string) {
	value, by, at = pcv1alpha1.Decision(cart.Annotations, key)
	if value == "" || !r.trustedStamp(ctx, cart, key, by, at) {
		return "", "", ""
	}
	return value, by, at
}

// trustedStamp says whether a decision's stamps (by, at) were set by the API server while the
// admission policies were in force; what is the decision, as status.untrustedDecisions names it.
func (r *PartnerCartReconciler) trustedStamp(ctx context.Context, cart *pcv1alpha1.PartnerCart, what, by, at string) bool {
	if !r.stampedUnderPolicies(at) {
		return false
	}
	seen := what + " by " + printable.Truncate(by, 256) + " at " + printable.Truncate(at, 64)
	if slices.Contains(cart.Status.UntrustedDecisions, seen) {
		return false
	}
	t, err := time.Parse(time.RFC3339, at)
	// As for an approval: a stamp from the future, or one seen while the policies are not in
	// force, was typed by hand and is never taken; one newer than the last check waits for a
	// new one.
	if err != nil || t.After(r.now().Add(approvalClockSkew)) || r.admissionMissing() {
		rememberUntrusted(cart, seen)
		return false
	}
	if !r.admissionInForce() || r.Admission.CheckedAfter(ctx, t.Add(time.Second)) != "" {
		if r.admissionMissing() {
			rememberUntrusted(cart, seen)
		}
		return false
	}
	return true
}

// rememberUntrusted keeps a decision stamp seen untrusted (the latest few).
func rememberUntrusted(cart *pcv1alpha1.PartnerCart, seen string) {
	if !slices.Contains(cart.Status.UntrustedDecisions, seen) {
		cart.Status.UntrustedDecisions = append(cart.Status.UntrustedDecisions, seen)
		if n := len(cart.Status.UntrustedDecisions); n > maxUntrustedDecisions {
			cart.Status.UntrustedDecisions = cart.Status.UntrustedDecisions[n-maxUntrustedDecisions:]
		}
	}
}

// maxUntrustedDecisions bounds status.untrustedDecisions.
const maxUntrustedDecisions = 4

// now is the reconciler's clock.
func (r *PartnerCartReconciler) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}
