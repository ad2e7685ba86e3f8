package controller

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
)

// This file translates between the PartnerCart API and Partner Center's wire models, and
// computes the values the exactly-once protocol depends on (the spec hash and request IDs).
// Everything here is a pure function.

// SpecHash is the hash of the canonical purchase content: the customer, the cart-level
// attestation and the line items. The order of line items, add-ons and participants does not
// count; everything else does. Approval, credentials and the deletion policy are not purchase
// content and do not change it.
func SpecHash(spec *pcv1alpha1.PartnerCartSpec) string {
	content := struct {
		CustomerID  string                       `json:"customerId"`
		Attestation *bool                        `json:"partnerOnRecordAttestationAccepted,omitempty"`
		LineItems   []partnercenter.CartLineItem `json:"lineItems"`
	}{
		CustomerID:  strings.ToLower(spec.CustomerID),
		Attestation: spec.PartnerOnRecordAttestationAccepted,
		LineItems:   canonicalLines(wireLineItems(spec.LineItems)),
	}
	b, err := json.Marshal(content)
	if err != nil { // cannot happen: the content has only strings, numbers, bools and maps
		panic(fmt.Sprintf("marshal purchase content: %v", err))
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// canonicalLines sorts lines, add-ons and participants so that order does not change the hash.
func canonicalLines(lines []partnercenter.CartLineItem) []partnercenter.CartLineItem {
	out := slices.Clone(lines)
	for i := range out {
		out[i].Participants = slices.Clone(out[i].Participants)
		slices.SortFunc(out[i].Participants, func(a, b partnercenter.KeyValuePair) int {
			return strings.Compare(a.Key+"\x00"+a.Value, b.Key+"\x00"+b.Value)
		})
		out[i].AddonItems = canonicalLines(out[i].AddonItems)
		if len(out[i].ProvisioningContext) == 0 {
			out[i].ProvisioningContext = nil
		}
		if len(out[i].AddonItems) == 0 {
			out[i].AddonItems = nil
		}
		if len(out[i].Participants) == 0 {
			out[i].Participants = nil
		}
	}
	slices.SortFunc(out, func(a, b partnercenter.CartLineItem) int { return a.ID - b.ID })
	return out
}

// wireCart is the cart to send with POST or PUT: every line item of the spec, in spec order.
func wireCart(spec *pcv1alpha1.PartnerCartSpec) *partnercenter.Cart {
	return &partnercenter.Cart{
		PartnerOnRecordAttestationAccepted: spec.PartnerOnRecordAttestationAccepted,
		LineItems:                          wireLineItems(spec.LineItems),
	}
}

func wireLineItems(items []pcv1alpha1.CartLineItem) []partnercenter.CartLineItem {
	out := make([]partnercenter.CartLineItem, 0, len(items))
	for _, it := range items {
		line := wireLine(it.LineItemFields)
		for _, addon := range it.AddonItems {
			line.AddonItems = append(line.AddonItems, wireLine(addon.LineItemFields))
		}
		out = append(out, line)
	}
	return out
}

func wireLine(f pcv1alpha1.LineItemFields) partnercenter.CartLineItem {
	line := partnercenter.CartLineItem{
		ID:                  int(f.ID),
		CatalogItemID:       f.CatalogItemID,
		FriendlyName:        f.FriendlyName,
		Quantity:            int(f.Quantity),
		BillingCycle:        partnercenter.NormalizeBillingCycle(string(f.BillingCycle)),
		TermDuration:        f.TermDuration,
		PromotionID:         f.PromotionID,
		CustomTermEndDate:   f.CustomTermEndDate,
		AttestationAccepted: f.AttestationAccepted,
		ProvisioningContext: partnercenter.ProvisioningContextOf(f.ProvisioningContext),
	}
	for _, p := range f.Participants {
		line.Participants = append(line.Participants, partnercenter.KeyValuePair{Key: string(p.Key), Value: p.Value})
	}
	if f.RenewsTo != nil {
		line.RenewsTo = &partnercenter.RenewsTo{TermDuration: f.RenewsTo.TermDuration}
	}
	if pc := f.PurchaseCommitment; pc != nil {
		// The CRD accepts a currency in either case (the published savings-plan sample sends
		// "usd"); the wire and the spec hash see it in upper case.
		line.PurchaseCommitment = &partnercenter.PurchaseCommitment{Amount: json.Number(pc.Amount), Currency: strings.ToUpper(pc.Currency), Grain: pc.Grain}
	}
	return line
}

// checkoutRequestID is the MS-RequestId of one checkout intent: UUIDv5 of (object UID,
// "checkout", cart ID) for the first intent, with the intent number from the second on. It is
// the same on every call of the intent and after any restart, so Partner Center can recognise
// a repeat; a new intent after a refusal is a new request, never a replay of the refusal.
func checkoutRequestID(uid types.UID, cartID string, intent int32) string {
	if intent <= 1 {
		return requestID(uid, "checkout", cartID)
	}
	return requestID(uid, "checkout", cartID, strconv.Itoa(int(intent)))
}

// createRequestID is the MS-RequestId of one cart creation. It includes the content and the
// cart being replaced, so a retry after a crash replays the same creation while a re-creation
// after expiry is a new request.
func createRequestID(uid types.UID, specHash, replacedCartID string) string {
	return requestID(uid, "create", specHash, replacedCartID)
}

// requestIDNamespace scopes the operator's UUIDv5 request IDs.
var requestIDNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://partnercart.dev/request-id"))

func requestID(uid types.UID, parts ...string) string {
	return uuid.NewSHA1(requestIDNamespace, []byte(string(uid)+"/"+strings.Join(parts, "/"))).String()
}

// cartStatus records what Partner Center returned for a cart written from specHash.
func cartStatus(c *partnercenter.Cart, specHash string) *pcv1alpha1.CartStatus {
	st := &pcv1alpha1.CartStatus{
		ID:                    c.ID,
		Status:                c.Status,
		CreationTimestamp:     parseTime(c.CreationTimestamp),
		ExpirationTimestamp:   parseTime(c.ExpirationTimestamp),
		LastModifiedTimestamp: parseTime(c.LastModifiedTimestamp),
		LastModifiedUser:      c.LastModifiedUser,
		SyncedSpecHash:        specHash,
	}
	var prices []string
	priced := true
	forEachLine(c.LineItems, func(l partnercenter.CartLineItem) {
		ls := pcv1alpha1.CartLineItemStatus{ID: int32(l.ID), OrderGroup: l.OrderGroup, CurrencyCode: l.CurrencyCode}
		if l.Pricing != nil {
			ls.Price, ls.ExtendedPrice = l.Pricing.Price.String(), l.Pricing.ExtendedPrice.String()
		}
		if ls.ExtendedPrice == "" {
			// Savings-plan carts come back without pricing; the commitment is the price.
			ls.ExtendedPrice = commitmentTotal(l)
			if ls.ExtendedPrice != "" && ls.CurrencyCode == "" {
				ls.CurrencyCode = strings.ToUpper(l.PurchaseCommitment.Currency)
			}
		}
		if ls.ExtendedPrice == "" {
			priced = false
		}
		if st.CurrencyCode == "" {
			st.CurrencyCode = l.CurrencyCode
		}
		prices = append(prices, ls.ExtendedPrice)
		st.LineItems = append(st.LineItems, ls)
	})
	if priced && len(prices) > 0 {
		if total, err := sumDecimals(prices); err == nil {
			st.QuotedTotal = total
		}
	}
	return st
}

// hoursPerMonth is how Azure turns an hourly savings-plan commitment into a monthly one.
const hoursPerMonth = 730

// commitmentTotal is what a savings-plan line commits to over its term, as Partner Center
// prices it at checkout (published sample: 0.05 USD an hour for P1Y is 438.0): the amount x
// 730 hours (hourly grain) or x 1 (monthly grain) x the months of the term. It is "" when the
// line has no commitment, an unknown grain or a term that is not P<n>M or P<n>Y.
func commitmentTotal(l partnercenter.CartLineItem) string {
	pcm := l.PurchaseCommitment
	if pcm == nil || pcm.Amount == "" {
		return ""
	}
	amount, ok := new(big.Rat).SetString(pcm.Amount.String())
	if !ok || amount.Sign() <= 0 {
		return ""
	}
	var perMonth int64
	switch strings.ToLower(pcm.Grain) {
	case "hourly":
		perMonth = hoursPerMonth
	case "monthly":
		perMonth = 1
	default:
		return ""
	}
	months := termMonths(l.TermDuration)
	if months == 0 {
		return ""
	}
	return formatDecimal(amount.Mul(amount, big.NewRat(perMonth*months, 1)))
}

// termMonths is the number of months of a P<n>M or P<n>Y term, 0 for anything else.
func termMonths(term string) int64 {
	term = strings.ToUpper(term)
	if len(term) < 3 || term[0] != 'P' {
		return 0
	}
	n, err := strconv.ParseInt(term[1:len(term)-1], 10, 64)
	if err != nil || n <= 0 || n > 100 {
		return 0
	}
	switch term[len(term)-1] {
	case 'M':
		return n
	case 'Y':
		return 12 * n
	}
	return 0
}

// lineItemErrors collects the per-line errors of a cart, add-ons included.
func lineItemErrors(c *partnercenter.Cart) []pcv1alpha1.LineItemError {
	var errs []pcv1alpha1.LineItemError
	forEachLine(c.LineItems, func(l partnercenter.CartLineItem) {
		if l.Error == nil {
			return
		}
		e := pcv1alpha1.LineItemError{LineItemID: int32(l.ID), ErrorCode: int64(l.Error.ErrorCode), ErrorDescription: l.Error.ErrorDescription}
		for k, v := range l.Error.AdditionalInformation {
			if e.AdditionalInformation == nil {
				e.AdditionalInformation = map[string]string{}
			}
			e.AdditionalInformation[k] = fmt.Sprint(v)
		}
		errs = append(errs, e)
	})
	return errs
}

func forEachLine(lines []partnercenter.CartLineItem, fn func(partnercenter.CartLineItem)) {
	for _, l := range lines {
		fn(l)
		forEachLine(l.AddonItems, fn)
	}
}

// orderStatus converts an order for status.
func orderStatus(o partnercenter.Order) pcv1alpha1.OrderStatus {
	st := pcv1alpha1.OrderStatus{
		ID:              o.ID,
		AlternateID:     o.AlternateID,
		Status:          o.Status,
		CreationDate:    parseTime(o.CreationDate),
		CurrencyCode:    o.CurrencyCode,
		TotalPrice:      o.TotalPrice.String(),
		BillingCycle:    o.BillingCycle,
		TransactionType: o.TransactionType,

		PartnerOnRecordAttestationAccepted: o.PartnerOnRecordAttestationAccepted,
	}
	for _, l := range o.LineItems {
		ls := pcv1alpha1.OrderLineItemStatus{
			LineItemNumber:       int32(l.LineItemNumber),
			OfferID:              l.OfferID,
			SubscriptionID:       l.SubscriptionID,
			ParentSubscriptionID: l.ParentSubscriptionID,
			Quantity:             int32(l.Quantity),
			FriendlyName:         l.FriendlyName,
			TermDuration:         l.TermDuration,
			TransactionType:      l.TransactionType,
			PartnerIDOnRecord:    l.PartnerIDOnRecord,
			PromotionID:          l.PromotionID,
			CustomTermEndDate:    l.CustomTermEndDate,
		}
		if ids := l.AdditionalPartnerIDsOnRecord; len(ids) > 0 {
			ls.AdditionalPartnerIDsOnRecord = slices.Clone(ids[:min(len(ids), maxAdditionalPartnerIDs)])
		}
		if l.Pricing != nil {
			ls.Price = l.Pricing.Price.String()
		}
		st.LineItems = append(st.LineItems, ls)
	}
	return st
}

// Bounds of the status copies of open-ended answer fields (the CRD's MaxItems/MaxLength).
const (
	maxAdditionalPartnerIDs = 16
)

func orderErrors(errs []partnercenter.OrderError) []pcv1alpha1.OrderError {
	out := make([]pcv1alpha1.OrderError, 0, len(errs))
	for _, e := range errs {
		out = append(out, pcv1alpha1.OrderError{OrderGroupID: e.OrderGroupID, Code: int64(e.Code), Description: e.Description})
	}
	return out
}

func parseTime(s string) *metav1.Time {
	if s == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil
	}
	mt := metav1.NewTime(t.UTC())
	return &mt
}

// sumDecimals adds decimal strings exactly.
func sumDecimals(values []string) (string, error) {
	total := new(big.Rat)
	for _, v := range values {
		r, ok := new(big.Rat).SetString(v)
		if !ok {
			return "", fmt.Errorf("%q is not a decimal number", v)
		}
		total.Add(total, r)
	}
	return formatDecimal(total), nil
}

// compareDecimals returns -1, 0 or 1 as a is less than, equal to or greater than b.
func compareDecimals(a, b string) (int, error) {
	ra, ok := new(big.Rat).SetString(a)
	if !ok {
		return 0, fmt.Errorf("%q is not a decimal number", a)
	}
	rb, ok := new(big.Rat).SetString(b)
	if !ok {
		return 0, fmt.Errorf("%q is not a decimal number", b)
	}
	return ra.Cmp(rb), nil
}

// formatDecimal prints a rational exactly when it has a finite decimal form of up to 8
// places, with at least two places (money), and rounded to 8 places otherwise.
func formatDecimal(r *big.Rat) string {
	for places := 2; places <= 8; places++ {
		scaled := new(big.Rat).Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(places)), nil)))
		if scaled.IsInt() {
			return r.FloatString(places)
		}
	}
	return r.FloatString(8)
}

// linesDiffer compares what an upstream cart holds with what the spec asks to buy, on every
// field that decides what is bought, for how long and at what price: line and add-on ids,
// catalog items, friendly names, quantities, billing cycles, terms, promotions, custom term
// end dates, provisioning contexts, participants, renewals and purchase commitments (a line's
// attestation when Partner Center states it: its published answers leave it out). It returns a
// description of the first difference, or "" when they match. Partner Center's spelling (case
// of enums and IDs, decimal form) does not count. The cart-level attestation is sent with every
// write and never echoed, so it is not compared.
func linesDiffer(upstream []partnercenter.CartLineItem, spec *pcv1alpha1.PartnerCartSpec) string {
	wanted := wireLineItems(spec.LineItems)
	want, got := lineKeys(wanted, nil, ""), lineKeys(upstream, wanted, "")
	for i := range max(len(want), len(got)) {
		switch {
		case i >= len(got):
			return "upstream lacks " + want[i]
		case i >= len(want):
			return "upstream has extra " + got[i]
		case want[i] != got[i]:
			return fmt.Sprintf("upstream has %s where the spec has %s", got[i], want[i])
		}
	}
	return ""
}

// contentHash is the hash of the purchase content of an upstream cart, in the form linesDiffer
// compares: equal for an upstream cart and the spec it matches. The intent and the receipt
// record it as what was bought.
func contentHash(customerID string, upstream []partnercenter.CartLineItem, spec *pcv1alpha1.PartnerCartSpec) string {
	sum := sha256.Sum256([]byte(strings.ToLower(customerID) + "\n" + strings.Join(lineKeys(upstream, wireLineItems(spec.LineItems), ""), "\n")))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// lineKeys describes each line and add-on by its purchase content, sorted, so that line order
// does not count: "line <id>: <item> x<quantity> <cycle> <term> {other fields}". stated holds
// the lines as sent: where an upstream line leaves out its attestation, the one sent counts.
func lineKeys(lines, stated []partnercenter.CartLineItem, parent string) []string {
	keys := make([]string, 0, len(lines))
	for _, l := range lines {
		sent := lineByID(stated, l.ID)
		if l.AttestationAccepted == nil && sent != nil {
			l.AttestationAccepted = sent.AttestationAccepted
		}
		key := fmt.Sprintf("%sline %d: %s x%d %s %s", parent, l.ID, strings.ToLower(l.CatalogItemID), l.Quantity,
			strings.ToLower(partnercenter.NormalizeBillingCycle(l.BillingCycle)), strings.ToUpper(l.TermDuration))
		if more := lineTerms(l); more != "" {
			key += " " + more
		}
		keys = append(keys, key)
		var sentAddons []partnercenter.CartLineItem
		if sent != nil {
			sentAddons = sent.AddonItems
		}
		keys = append(keys, lineKeys(l.AddonItems, sentAddons, fmt.Sprintf("%sline %d add-on ", parent, l.ID))...)
	}
	slices.Sort(keys)
	return keys
}

func lineByID(lines []partnercenter.CartLineItem, id int) *partnercenter.CartLineItem {
	for i := range lines {
		if lines[i].ID == id {
			return &lines[i]
		}
	}
	return nil
}

// lineTerms renders the line's content beyond item, quantity, cycle and term, each field
// folded to one spelling: "" when it has none.
func lineTerms(l partnercenter.CartLineItem) string {
	var terms []string
	add := func(name, value string) {
		if value != "" {
			terms = append(terms, name+"="+value)
		}
	}
	add("name", l.FriendlyName)
	add("promotion", strings.ToLower(l.PromotionID))
	add("customTermEnd", canonicalTime(l.CustomTermEndDate))
	if l.AttestationAccepted != nil {
		add("attestation", strconv.FormatBool(*l.AttestationAccepted))
	}
	if len(l.ProvisioningContext) > 0 {
		ctx := make([]string, 0, len(l.ProvisioningContext))
		for k, v := range l.ProvisioningContext {
			ctx = append(ctx, strings.ToLower(k)+":"+strings.ToLower(fmt.Sprint(v)))
		}
		slices.Sort(ctx)
		add("provisioning", strings.Join(ctx, ","))
	}
	if len(l.Participants) > 0 {
		ps := make([]string, 0, len(l.Participants))
		for _, p := range l.Participants {
			ps = append(ps, strings.ReplaceAll(strings.ToLower(p.Key), "_", "")+":"+p.Value)
		}
		slices.Sort(ps)
		add("participants", strings.Join(ps, ","))
	}
	if l.RenewsTo != nil {
		add("renewsTo", strings.ToUpper(l.RenewsTo.TermDuration))
	}
	if pc := l.PurchaseCommitment; pc != nil {
		amount := pc.Amount.String()
		if r, ok := new(big.Rat).SetString(amount); ok {
			amount = formatDecimal(r)
		}
		add("commitment", amount+" "+strings.ToUpper(pc.Currency)+" "+strings.ToLower(pc.Grain))
	}
	return strings.Join(terms, " ")
}

// canonicalTime is an RFC 3339 time in UTC, or the value as it came when it is not one.
func canonicalTime(v string) string {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC().Format(time.RFC3339Nano)
	}
	return v
}

// orderIDs lists the orders' IDs, for messages and the receipt.
func orderIDs(orders []pcv1alpha1.OrderStatus) string {
	ids := make([]string, 0, len(orders))
	for _, o := range orders {
		ids = append(ids, o.ID)
	}
	return strings.Join(ids, ", ")
}

// orderStatuses lists each order with its status.
func orderStatuses(orders []pcv1alpha1.OrderStatus) string {
	parts := make([]string, 0, len(orders))
	for _, o := range orders {
		parts = append(parts, o.ID+" "+o.Status)
	}
	return strings.Join(parts, ", ")
}

// failedOrders lists the orders that did not complete.
func failedOrders(orders []pcv1alpha1.OrderStatus) string {
	var parts []string
	for _, o := range orders {
		if partnercenter.NormalizeOrderStatus(o.Status) != partnercenter.OrderStatusCompleted {
			parts = append(parts, o.ID+" is "+o.Status)
		}
	}
	return strings.Join(parts, ", ")
}
