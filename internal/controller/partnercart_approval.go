package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/printable"
)

// reconcileApproval is the gate: nothing is bought until spec.approval allows it, on the quote
// the cart phase just read when a checkout may follow, and within the account's own limits,
// which no approval lifts. It is decided once per reconcile. Waiting makes no upstream call
// and, but for missing admission policies, no requeue: a spec change wakes the cart.
func (r *PartnerCartReconciler) reconcileApproval(ctx context.Context, s *scope) phaseResult {
	cart := s.cart
	if co := cart.Status.Checkout; co != nil {
		// What was checked out was approved, whatever spec.approval says now.
		setCondition(cart, pcv1alpha1.ApprovedCondition, metav1.ConditionTrue, pcv1alpha1.ApprovedReason,
			approvedMessage(co.SpecHash, co.ApprovedBy, co.ApprovedAt))
		return next()
	}
	if c := cart.Spec.Cancellation; c != nil && c.Requested {
		// Someone asked to undo a purchase that has not happened: it must not happen.
		msg := "spec.cancellation is requested on a cart that was not bought: it is not bought while the request stands " +
			"(remove spec.cancellation to buy it, or delete the cart)"
		setCondition(cart, pcv1alpha1.ApprovedCondition, metav1.ConditionFalse, pcv1alpha1.CancellationBlocksCheckoutReason, msg)
		return waitForPerson(pcv1alpha1.CancellationBlocksCheckoutReason, msg, pcv1alpha1.EventWaitingForApproval)
	}
	if a := cart.Spec.Approval; a.Denied {
		// An approver said no. Only an approver lifts it (the admission policy), so this is
		// terminal for the cart as it stands.
		msg := deniedMessage(a)
		setCondition(cart, pcv1alpha1.ApprovedCondition, metav1.ConditionFalse, pcv1alpha1.DeniedReason, msg)
		return stall(pcv1alpha1.DeniedReason, msg)
	}
	reason, msg := r.approvalDecision(ctx, s)
	if reason != pcv1alpha1.ApprovedReason {
		setCondition(cart, pcv1alpha1.ApprovedCondition, metav1.ConditionFalse, reason, msg)
		res := waitForPerson(reason, msg, pcv1alpha1.EventWaitingForApproval)
		if reason == pcv1alpha1.AdmissionPoliciesNotInForceReason {
			// Nothing about the cart changes when the policies come back: look again, soon after
			// a start (the first check is under way), then as often as the checker does.
			res.after = 30 * time.Second
			if r.Admission != nil && r.Admission.Problem() == problemNotChecked {
				res.after = 5 * time.Second
			}
		}
		return res
	}
	setCondition(cart, pcv1alpha1.ApprovedCondition, metav1.ConditionTrue, reason, msg)
	if msg, err := s.aboveAccountCeiling(ctx); err != nil {
		return upstreamError(s, "read the account", err)
	} else if msg != "" {
		return stall(pcv1alpha1.AccountPriceCeilingExceededReason, msg)
	}
	return next()
}

// approvalDecision is approvalDecision for the cart being reconciled, refused first when the
// admission policies that make an approval mean something are not in force, or when the
// approval lacks their stamps.
func (r *PartnerCartReconciler) approvalDecision(ctx context.Context, s *scope) (reason, message string) {
	cart := s.cart
	a := cart.Spec.Approval
	stamps := printable.Truncate(a.ApprovedBy, 512) + " at " + printable.Truncate(a.ApprovedAt, 64)
	if !r.admissionInForce() {
		// Remembered only when they were found missing: at a start, or with the API server
		// unreachable, nobody knows, and a good approval must not be lost.
		if a.Approved && r.admissionMissing() {
			cart.Status.UntrustedApproval = stamps
		}
		return pcv1alpha1.AdmissionPoliciesNotInForceReason, policiesNotInForce(r.admissionState())
	}
	reason, message = approvalDecision(cart)
	if reason != pcv1alpha1.ApprovedReason {
		return reason, message
	}
	at, err := time.Parse(time.RFC3339, a.ApprovedAt)
	switch {
	case a.ApprovedBy == "" || a.ApprovedAt == "":
		return pcv1alpha1.ApprovalNotStampedReason, "spec.approval.approved is true but the API server did not stamp approvedBy and approvedAt " +
			"(it was approved while the admission policies were not in force): an approver must approve it again"
	case err != nil || at.After(s.now.Add(approvalClockSkew)):
		cart.Status.UntrustedApproval = stamps // never an API server's stamp: never taken
		return pcv1alpha1.ApprovalNotStampedReason, fmt.Sprintf("spec.approval.approvedAt %q is not a time the API server stamped (it is in the future, or malformed): an approver must approve it again",
			printable.Truncate(a.ApprovedAt, 64))
	case cart.Status.UntrustedApproval == stamps:
		return pcv1alpha1.ApprovalNotStampedReason, "This approval (" + stamps + ") was on the cart while the admission policies were not in force, " +
			"when anyone who may edit could have typed it: an approver must approve it again"
	case !r.stampedUnderPolicies(a.ApprovedAt):
		return pcv1alpha1.ApprovalNotStampedReason, fmt.Sprintf("spec.approval.approvedAt %s is before the admission policies were last installed or found back (%s): "+
			"the approval may have been typed by hand while they were not in force; an approver must approve it again",
			a.ApprovedAt, r.Admission.Since().UTC().Format(time.RFC3339))
	}
	// The policies were in force when last checked; the approval must not be newer than
	// that check, or it may have been typed in a gap since: check again now.
	// approvedAt is to the second: the check must have begun after that whole second.
	if problem := r.Admission.CheckedAfter(ctx, at.Add(time.Second)); problem != "" {
		if r.admissionMissing() {
			cart.Status.UntrustedApproval = stamps // seen while they are missing: anyone could have typed it
		}
		return pcv1alpha1.AdmissionPoliciesNotInForceReason, policiesNotInForce(problem)
	}
	return reason, message
}

// deniedMessage says who denied the cart, when and why, and what lifts it.
func deniedMessage(a pcv1alpha1.Approval) string {
	msg := "Denied"
	if a.ApprovedBy != "" {
		msg += " by " + printable.Truncate(a.ApprovedBy, 512)
		if a.ApprovedAt != "" {
			msg += " at " + printable.Truncate(a.ApprovedAt, 64)
		}
	}
	if a.Reason != "" {
		msg += ": " + printable.Truncate(a.Reason, 1024)
	}
	return msg + ". Nothing is bought; an approver lifts the denial with `kubectl partnercart approve` (spec.approval.denied: false), or the PartnerCart is deleted"
}

// policiesNotInForce is the message of a cart that waits for the admission policies.
func policiesNotInForce(problem string) string {
	return "Nothing is bought while the approval admission policies are not in force (" + strings.TrimSuffix(problem, ".") +
		"): without them anyone who may edit a PartnerCart could approve it. An admin must install config/policy (docs/operations.md#admission-policies)"
}

// approvalDecision says whether spec.approval allows checking out the cart as synced.
func approvalDecision(cart *pcv1alpha1.PartnerCart) (reason, message string) {
	a := cart.Spec.Approval
	hash := cart.Status.SpecHash
	if !a.Approved {
		return pcv1alpha1.WaitingForApprovalReason, fmt.Sprintf(
			"Waiting for approval: an approver runs `kubectl partnercart quote %s` then `kubectl partnercart approve %s` (or `approve --file` on the YAML in Git), "+
				"which sets spec.approval.approved and pins spec.approval.specHash to %s", cart.Name, cart.Name, hash)
	}
	if a.SpecHash != "" && a.SpecHash != hash {
		return pcv1alpha1.ApprovalHashMismatchReason, fmt.Sprintf(
			"spec.approval.specHash %s does not match the current purchase content %s: the content changed after approval; approve it again", a.SpecHash, hash)
	}
	if a.MaxTotalPrice != "" {
		switch quote, known, above := quoteAbove(cart, a.MaxTotalPrice); {
		case !known:
			return pcv1alpha1.QuoteUnavailableReason, "spec.approval.maxTotalPrice is set but Partner Center quoted no total for the cart"
		case above:
			return pcv1alpha1.PriceLimitExceededReason, fmt.Sprintf(
				"The quoted total %s is above spec.approval.maxTotalPrice %s", quote, a.MaxTotalPrice)
		}
	}
	return pcv1alpha1.ApprovedReason, approvedMessage(hash, a.ApprovedBy, a.ApprovedAt)
}

// quoteAbove compares the cart's quoted total with a price limit. quote is the total with its
// currency, for messages; known is false when Partner Center quoted no total; above is true
// when the total is above the limit, or cannot be compared with it (never bought on a doubt).
func quoteAbove(cart *pcv1alpha1.PartnerCart, limit string) (quote string, known, above bool) {
	if cart.Status.Cart == nil || cart.Status.Cart.QuotedTotal == "" {
		return "", false, false
	}
	quoted := cart.Status.Cart.QuotedTotal
	cmp, err := compareDecimals(quoted, limit)
	return quoted + " " + cart.Status.Cart.CurrencyCode, true, err != nil || cmp > 0
}

// approvedMessage says which purchase content was approved, and by whom when admission
// stamped it.
func approvedMessage(specHash, by, at string) string {
	msg := "Approved for purchase content " + specHash
	if by != "" {
		msg += " by " + by
		if at != "" {
			msg += " at " + at
		}
	}
	return msg
}

// gitOpsIdentifiers are the labels and annotations GitOps tools put on what they apply, which
// name the Application, Kustomization or HelmRelease that applied the object.
var gitOpsIdentifiers = []string{
	"argocd.argoproj.io/tracking-id",        // annotation: <app>:<group>/<kind>:<namespace>/<name>
	"argocd.argoproj.io/instance",           // label, when Argo CD tracks by a custom label
	"app.kubernetes.io/instance",            // label: Argo CD's default tracking label
	"kustomize.toolkit.fluxcd.io/name",      // labels: the Flux Kustomization
	"kustomize.toolkit.fluxcd.io/namespace", //
	"helm.toolkit.fluxcd.io/name",           // labels: the Flux HelmRelease
	"helm.toolkit.fluxcd.io/namespace",      //
}

// appliedBy copies the GitOps identifiers present on the cart (labels and annotations), each
// cut to 253 characters, or nil if there are none.
func appliedBy(cart *pcv1alpha1.PartnerCart) map[string]string {
	var out map[string]string
	for _, key := range gitOpsIdentifiers {
		v, ok := cart.Annotations[key]
		if !ok {
			v, ok = cart.Labels[key]
		}
		if !ok {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[key] = printable.Truncate(v, 253)
	}
	return out
}

// customerNotAllowed applies the account's spec.customers: it returns why the cart's
// namespace may not buy for its customer with this account, or "".
func (s *scope) customerNotAllowed(ctx context.Context) (string, error) {
	name := s.credentialSource().account
	if name == "" {
		return "", nil
	}
	acct, err := s.partnerAccount(ctx, name)
	if err != nil || len(acct.Spec.Customers) == 0 {
		return "", err
	}
	cart := s.cart
	for _, c := range acct.Spec.Customers {
		if strings.EqualFold(c.ID, cart.Spec.CustomerID) && (len(c.Namespaces) == 0 || slices.Contains(c.Namespaces, cart.Namespace)) {
			return "", nil
		}
	}
	return fmt.Sprintf("PartnerCenterAccount %s does not let namespace %s buy for customer %s (its spec.customers); nothing is sent to Partner Center: fix spec.customerId, or ask the platform team to allow the customer",
		acct.Name, cart.Namespace, cart.Spec.CustomerID), nil
}

// aboveAccountCeiling applies the account's maxTotalPricePerCart, which no cart using the
// account may exceed whatever its approval says: the fresh quote must be at or below it, and
// so must the approval's own maxTotalPrice. It returns why the cart is above it, or "". The
// account is read from the cache (this reconcile's upstream calls have read it already).
func (s *scope) aboveAccountCeiling(ctx context.Context) (string, error) {
	name := s.credentialSource().account
	if name == "" {
		return "", nil
	}
	acct, err := s.partnerAccount(ctx, name)
	if err != nil || acct.Spec.MaxTotalPricePerCart == "" {
		return "", err
	}
	ceiling := acct.Spec.MaxTotalPricePerCart
	cart := s.cart
	if limit := cart.Spec.Approval.MaxTotalPrice; limit != "" {
		if c, err := compareDecimals(limit, ceiling); err != nil || c > 0 {
			return fmt.Sprintf("spec.approval.maxTotalPrice %s is above PartnerCenterAccount %s's maxTotalPricePerCart %s; nothing is bought",
				limit, acct.Name, ceiling), nil
		}
	}
	switch quote, known, above := quoteAbove(cart, ceiling); {
	case !known:
		return fmt.Sprintf("PartnerCenterAccount %s caps each cart at %s but Partner Center quoted no total for this cart; nothing is bought",
			acct.Name, ceiling), nil
	case above:
		return fmt.Sprintf("The quoted total %s is above PartnerCenterAccount %s's maxTotalPricePerCart %s; nothing is bought",
			quote, acct.Name, ceiling), nil
	}
	return "", nil
}
