package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"regexp"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

type approveOptions struct {
	pin        bool
	maxTotal   string
	printPatch bool
}

// maxTotalPattern is the CRD's pattern of spec.approval.maxTotalPrice: a positive decimal.
var maxTotalPattern = regexp.MustCompile(`^(0*[1-9][0-9]*(\.[0-9]+)?|0*\.[0-9]*[1-9][0-9]*)$`)

// approvalPatch is the merge patch that approves cart: approved, the pinned spec hash (or none:
// a null removes an earlier pin), and the price limit when one is given. The approver and the
// time are not in it: the admission policy stamps them. With resourceVersion set, the API
// server applies it only to the object that was read, so the approval is for what was shown.
func approvalPatch(cart *pcv1alpha1.PartnerCart, o approveOptions, resourceVersion string) (map[string]any, error) {
	if o.maxTotal != "" && !maxTotalPattern.MatchString(o.maxTotal) {
		return nil, fmt.Errorf("--max-total %q is not a positive decimal amount (e.g. 1250.00)", o.maxTotal)
	}
	approval := map[string]any{"approved": true}
	if o.pin {
		if cart.Status.SpecHash == "" {
			return nil, fmt.Errorf("PartnerCart %s has no status.specHash yet (the operator has not seen it): wait, or approve with --pin=false", cart.Name)
		}
		approval["specHash"] = cart.Status.SpecHash
	} else if cart.Spec.Approval.SpecHash != "" {
		approval["specHash"] = nil
	}
	if o.maxTotal != "" {
		approval["maxTotalPrice"] = o.maxTotal
	}
	patch := map[string]any{"spec": map[string]any{"approval": approval}}
	if resourceVersion != "" {
		patch["metadata"] = map[string]any{"resourceVersion": resourceVersion}
	}
	return patch, nil
}

// printablePatch is the change for a GitOps pull request: the object's identity and the
// spec.approval fields to merge into its manifest (also usable as a kustomize patch).
func printablePatch(cart *pcv1alpha1.PartnerCart, o approveOptions) ([]byte, error) {
	p, err := approvalPatch(cart, o, "")
	if err != nil {
		return nil, err
	}
	approval := p["spec"].(map[string]any)["approval"].(map[string]any)
	removeHash := false
	if v, ok := approval["specHash"]; ok && v == nil {
		delete(approval, "specHash")
		removeHash = true
	}
	doc := map[string]any{
		"apiVersion": pcv1alpha1.GroupVersion.String(),
		"kind":       "PartnerCart",
		"metadata":   map[string]any{"name": cart.Name, "namespace": cart.Namespace},
		"spec":       p["spec"],
	}
	body, err := yaml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	head := fmt.Sprintf("# Approve PartnerCart %s/%s", cart.Namespace, cart.Name)
	if q := quote(cart); q != "" {
		head += " (quoted " + q + ")"
	}
	head += ".\n"
	if removeHash {
		head += "# Also remove spec.approval.specHash from the manifest: this approval is not pinned.\n"
	}
	head += "# approvedBy and approvedAt are stamped by the API server when this is applied.\n"
	return append([]byte(head), body...), nil
}

// aboveLimit warns an approver that the approval they are giving will not buy: the quoted total
// is above the price limit (the one given now, or the cart's own).
func aboveLimit(cart *pcv1alpha1.PartnerCart, o approveOptions) string {
	limit := o.maxTotal
	if limit == "" {
		limit = cart.Spec.Approval.MaxTotalPrice
	}
	st := cart.Status.Cart
	if limit == "" || st == nil || st.QuotedTotal == "" {
		return ""
	}
	q, okQ := new(big.Rat).SetString(st.QuotedTotal)
	l, okL := new(big.Rat).SetString(limit)
	if !okQ || !okL || q.Cmp(l) <= 0 {
		return ""
	}
	return fmt.Sprintf("the quoted total %s is above the price limit %s: the operator will not check out until the limit is raised (--max-total) or the cart costs less",
		quote(cart), limit)
}

func cmdApprove(ctx context.Context, c client.Client, ns, name string, o approveOptions, out, errOut io.Writer) error {
	var cart pcv1alpha1.PartnerCart
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &cart); err != nil {
		return err
	}
	if cart.Status.Checkout != nil || cart.Status.OrderCount > 0 {
		return fmt.Errorf("PartnerCart %s/%s is already checking out or checked out (phase %s): nothing to approve", ns, name, dash(string(cart.Status.Phase)))
	}
	if f := quoteFreshness(&cart); o.pin && !strings.HasPrefix(f, "for the current spec") {
		printf(errOut, "warning: quote %s\n", f)
	}
	if w := aboveLimit(&cart, o); w != "" {
		printf(errOut, "warning: %s\n", w)
	}
	if o.printPatch {
		body, err := printablePatch(&cart, o)
		if err != nil {
			return err
		}
		_, err = out.Write(body)
		return err
	}
	p, err := approvalPatch(&cart, o, cart.ResourceVersion)
	if err != nil {
		return err
	}
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if err := c.Patch(ctx, &cart, client.RawPatch(types.MergePatchType, data)); err != nil {
		if apierrors.IsConflict(err) {
			return fmt.Errorf("PartnerCart %s/%s changed while approving; run quote again: %w", ns, name, err)
		}
		return err
	}
	msg := fmt.Sprintf("partnercart %s/%s approved", ns, name)
	var details []string
	if o.pin {
		details = append(details, "pinned to "+cart.Spec.Approval.SpecHash)
	}
	if q := quote(&cart); q != "" {
		details = append(details, "quoted "+q)
	}
	if cart.Spec.Approval.MaxTotalPrice != "" {
		details = append(details, "max total "+cart.Spec.Approval.MaxTotalPrice)
	}
	if cart.Spec.Approval.ApprovedBy != "" {
		details = append(details, "by "+cart.Spec.Approval.ApprovedBy)
	}
	if len(details) > 0 {
		msg += " (" + strings.Join(details, ", ") + ")"
	}
	printLine(out, msg)
	return nil
}
