package pcsim

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	pc "github.com/partnercart/partnercart-operator/internal/partnercenter"
)

// Per-line error codes pcsim reports in lineItems[i].error. Partner Center keeps creating
// the cart (HTTP 201) and only refuses the checkout (800009) while a line has an error.
const (
	lineErrUnknownProduct      = 400013 // product not found
	lineErrUnknownAvailability = 400019 // sku or availability not found
	lineErrScopeNotSupported   = 900312 // provisioningContext.scope not supported
	lineErrNeedsEntitlementID  = 900313 // provisioningContext.entitlementId missing (scope single)
	lineErrNeedsSubscriptionID = 900317 // provisioningContext.subscriptionId missing
)

// hoursPerMonth converts an hourly savings-plan commitment to a monthly one, as Azure does.
const hoursPerMonth = 730

// priceLines validates and prices a cart's lines (and nested add-ons) the way Partner Center
// fills in a cart response: currency, orderGroup, pricing or an error per line. Each order
// group becomes one order at checkout; add-ons join their parent's group, since they are
// bought against the parent's subscription. See orderGroups for how lines are grouped.
func (s *Server) priceLines(in []pc.CartLineItem) []pc.CartLineItem {
	groups := &orderGroups{ids: map[string]string{}, perLine: s.opts.OrderGroupPerLine}
	out := make([]pc.CartLineItem, len(in))
	for i := range in {
		out[i] = s.priceTree(in[i], groups, nil)
	}
	return out
}

// priceTree prices one line and its add-ons; parent is nil for a top-level line.
func (s *Server) priceTree(li pc.CartLineItem, groups *orderGroups, parent *pc.CartLineItem) pc.CartLineItem {
	out := s.priceLine(li)
	if out.Error == nil {
		if parent == nil {
			out.OrderGroup = groups.groupFor(out)
		} else {
			// An add-on of a broken parent cannot be ordered either, so it stays without a group.
			out.OrderGroup = parent.OrderGroup
		}
	}
	if len(li.AddonItems) > 0 {
		out.AddonItems = make([]pc.CartLineItem, len(li.AddonItems))
		for j := range li.AddonItems {
			out.AddonItems[j] = s.priceTree(li.AddonItems[j], groups, &out)
		}
	}
	return out
}

// orderGroups assigns a cart's lines to order groups as Partner Center's published
// multi-type cart does: an Azure plan, two reservations, perpetual software, a SaaS
// subscription and a SaaS trial went into "OMS-0" (the legacy offer), "0" (reservations and
// software, one_time), "1" (SaaS, monthly) and "2" (the trial, none). So a group is:
//
//   - legacy offers (IDs without colons: the Azure plan, license-based GUID offers) by billing
//     cycle, numbered "OMS-0", "OMS-1", ...;
//   - every other line by product type and billing cycle, numbered "0", "1", ... in the order
//     the groups first appear; the product types are new-commerce license-based products
//     (product IDs CFQ7TTC0...) and the rest (Azure reservations and software, marketplace).
//
// Which lines share a group is Partner Center's choice, and a client must not assume it:
// OrderGroupPerLine puts every top-level line in a group of its own, so that lines of one
// billing cycle are bought in several orders.
type orderGroups struct {
	ids            map[string]string // group key -> order group ID
	modern, legacy int               // groups numbered so far
	perLine        bool
}

func (g *orderGroups) groupFor(li pc.CartLineItem) string {
	cycle := strings.ToLower(li.BillingCycle)
	legacy := !strings.Contains(li.CatalogItemID, ":")
	var key string
	switch {
	case g.perLine:
		key = "line/" + strconv.Itoa(g.modern+g.legacy)
	case legacy:
		key = "legacy/" + cycle
	case strings.HasPrefix(strings.ToUpper(li.CatalogItemID), "CFQ7TTC0"):
		key = "license/" + cycle
	default:
		key = "other/" + cycle
	}
	if id, ok := g.ids[key]; ok {
		return id
	}
	var id string
	if legacy && !g.perLine {
		id = "OMS-" + strconv.Itoa(g.legacy)
		g.legacy++
	} else {
		id = strconv.Itoa(g.modern)
		g.modern++
	}
	g.ids[key] = id
	return id
}

// priceLine validates one line against the catalog, ignoring its add-ons. Fields the
// server owns (error, pricing, orderGroup, currencyCode) are never taken from the request.
func (s *Server) priceLine(li pc.CartLineItem) pc.CartLineItem {
	out := li
	out.Error, out.Pricing, out.OrderGroup, out.CurrencyCode, out.AddonItems = nil, nil, "", "", nil

	item, productKnown := s.catalog.lookup(li.CatalogItemID)
	if item == nil {
		out.Error = unknownItemError(li, productKnown)
		return out
	}
	term, cerr := checkTerms(item, &out)
	if cerr != nil {
		out.Error = cerr
		return out
	}
	if cerr := checkQuantity(item, li); cerr != nil {
		out.Error = cerr
		return out
	}
	if item.AttestationRequired && (li.AttestationAccepted == nil || !*li.AttestationAccepted) {
		out.Error = lineError(pc.CartErrorAttestationNotAccepted,
			"Attestation must be accepted for %s (set attestationAccepted to true) on line item %d.", li.CatalogItemID, li.ID)
		return out
	}
	if cerr := checkProvisioningContext(item, li); cerr != nil {
		out.Error = cerr
		return out
	}
	unit, cerr := monthlyUnitCents(item, li)
	if cerr != nil {
		out.Error = cerr
		return out
	}
	out.CurrencyCode = "USD"
	out.Pricing = linePricing(item, unit, out.BillingCycle, term, li.Quantity)
	return out
}

func unknownItemError(li pc.CartLineItem, productKnown bool) *pc.CartError {
	if productKnown {
		return lineError(lineErrUnknownAvailability,
			"Availability %s referenced by line item %d was not found.", li.CatalogItemID, li.ID)
	}
	return lineError(lineErrUnknownProduct,
		"Product %s referenced by line item %d was not found.", productID(li.CatalogItemID), li.ID)
}

// checkTerms validates billing cycle and term, rewrites both to the catalog's spelling, and
// returns the term the line is priced for.
//
// A reservation may name its term the legacy way instead of termDuration: the published
// reserved-instance update-a-cart request sends provisioningContext {"Duration": "1Year"} and
// no termDuration, and Partner Center's answer keeps the line without one. So a line without
// termDuration whose provisioningContext has a duration the item sells is accepted, priced
// for that term, and left without termDuration.
func checkTerms(item *CatalogItem, out *pc.CartLineItem) (string, *pc.CartError) {
	cycle, ok := canonicalBillingCycle(out.BillingCycle, item.BillingCycles)
	if !ok {
		return "", lineError(pc.CartErrorInvalidInput,
			"Billing cycle '%s' of line item %d is not supported by %s; supported: %s.",
			out.BillingCycle, out.ID, item.CatalogItemID, strings.Join(item.BillingCycles, ", "))
	}
	term := strings.ToUpper(out.TermDuration)
	if term == "" && len(item.TermDurations) == 0 {
		out.BillingCycle, out.TermDuration = cycle, ""
		return "", nil // a term-less item (perpetual software, a legacy offer): no term is right
	}
	if d, ok := durationTerm(out.ProvisioningContext.Get("duration")); term == "" && ok && slices.Contains(item.TermDurations, d) {
		out.BillingCycle = cycle
		return d, nil
	}
	if !slices.Contains(item.TermDurations, term) {
		return "", lineError(pc.CartErrorInvalidInput,
			"Availability %s referenced by line item %d does not support term '%s'; supported: %s.",
			item.CatalogItemID, out.ID, out.TermDuration, termList(item.TermDurations))
	}
	out.BillingCycle, out.TermDuration = cycle, term
	return term, nil
}

// durationPattern is a reservation's legacy provisioning duration: "1Year", "3Years".
var durationPattern = regexp.MustCompile(`(?i)^\s*([1-9])\s*years?\s*$`)

// durationTerm returns the ISO-8601 term of a legacy duration ("1Year" is P1Y).
func durationTerm(duration string) (string, bool) {
	m := durationPattern.FindStringSubmatch(duration)
	if m == nil {
		return "", false
	}
	return "P" + m[1] + "Y", true
}

func checkQuantity(item *CatalogItem, li pc.CartLineItem) *pc.CartError {
	if li.Quantity >= 1 && li.Quantity <= item.MaxQuantity {
		return nil
	}
	cerr := lineError(pc.CartErrorInvalidInput,
		"Quantity %d of line item %d is not allowed for %s: it must be between 1 and the maximum of %d.",
		li.Quantity, li.ID, item.CatalogItemID, item.MaxQuantity)
	cerr.AdditionalInformation = map[string]any{"maximumQuantity": item.MaxQuantity, "requestedQuantity": li.Quantity}
	return cerr
}

// checkProvisioningContext enforces the catalog's provisioning rules with the codes Partner
// Center uses. Keys are matched case-insensitively (the published reserved-instance PUT sends
// "SubscriptionId" and "Scope"); values that are not strings count by their text. For an item
// with provisioningScopes the scope decides which Azure key is needed:
//
//   - shared: subscriptionId, the Azure plan ID (900317 when missing);
//   - single: entitlementId, the Azure subscription ID, or subscriptionId, which the published
//     create-a-cart sample sends for a single-scope reservation (900313 when both are missing);
//   - any other supported scope: neither.
//
// A missing or unsupported scope is 900312. Every other key in provisioningContextKeys is
// required whatever the scope (10010, or 900317 for subscriptionId on an unscoped item).
func checkProvisioningContext(item *CatalogItem, li pc.CartLineItem) *pc.CartError {
	pcx := li.ProvisioningContext
	scoped := len(item.ProvisioningScopes) > 0
	for _, key := range item.ProvisioningContextKeys {
		if strings.EqualFold(key, "scope") || (scoped && isAzureTargetKey(key)) {
			continue // checked below, with the scope
		}
		if pcx.Get(key) != "" {
			continue
		}
		if strings.EqualFold(key, "subscriptionId") {
			return needsSubscriptionID(li)
		}
		return lineError(pc.CartErrorInvalidInput,
			"The provisioningContext of line item %d must contain %s.", li.ID, key)
	}
	scope, hasScope := pcx.Lookup("scope")
	if !scoped && !hasScope && !containsFold(item.ProvisioningContextKeys, "scope") {
		return nil
	}
	if scope == "" || (scoped && !containsFold(item.ProvisioningScopes, scope)) {
		return lineError(lineErrScopeNotSupported,
			"Scope '%s' in the provisioningContext of line item %d is not supported; supported: %s.",
			scope, li.ID, strings.Join(item.ProvisioningScopes, ", "))
	}
	switch strings.ToLower(scope) {
	case "shared":
		if pcx.Get("subscriptionId") == "" {
			return needsSubscriptionID(li)
		}
	case "single":
		if pcx.Get("entitlementId") == "" && pcx.Get("subscriptionId") == "" {
			return lineError(lineErrNeedsEntitlementID,
				"The provisioningContext of line item %d must contain entitlementId (the Azure subscription ID) for scope 'single'.", li.ID)
		}
	}
	return nil
}

func needsSubscriptionID(li pc.CartLineItem) *pc.CartError {
	return lineError(lineErrNeedsSubscriptionID,
		"The provisioningContext of line item %d must contain subscriptionId (the Azure plan ID).", li.ID)
}

func isAzureTargetKey(key string) bool {
	return strings.EqualFold(key, "subscriptionId") || strings.EqualFold(key, "entitlementId")
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(v string) bool { return strings.EqualFold(v, s) })
}

// monthlyUnitCents is the catalog price, or for commitment-priced items (savings plans)
// the commitment converted to a month.
func monthlyUnitCents(item *CatalogItem, li pc.CartLineItem) (int64, *pc.CartError) {
	if !item.PurchaseCommitmentRequired {
		return item.unitCents, nil
	}
	pcm := li.PurchaseCommitment
	if pcm == nil || pcm.Amount == "" {
		return 0, lineError(pc.CartErrorInvalidInput,
			"Line item %d must have a purchaseCommitment with amount, currency and grain.", li.ID)
	}
	if pcm.Currency != "" && !strings.EqualFold(pcm.Currency, "USD") {
		return 0, lineError(pc.CartErrorInvalidInput,
			"The purchaseCommitment currency '%s' of line item %d is not supported; use USD.", pcm.Currency, li.ID)
	}
	amount, err := parseCents(pcm.Amount.String())
	if err != nil || amount == 0 {
		return 0, lineError(pc.CartErrorInvalidInput,
			"The purchaseCommitment amount '%s' of line item %d must be a positive amount with at most two decimals.",
			pcm.Amount, li.ID)
	}
	switch strings.ToLower(pcm.Grain) {
	case "", "monthly":
		return amount, nil
	case "hourly":
		return amount * hoursPerMonth, nil
	}
	return 0, lineError(pc.CartErrorInvalidInput,
		"The purchaseCommitment grain '%s' of line item %d is not supported; use monthly or hourly.", pcm.Grain, li.ID)
}

func termList(terms []string) string {
	if len(terms) == 0 {
		return "none (the item has no term)"
	}
	return strings.Join(terms, ", ")
}

// periodMonths is how many months one billing period of a recurring billing cycle covers.
func periodMonths(billingCycle string) int64 {
	switch billingCycle {
	case pc.BillingCycleMonthly:
		return 1
	case pc.BillingCycleAnnual:
		return 12
	case pc.BillingCycleBiennial:
		return 24
	case pc.BillingCycleTriennial:
		return 36
	}
	return 0
}

// linePricing prices a line the way Partner Center's published quotes do (create-a-cart NCE
// sample: monthly billing of a P1Y term at 30.40 a month has price 30.40 and extendedPrice
// 364.80; savings-plan sample: 0.05 an hour for P1Y is 438.00):
//
//   - listPrice, discountedPrice, proratedPrice and price are the unit price of one billing
//     period: the monthly price x 1 (monthly), 12 (annual), 24 (biennial) or 36 (triennial);
//     for one_time the price paid once (below);
//   - extendedPrice is the whole term: monthly unit price x quantity x months in the term for
//     a recurring cycle (P1M 1, P1Y 12, P3Y 36; at least one billing period); a term-less
//     recurring line (a legacy offer) is priced for one billing period;
//   - one_time is priced once: the monthly price x months in the term (reservations, savings
//     plans), or the item's oneTimePrice for a term-less line (perpetual software), x quantity;
//   - none (trials) is free.
func linePricing(item *CatalogItem, unitMonthlyCents int64, billingCycle, term string, quantity int) *pc.Pricing {
	months, hasTerm := termMonths(term)
	var unit, extended int64
	switch billingCycle {
	case pc.BillingCycleNone:
	case pc.BillingCycleOneTime:
		unit = unitMonthlyCents * months
		if !hasTerm {
			unit = item.oneTimeCents
		}
		extended = unit * int64(quantity)
	default:
		period := max(periodMonths(billingCycle), 1)
		unit = unitMonthlyCents * period
		extended = unit * int64(quantity)
		if hasTerm && months > period {
			extended = unitMonthlyCents * int64(quantity) * months
		}
	}
	price := formatCents(unit)
	return &pc.Pricing{
		ListPrice:       price,
		DiscountedPrice: price,
		ProratedPrice:   price,
		Price:           price,
		ExtendedPrice:   formatCents(extended),
	}
}

func lineError(code int, format string, args ...any) *pc.CartError {
	return &pc.CartError{ErrorCode: pc.FlexibleInt(code), ErrorDescription: fmt.Sprintf(format, args...)}
}

// hasLineErrors reports whether any line or add-on carries an error, which blocks checkout.
func hasLineErrors(lines []pc.CartLineItem) bool {
	for _, li := range lines {
		if li.Error != nil || hasLineErrors(li.AddonItems) {
			return true
		}
	}
	return false
}
