package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

func quoteCommand() *command {
	return &command{
		name:     "quote",
		synopsis: []string{"NAME [-o json|yaml]"},
		short:    "line items, unit and extended prices, total, line errors",
		long: `Prints what an approver reads before approving: who buys (the customer ID with the company
Partner Center names for it), the Partner Center cart, the spec hash, whether the quote is
for the current spec, the approval, the line items with unit and extended prices and the
total, line errors and, after checkout, the orders and until when Partner Center allows
their cancellation; then a requested cancellation, its approval and each subscription's
outcome, error code and refund. -o json and -o yaml print the same as data (see
docs/kubectl-plugin.md).`,
		setup: func(fs *flag.FlagSet, o *options) func(context.Context, *env, []string) error {
			o.addOutput(fs, outputJSON, outputYAML)
			return func(ctx context.Context, e *env, args []string) error {
				if err := checkOutput("quote", o.output, outputJSON, outputYAML); err != nil {
					return err
				}
				name, err := oneName("quote", args)
				if err != nil {
					return err
				}
				return e.withClient(o, func(c client.Client, ns string) error { return cmdQuote(ctx, c, ns, name, o.output, e.out) })
			}
		},
	}
}

func cmdQuote(ctx context.Context, c client.Client, ns, name, format string, out io.Writer) error {
	var cart pcv1alpha1.PartnerCart
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &cart); err != nil {
		return err
	}
	if format != outputTable {
		return printData(out, format, quoteData(&cart))
	}
	printQuote(out, &cart)
	return nil
}

// quoteDoc is the quote as data (-o json|yaml): the same facts as the text, named as in the API.
type quoteDoc struct {
	Namespace string                    `json:"namespace"`
	Name      string                    `json:"name"`
	Customer  pcv1alpha1.CustomerStatus `json:"customer"`
	Phase     pcv1alpha1.Phase          `json:"phase,omitempty"`
	Paused    bool                      `json:"paused,omitempty"`
	CartID    string                    `json:"cartId,omitempty"`
	CartState string                    `json:"cartStatus,omitempty"`
	ExpiresAt *metav1.Time              `json:"expirationTimestamp,omitempty"`
	SpecHash  string                    `json:"specHash,omitempty"`
	// Quote is "current", "stale" or "none"; QuoteMessage says why.
	Quote          string                     `json:"quote"`
	QuoteMessage   string                     `json:"quoteMessage"`
	QuotedTotal    string                     `json:"quotedTotal,omitempty"`
	CurrencyCode   string                     `json:"currencyCode,omitempty"`
	Approval       pcv1alpha1.Approval        `json:"approval"`
	LineItems      []quoteLine                `json:"lineItems"`
	LineItemErrors []pcv1alpha1.LineItemError `json:"lineItemErrors,omitempty"`
	Orders         []pcv1alpha1.OrderStatus   `json:"orders,omitempty"`
	OrderErrors    []pcv1alpha1.OrderError    `json:"orderErrors,omitempty"`
	Total          string                     `json:"total,omitempty"`
	// CancellableUntil, Cancellation and CancellationStatus are status.cancellableUntil,
	// spec.cancellation and status.cancellation.
	CancellableUntil   *metav1.Time                   `json:"cancellableUntil,omitempty"`
	Cancellation       *pcv1alpha1.Cancellation       `json:"cancellation,omitempty"`
	CancellationStatus *pcv1alpha1.CancellationStatus `json:"cancellationStatus,omitempty"`
	Conditions         []metav1.Condition             `json:"conditions,omitempty"`
}

// quoteLine is one line item or add-on with the prices Partner Center quoted for it.
type quoteLine struct {
	ID            int32                   `json:"id"`
	AddonOf       int32                   `json:"addonOf,omitempty"`
	CatalogItemID string                  `json:"catalogItemId"`
	FriendlyName  string                  `json:"friendlyName,omitempty"`
	Quantity      int32                   `json:"quantity"`
	BillingCycle  pcv1alpha1.BillingCycle `json:"billingCycle"`
	TermDuration  string                  `json:"termDuration,omitempty"`
	Price         string                  `json:"price,omitempty"`
	ExtendedPrice string                  `json:"extendedPrice,omitempty"`
	CurrencyCode  string                  `json:"currencyCode,omitempty"`
}

func quoteData(cart *pcv1alpha1.PartnerCart) quoteDoc {
	st := &cart.Status
	d := quoteDoc{Namespace: cart.Namespace, Name: cart.Name, Customer: pcv1alpha1.CustomerStatus{ID: cart.Spec.CustomerID},
		Phase: st.Phase, Paused: paused(cart), SpecHash: st.SpecHash, QuoteMessage: quoteFreshness(cart),
		Approval: cart.Spec.Approval, LineItems: []quoteLine{}, LineItemErrors: st.LineItemErrors, Orders: st.Orders,
		OrderErrors: st.OrderErrors, Total: total(cart), CancellableUntil: st.CancellableUntil, Cancellation: cart.Spec.Cancellation,
		CancellationStatus: st.Cancellation, Conditions: st.Conditions}
	if c := st.Customer; c != nil && c.ID == cart.Spec.CustomerID {
		d.Customer = *c
	}
	switch {
	case strings.HasPrefix(d.QuoteMessage, "for the current spec"):
		d.Quote = "current"
	case strings.HasPrefix(d.QuoteMessage, "stale"):
		d.Quote = "stale"
	default:
		d.Quote = "none"
	}
	prices := map[int32]pcv1alpha1.CartLineItemStatus{}
	if st.Cart != nil {
		d.CartID, d.CartState, d.ExpiresAt = st.Cart.ID, st.Cart.Status, st.Cart.ExpirationTimestamp
		d.QuotedTotal, d.CurrencyCode = st.Cart.QuotedTotal, st.Cart.CurrencyCode
		for _, l := range st.Cart.LineItems {
			prices[l.ID] = l
		}
	}
	line := func(l pcv1alpha1.LineItemFields, addonOf int32) {
		p := prices[l.ID]
		d.LineItems = append(d.LineItems, quoteLine{ID: l.ID, AddonOf: addonOf, CatalogItemID: l.CatalogItemID, FriendlyName: l.FriendlyName,
			Quantity: l.Quantity, BillingCycle: l.BillingCycle, TermDuration: l.TermDuration, Price: p.Price,
			ExtendedPrice: p.ExtendedPrice, CurrencyCode: p.CurrencyCode})
	}
	for _, l := range cart.Spec.LineItems {
		line(l.LineItemFields, 0)
		for _, a := range l.AddonItems {
			line(a.LineItemFields, l.ID)
		}
	}
	return d
}

// printQuote writes what an approver reads before approving: who buys what, at which unit and
// extended prices, the total, whether the quote is for the current spec, and every line error.
func printQuote(out io.Writer, cart *pcv1alpha1.PartnerCart) {
	printQuoteHeader(out, cart)
	printLine(out)
	printLineItems(out, cart)
	printErrorsAndOrders(out, cart)
	printCancellation(out, cart)
}

// printQuoteHeader writes who buys, the cart, the spec hash, and the approval.
func printQuoteHeader(out io.Writer, cart *pcv1alpha1.PartnerCart) {
	st := &cart.Status
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	printf(tw, "PartnerCart:\t%s/%s\n", cart.Namespace, cart.Name)
	printf(tw, "Customer:\t%s\n", customerLine(cart))
	printf(tw, "Phase:\t%s\n", phaseColumn(cart))
	if st.Cart != nil && st.Cart.ID != "" {
		line := st.Cart.ID
		var extra []string
		if st.Cart.Status != "" {
			extra = append(extra, st.Cart.Status)
		}
		if st.Cart.ExpirationTimestamp != nil {
			extra = append(extra, "expires "+st.Cart.ExpirationTimestamp.UTC().Format(time.RFC3339))
		}
		if len(extra) > 0 {
			line += " (" + strings.Join(extra, ", ") + ")"
		}
		printf(tw, "Partner Center cart:\t%s\n", line)
	}
	printf(tw, "Spec hash:\t%s\n", dash(st.SpecHash))
	printf(tw, "Quote:\t%s\n", quoteFreshness(cart))
	printf(tw, "Approval:\t%s\n", approvalDetail(cart))
	if bought(cart) || st.CancellableUntil != nil {
		w := cancellationWindow(cart)
		if w == "" {
			w = "not known yet (the operator has not read the subscriptions' window)"
		}
		printf(tw, "Cancellation window:\t%s\n", w)
	}
	for _, typ := range []string{pcv1alpha1.ApprovedCondition, pcv1alpha1.CartSyncedCondition, pcv1alpha1.ReadyCondition, pcv1alpha1.StalledCondition,
		pcv1alpha1.CancelledCondition} {
		if s := condition(cart, typ); s != "" {
			printf(tw, "%s:\t%s\n", typ, s)
		}
	}
	_ = tw.Flush()
}

// printLineItems writes the line items with unit and extended prices and the total.
func printLineItems(out io.Writer, cart *pcv1alpha1.PartnerCart) {
	st := &cart.Status
	prices := map[int32]pcv1alpha1.CartLineItemStatus{}
	if st.Cart != nil {
		for _, l := range st.Cart.LineItems {
			prices[l.ID] = l
		}
	}
	rows := [][]string{{"ID", "CATALOG ITEM", "NAME", "QTY", "BILLING", "TERM", "UNIT PRICE", "EXTENDED PRICE", "CURRENCY"}}
	row := func(l pcv1alpha1.LineItemFields, addonOf int32) {
		p := prices[l.ID]
		id := fmt.Sprint(l.ID)
		name := l.FriendlyName
		if addonOf != 0 {
			id = fmt.Sprintf("+%d", l.ID)
			name = strings.TrimSpace(name + " (add-on of " + fmt.Sprint(addonOf) + ")")
		}
		rows = append(rows, []string{id, l.CatalogItemID, dash(name), fmt.Sprint(l.Quantity), string(l.BillingCycle),
			dash(l.TermDuration), dash(p.Price), dash(p.ExtendedPrice), dash(p.CurrencyCode)})
	}
	for _, l := range cart.Spec.LineItems {
		row(l.LineItemFields, 0)
		for _, a := range l.AddonItems {
			row(a.LineItemFields, l.ID)
		}
	}
	totalText, cur := "-", "-"
	if st.Cart != nil && st.Cart.QuotedTotal != "" {
		totalText, cur = st.Cart.QuotedTotal, dash(st.Cart.CurrencyCode)
	}
	rows = append(rows, []string{"", "", "", "", "", "", "TOTAL", totalText, cur})
	writeTable(out, rows, map[int]bool{3: true, 6: true, 7: true})
}

// printErrorsAndOrders writes the line errors, the orders and the order errors.
func printErrorsAndOrders(out io.Writer, cart *pcv1alpha1.PartnerCart) {
	st := &cart.Status
	if len(st.LineItemErrors) > 0 {
		printLine(out)
		printLine(out, "Line errors:")
		for _, e := range st.LineItemErrors {
			printf(out, "  line %d: error %d: %s", e.LineItemID, e.ErrorCode, dash(e.ErrorDescription))
			if len(e.AdditionalInformation) > 0 {
				kv := make([]string, 0, len(e.AdditionalInformation))
				for _, k := range slices.Sorted(maps.Keys(e.AdditionalInformation)) {
					kv = append(kv, k+"="+e.AdditionalInformation[k])
				}
				printf(out, " [%s]", strings.Join(kv, ", "))
			}
			printLine(out)
		}
	}
	if len(st.Orders) > 0 {
		printLine(out)
		printf(out, "Orders (total %s):\n", dash(total(cart)))
		for _, o := range st.Orders {
			printf(out, "  %s  %s  %s %s\n", o.ID, dash(o.Status), dash(o.TotalPrice), o.CurrencyCode)
		}
	}
	if len(st.OrderErrors) > 0 {
		printLine(out)
		printLine(out, "Order errors:")
		for _, e := range st.OrderErrors {
			printf(out, "  order group %s: error %d: %s\n", e.OrderGroupID, e.Code, dash(e.Description))
		}
	}
}

// printCancellationRequest prints spec.cancellation: what was asked, by whom, and its approval.
func printCancellationRequest(tw io.Writer, name string, req *pcv1alpha1.Cancellation) {
	s := linesText(req.LineItems)
	if !req.Requested {
		s = "withdrawn"
	}
	if req.RequestedBy != "" {
		s += " by " + req.RequestedBy
	}
	if req.RequestedAt != "" {
		s += " at " + req.RequestedAt
	}
	if req.Reason != "" {
		s += "; reason: " + oneLine(req.Reason)
	}
	printf(tw, "  Requested:\t%s\n", s)
	a := "not approved ('kubectl partnercart approve --cancellation " + name + "')"
	if req.Approved {
		a = "approved"
	}
	if req.ApprovedBy != "" {
		a += " by " + req.ApprovedBy
	}
	if req.ApprovedAt != "" {
		a += " at " + req.ApprovedAt
	}
	printf(tw, "  Approval:\t%s\n", a)
}

// printCancellation writes the requested cancellation and, once the operator started it,
// each subscription's outcome, code and refund.
func printCancellation(out io.Writer, cart *pcv1alpha1.PartnerCart) {
	req, st := cart.Spec.Cancellation, cart.Status.Cancellation
	if (req == nil || !req.Requested) && st == nil {
		return
	}
	printLine(out)
	printLine(out, "Cancellation:")
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	if req != nil {
		printCancellationRequest(tw, cart.Name, req)
	}
	if st != nil {
		s := st.StartedAt.UTC().Format(time.RFC3339) + " (approved by " + dash(st.ApprovedBy) + ", requested by " + dash(st.RequestedBy) + ")"
		printf(tw, "  Started:\t%s\n", s)
		if st.CompletedAt != nil {
			printf(tw, "  Completed:\t%s\n", st.CompletedAt.UTC().Format(time.RFC3339))
		}
		if st.ReceiptName != "" {
			printf(tw, "  Receipt:\t%s\n", st.ReceiptName)
		}
	}
	_ = tw.Flush()
	if st == nil || len(st.Subscriptions) == 0 {
		return
	}
	printLine(out)
	rows := [][]string{{"SUBSCRIPTION", "ORDER", "LINE", "OFFER", "OUTCOME", "ATTEMPTS", "CODE", "REFUND", "CANCELLED", "MESSAGE"}}
	for _, sc := range st.Subscriptions {
		line, refund, at := "-", "-", "-"
		if sc.LineItemID != nil {
			line = lineLabel(cart, *sc.LineItemID)
		}
		if r := sc.Refund; r != nil {
			refund = strings.TrimSpace(r.Type + " " + strings.TrimSpace(r.Amount+" "+r.Currency))
		}
		if sc.CancelledAt != nil {
			at = sc.CancelledAt.UTC().Format(time.RFC3339)
		}
		rows = append(rows, []string{sc.SubscriptionID, sc.OrderID, line, dash(sc.OfferID), string(sc.Outcome), fmt.Sprint(sc.Attempts),
			dash(sc.Code), refund, at, dash(oneLine(sc.Message))})
	}
	var b strings.Builder
	writeTable(&b, rows, map[int]bool{5: true})
	for _, l := range strings.SplitAfter(b.String(), "\n") {
		if l != "" {
			printText(out, "  "+l)
		}
	}
}

// quoteFreshness says whether the prices shown are the ones Partner Center quoted for the spec
// as it is now: an approver must not approve a quote of an earlier spec.
func quoteFreshness(cart *pcv1alpha1.PartnerCart) string {
	st := &cart.Status
	switch {
	case st.Cart == nil || st.Cart.QuotedTotal == "":
		return "none yet (Partner Center has not priced this cart)"
	case st.ObservedGeneration != cart.Generation:
		return fmt.Sprintf("stale: the spec changed (generation %d) since the operator last looked (generation %d); wait", cart.Generation, st.ObservedGeneration)
	case st.Cart.SyncedSpecHash != st.SpecHash:
		return "stale: the quote is for an earlier spec; wait for the operator to update the cart"
	default:
		return "for the current spec"
	}
}

func approvalDetail(cart *pcv1alpha1.PartnerCart) string {
	a := cart.Spec.Approval
	var parts []string
	switch {
	case a.Denied:
		s := "DENIED"
		if a.ApprovedBy != "" {
			s += " by " + a.ApprovedBy
		}
		if a.ApprovedAt != "" {
			s += " at " + a.ApprovedAt
		}
		parts = append(parts, s)
	case !a.Approved:
		parts = append(parts, "not approved")
	default:
		s := "approved"
		if a.ApprovedBy != "" {
			s += " by " + a.ApprovedBy
		}
		if a.ApprovedAt != "" {
			s += " at " + a.ApprovedAt
		}
		parts = append(parts, s)
		switch {
		case a.SpecHash == "":
			parts = append(parts, "not pinned to a spec hash")
		case a.SpecHash != cart.Status.SpecHash:
			parts = append(parts, "pinned to "+a.SpecHash+", which is NOT the current spec hash")
		default:
			parts = append(parts, "pinned to the current spec hash")
		}
	}
	if a.MaxTotalPrice != "" {
		parts = append(parts, "max total "+a.MaxTotalPrice)
	}
	if a.Reason != "" {
		parts = append(parts, "reason: "+oneLine(a.Reason))
	}
	if a.RequestedBy != "" {
		parts = append(parts, "requested by "+a.RequestedBy)
	}
	return strings.Join(parts, "; ")
}

// writeTable writes rows in columns two spaces apart, the columns in right right-aligned
// (amounts and quantities), the others left-aligned.
func writeTable(out io.Writer, rows [][]string, right map[int]bool) {
	var widths []int
	for _, r := range rows {
		for i, cell := range r {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], len(cell))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, cell := range r {
			if i > 0 {
				b.WriteString("  ")
			}
			pad := strings.Repeat(" ", widths[i]-len(cell))
			if right[i] {
				b.WriteString(pad + cell)
			} else {
				b.WriteString(cell + pad)
			}
		}
		printLine(out, strings.TrimRight(b.String(), " "))
	}
}

// customerLine is the customer ID with the company Partner Center names for it, so that an
// approver sees a mistyped tenant ID as the wrong company.
func customerLine(cart *pcv1alpha1.PartnerCart) string {
	c := cart.Status.Customer
	if c == nil || c.ID != cart.Spec.CustomerID || c.CompanyName == "" {
		return cart.Spec.CustomerID + " (company not read yet)"
	}
	line := cart.Spec.CustomerID + " (" + c.CompanyName
	if c.Domain != "" {
		line += ", " + c.Domain
	}
	return line + ")"
}
