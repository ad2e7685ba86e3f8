package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

// requestedCancellation is the cart's spec.cancellation when it is requested, else nil.
func requestedCancellation(cart *pcv1alpha1.PartnerCart) *pcv1alpha1.Cancellation {
	if c := cart.Spec.Cancellation; c != nil && c.Requested {
		return c
	}
	return nil
}

// offerMatches reports whether an order line's offer is the catalog item of a spec line
// (Partner Center may name the product:sku:availability or only its product:sku).
func offerMatches(offer, catalogItem string) bool {
	offer, catalogItem = strings.ToUpper(offer), strings.ToUpper(catalogItem)
	return offer != "" && (offer == catalogItem || strings.HasPrefix(catalogItem, offer+":") || strings.HasPrefix(offer, catalogItem+":"))
}

// cancellationTargets are the order lines a request of ids (none: everything) cancels, each
// with the spec line it was matched to by offer ("" when none), and the requested ids no
// order line matched.
func cancellationTargets(cart *pcv1alpha1.PartnerCart, ids []int32) (rows [][]string, unmatched []int32) {
	lines := specLines(cart)
	match := func(l pcv1alpha1.OrderLineItemStatus) (int32, bool) {
		for _, id := range slices.Sorted(maps.Keys(lines)) {
			if offerMatches(l.OfferID, lines[id].CatalogItemID) {
				return id, true
			}
		}
		return 0, false
	}
	seen := map[int32]bool{}
	rows = [][]string{{"LINE", "ORDER", "SUBSCRIPTION", "OFFER", "NAME", "QTY"}}
	for _, o := range cart.Status.Orders {
		for _, l := range o.LineItems {
			id, ok := match(l)
			if len(ids) > 0 && (!ok || !slices.Contains(ids, id)) {
				continue
			}
			line := "-"
			if ok {
				line, seen[id] = lineLabel(cart, id), true
			}
			rows = append(rows, []string{line, o.ID, dash(l.SubscriptionID), dash(l.OfferID), dash(oneLine(l.FriendlyName)), fmt.Sprint(l.Quantity)})
		}
	}
	for _, id := range ids {
		if !seen[id] {
			unmatched = append(unmatched, id)
		}
	}
	return rows, unmatched
}

// lineLabel is a spec line's id as quote prints it: "+2" for an add-on.
func lineLabel(cart *pcv1alpha1.PartnerCart, id int32) string {
	for _, l := range cart.Spec.LineItems {
		for _, a := range l.AddonItems {
			if a.ID == id {
				return fmt.Sprintf("+%d", id)
			}
		}
	}
	return fmt.Sprint(id)
}

// printCancellationSummary writes what approving the cart's requested cancellation cancels:
// who asked and why, the subscriptions of the orders it names, and the window.
func printCancellationSummary(out io.Writer, cart *pcv1alpha1.PartnerCart, req *pcv1alpha1.Cancellation) {
	head := fmt.Sprintf("Cancellation of %s of PartnerCart %s/%s", linesText(req.LineItems), cart.Namespace, cart.Name)
	if req.RequestedBy != "" {
		head += ", requested by " + req.RequestedBy
		if req.RequestedAt != "" {
			head += " at " + req.RequestedAt
		}
	}
	if req.Reason != "" {
		head += " (reason: " + oneLine(req.Reason) + ")"
	}
	printLine(out, head+":")
	rows, unmatched := cancellationTargets(cart, req.LineItems)
	if len(rows) > 1 {
		var b strings.Builder
		writeTable(&b, rows, map[int]bool{5: true})
		for _, l := range strings.SplitAfter(b.String(), "\n") {
			if l != "" {
				printText(out, "  "+l)
			}
		}
	} else {
		printLine(out, "  no subscription in status.orders yet (the operator waits for them before it cancels)")
	}
	for _, id := range unmatched {
		printf(out, "  line %s: no subscription of the orders matched its catalog item yet; the operator resolves it when it starts\n", lineLabel(cart, id))
	}
	if w := cancellationWindow(cart); w != "" {
		printLine(out, strings.ToUpper(w[:1])+w[1:]+".")
	} else {
		printLine(out, "The cancellation window is not known yet (no status.cancellableUntil).")
	}
}

// approveCancellationProblems: what the operator would refuse or Partner Center would.
func approveCancellationProblems(cart *pcv1alpha1.PartnerCart, req *pcv1alpha1.Cancellation) []string {
	return cancelProblems(cart, req.LineItems)
}

// cmdApproveCancellation sets spec.cancellation.approved after showing what it cancels.
func cmdApproveCancellation(ctx context.Context, c client.Client, ns, name string, o approveOptions, out, errOut io.Writer) error {
	var cart pcv1alpha1.PartnerCart
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &cart); err != nil {
		return err
	}
	if err := cancelStarted(&cart, "approve"); err != nil {
		return err
	}
	req := requestedCancellation(&cart)
	if req == nil {
		return errNoCancellation(&cart, "approve")
	}
	if req.Approved && req.ApprovedBy != "" {
		printf(out, "partnercart %s/%s: the cancellation is already approved (by %s at %s)\n", ns, name, req.ApprovedBy, dash(req.ApprovedAt))
		return nil
	}
	if err := refuseOrWarnTo(&cart, approveCancellationProblems(&cart, req), o.force, errOut, "approving the cancellation of", "approve it"); err != nil {
		return err
	}
	patch := map[string]any{"spec": map[string]any{"cancellation": map[string]any{"approved": true}}}
	if o.printPatch {
		return printCancellationPatch(&cart, patch, out,
			fmt.Sprintf("# Approve the cancellation of %s of PartnerCart %s/%s", linesText(req.LineItems), ns, name),
			"approvedBy and approvedAt are stamped by the API server when this is applied.")
	}
	printCancellationSummary(out, &cart, req)
	patch["metadata"] = map[string]any{"resourceVersion": cart.ResourceVersion}
	if err := patchCart(ctx, c, &cart, patch, "approving its cancellation"); err != nil {
		return err
	}
	msg := fmt.Sprintf("partnercart %s/%s cancellation approved", ns, name)
	if cc := cart.Spec.Cancellation; cc != nil && cc.ApprovedBy != "" {
		msg += " (by " + cc.ApprovedBy + ")"
	}
	printLine(out, msg+"; 'kubectl partnercart quote "+name+"' shows each subscription's outcome")
	return nil
}

// approveCancellationFileFields are what approve --cancellation --file sets: approved, after
// the checks of the manifest's request against the live cart.
func approveCancellationFileFields(doc *manifestDoc, live *pcv1alpha1.PartnerCart, force bool, out, errOut io.Writer) ([]approvalField, []string, string, error) {
	// The manifest's request is what will be applied and approved.
	req := requestedCancellation(&doc.cart)
	if req == nil {
		return nil, nil, "", errNoCancellation(&doc.cart, "approve")
	}
	cart := &doc.cart
	if live != nil {
		cart = live.DeepCopy()
		cart.Spec.LineItems = doc.cart.Spec.LineItems
		if err := refuseOrWarnTo(live, approveCancellationProblems(cart, req), force, errOut, "approving the cancellation of", "approve it"); err != nil {
			return nil, nil, "", err
		}
	}
	printCancellationSummary(out, cart, req)
	return []approvalField{{key: "approved", text: "true", value: true}}, nil,
		"cancellation approved (" + linesText(req.LineItems) + "); the API server stamps approvedBy and approvedAt when the change is applied", nil
}

// cmdDenyCancellation withdraws a requested cancellation: requested and approved false.
func cmdDenyCancellation(ctx context.Context, c client.Client, ns, name string, out io.Writer) error {
	var cart pcv1alpha1.PartnerCart
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &cart); err != nil {
		return err
	}
	if err := cancelStarted(&cart, "withdraw"); err != nil {
		return err
	}
	if requestedCancellation(&cart) == nil {
		return errNoCancellation(&cart, "withdraw")
	}
	patch := map[string]any{
		"metadata": map[string]any{"resourceVersion": cart.ResourceVersion},
		"spec":     map[string]any{"cancellation": map[string]any{"requested": false, "approved": false}},
	}
	if err := patchCart(ctx, c, &cart, patch, "withdrawing its cancellation"); err != nil {
		return err
	}
	printf(out, "partnercart %s/%s cancellation withdrawn (requested and approved false): nothing will be cancelled\n", ns, name)
	return nil
}

// denyCancellationFileFields withdraws the manifest's requested cancellation.
func denyCancellationFileFields(doc *manifestDoc) ([]approvalField, []string, string, error) {
	if requestedCancellation(&doc.cart) == nil {
		return nil, nil, "", errNoCancellation(&doc.cart, "withdraw")
	}
	set := []approvalField{{key: "requested", text: "false", value: false}}
	if doc.hasSectionKey("cancellation", "approved") {
		set = append(set, approvalField{key: "approved", text: "false", value: false})
	}
	return set, nil, "cancellation withdrawn (requested false): nothing will be cancelled", nil
}

// cancellableUntilColumn is status.cancellableUntil for get -o wide, "(passed)" once over.
func cancellableUntilColumn(cart *pcv1alpha1.PartnerCart) string {
	u := cart.Status.CancellableUntil
	if u == nil {
		return "-"
	}
	s := u.UTC().Format(time.RFC3339)
	if windowPassed(cart) {
		s += " (passed)"
	}
	return s
}
