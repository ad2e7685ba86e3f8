package partnercenter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// The wire models below follow the two seed pages ("Update an existing cart" and "Check out an
// existing cart") field for field, with Partner Center's camelCase names. Prices are
// json.Number so that no float rounding happens between the wire and status.
//
// Decoding is tolerant where Partner Center is loose and strict where money is: error codes
// (FlexibleInt) are a JSON integer or a string holding one; amounts (Order.TotalPrice, every
// Pricing field, PurchaseCommitment.Amount) are a JSON number or a string holding one, and
// "" or null mean "no amount" (an empty json.Number); anything else fails the decoding, so
// that a price is never guessed.

// Cart is Microsoft.Partner.Services.Carts.V1.Models.Cart.
type Cart struct {
	ID                                 string              `json:"id,omitempty"`
	CreationTimestamp                  string              `json:"creationTimestamp,omitempty"`
	LastModifiedTimestamp              string              `json:"lastModifiedTimestamp,omitempty"`
	ExpirationTimestamp                string              `json:"expirationTimestamp,omitempty"`
	LastModifiedUser                   string              `json:"lastModifiedUser,omitempty"`
	Status                             string              `json:"status,omitempty"`
	PartnerOnRecordAttestationAccepted *bool               `json:"partnerOnRecordAttestationAccepted,omitempty"`
	LineItems                          []CartLineItem      `json:"lineItems"`
	Links                              *ResourceLinks      `json:"links,omitempty"`
	Attributes                         *ResourceAttributes `json:"attributes,omitempty"`
}

// Cart statuses documented by Partner Center.
const (
	CartStatusActive  = "Active"
	CartStatusOrdered = "Ordered"
)

// CartLineItem is Microsoft.Partner.Services.Carts.V1.Models.CartLineItem.
type CartLineItem struct {
	ID                  int                 `json:"id"`
	CatalogItemID       string              `json:"catalogItemId"`
	FriendlyName        string              `json:"friendlyName,omitempty"`
	Quantity            int                 `json:"quantity"`
	CurrencyCode        string              `json:"currencyCode,omitempty"`
	BillingCycle        string              `json:"billingCycle,omitempty"`
	TermDuration        string              `json:"termDuration,omitempty"`
	PromotionID         string              `json:"promotionId,omitempty"`
	CustomTermEndDate   string              `json:"customTermEndDate,omitempty"`
	AttestationAccepted *bool               `json:"attestationAccepted,omitempty"`
	ProvisioningContext ProvisioningContext `json:"provisioningContext,omitempty"`
	Participants        []KeyValuePair      `json:"participants,omitempty"`
	RenewsTo            *RenewsTo           `json:"renewsTo,omitempty"`
	PurchaseCommitment  *PurchaseCommitment `json:"purchaseCommitment,omitempty"`
	OrderGroup          string              `json:"orderGroup,omitempty"`
	AddonItems          []CartLineItem      `json:"addonItems,omitempty"`
	Pricing             *Pricing            `json:"pricing,omitempty"`
	Error               *CartError          `json:"error,omitempty"`
}

// CartError is Microsoft.Partner.Services.Carts.V1.Models.CartError: a per-line validation error.
// ErrorCode is an integer on the wire; values outside the documented enum do occur and are kept.
type CartError struct {
	ErrorCode             FlexibleInt    `json:"errorCode"`
	ErrorDescription      string         `json:"errorDescription,omitempty"`
	AdditionalInformation map[string]any `json:"additionalInformation,omitempty"`
}

// CartError codes the operator and pcsim refer to (SDK CartErrorCode enum).
const (
	CartErrorCatalogItemIDIsNotValid  = 10001
	CartErrorInvalidInput             = 10010
	CartErrorAttestationNotAccepted   = 10012
	CartErrorBillingPlanNotSupported  = 10013
	CartErrorMaxAllowedSeatsExceeded  = 10015
	CartErrorAvailabilityTermMismatch = 400039
)

// CartCheckoutResult is Microsoft.Partner.Services.Carts.V1.Models.CartCheckoutResult.
type CartCheckoutResult struct {
	Orders      []Order      `json:"orders,omitempty"`
	OrderErrors []OrderError `json:"orderErrors,omitempty"`
	// AdditionalInformation appears in the published savings-plan checkout answer (as an
	// empty array) with no documented element type; each element is kept as it came.
	AdditionalInformation []json.RawMessage   `json:"additionalInformation,omitempty"`
	Attributes            *ResourceAttributes `json:"attributes,omitempty"`
}

// Customer is the part of Microsoft.Partner.Services.Customers.Models.Customer the operator
// shows: who a cart buys for, so that a mistyped tenant ID is seen before anyone approves.
type Customer struct {
	ID             string                 `json:"id"`
	CompanyProfile CustomerCompanyProfile `json:"companyProfile"`
}

// CustomerCompanyProfile is a customer's company profile (CustomerCompanyProfile).
type CustomerCompanyProfile struct {
	TenantID    string `json:"tenantId,omitempty"`
	Domain      string `json:"domain,omitempty"`
	CompanyName string `json:"companyName,omitempty"`
}

// Order is Microsoft.Partner.Services.Orders.V2.Models.Order.
type Order struct {
	ID                  string          `json:"id"`
	AlternateID         string          `json:"alternateId,omitempty"`
	ReferenceCustomerID string          `json:"referenceCustomerId,omitempty"`
	BillingCycle        string          `json:"billingCycle,omitempty"`
	CurrencyCode        string          `json:"currencyCode,omitempty"`
	CurrencySymbol      string          `json:"currencySymbol,omitempty"`
	LineItems           []OrderLineItem `json:"lineItems,omitempty"`
	CreationDate        string          `json:"creationDate,omitempty"`
	Status              string          `json:"status,omitempty"`
	TransactionType     string          `json:"transactionType,omitempty"`
	TotalPrice          json.Number     `json:"totalPrice,omitempty"`
	// PartnerOnRecordAttestationAccepted is the partner-of-record attestation of an order
	// placed for an indirect reseller (SDK Order.PartnerOnRecordAttestationAccepted).
	PartnerOnRecordAttestationAccepted *bool               `json:"partnerOnRecordAttestationAccepted,omitempty"`
	Client                             *ClientContext      `json:"client,omitempty"`
	Links                              *OrderLinks         `json:"links,omitempty"`
	Attributes                         *ResourceAttributes `json:"attributes,omitempty"`
}

// Order statuses, in the spelling NormalizeOrderStatus returns. The wire uses spaces
// ("partial success") in some documents, underscores ("partial_success") in the seed's enum,
// and camel case ("PartialSuccess") elsewhere; Order.Status keeps what came.
const (
	OrderStatusUnknown          = "unknown"
	OrderStatusCompleted        = "completed"
	OrderStatusPending          = "pending"
	OrderStatusCancelled        = "cancelled"
	OrderStatusSuspended        = "suspended"
	OrderStatusPendingReview    = "pending review"
	OrderStatusPendingPOUpload  = "pending po upload"
	OrderStatusPOUploadComplete = "po upload complete"
	OrderStatusPOReviewRejected = "po review rejected"
	OrderStatusPartialSuccess   = "partial success"
	OrderStatusError            = "error"
)

// NormalizeOrderStatus returns the OrderStatus constant an order status spells, comparing
// case-insensitively and ignoring spaces, underscores and hyphens, so "PartialSuccess",
// "partial_success", "Partial-Success" and "partial success" are all OrderStatusPartialSuccess.
// A status that is none of the constants is lower-cased with its word breaks (spaces,
// underscores, hyphens) spelt as single spaces.
func NormalizeOrderStatus(s string) string {
	if known, ok := orderStatusByKey[orderStatusKey(s)]; ok {
		return known
	}
	s = strings.NewReplacer("_", " ", "-", " ").Replace(strings.ToLower(s))
	return strings.Join(strings.Fields(s), " ")
}

// orderStatusKey is s lower-cased without white space, underscores or hyphens.
func orderStatusKey(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r == '-' || unicode.IsSpace(r) {
			return -1
		}
		return r
	}, strings.ToLower(s))
}

var orderStatusByKey = func() map[string]string {
	m := map[string]string{}
	for _, s := range []string{OrderStatusUnknown, OrderStatusCompleted, OrderStatusPending, OrderStatusCancelled,
		OrderStatusSuspended, OrderStatusPendingReview, OrderStatusPendingPOUpload, OrderStatusPOUploadComplete,
		OrderStatusPOReviewRejected, OrderStatusPartialSuccess, OrderStatusError} {
		m[orderStatusKey(s)] = s
	}
	return m
}()

// OrderStatusIsTerminal reports whether Partner Center is done with an order. Statuses that
// wait for the partner (reviews, PO uploads) and unknown values are not terminal: the operator
// keeps watching them, slowly, rather than declaring an outcome it cannot know.
func OrderStatusIsTerminal(s string) bool {
	switch NormalizeOrderStatus(s) {
	case OrderStatusCompleted, OrderStatusCancelled, OrderStatusError, OrderStatusPartialSuccess,
		OrderStatusPOReviewRejected, OrderStatusSuspended:
		return true
	}
	return false
}

// UnmarshalJSON decodes an Order, reading TotalPrice as an amount ("" and null: no price).
func (o *Order) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return nil
	}
	type plain Order // no methods: decodes the ordinary way
	var w struct {
		plain
		TotalPrice amount `json:"totalPrice"` // shadows plain.TotalPrice
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*o = Order(w.plain)
	o.TotalPrice = json.Number(w.TotalPrice)
	return nil
}

// OrderLineItem is Microsoft.Partner.Services.Orders.V2.Models.OrderLineItem.
type OrderLineItem struct {
	LineItemNumber       int    `json:"lineItemNumber"`
	OfferID              string `json:"offerId,omitempty"`
	SubscriptionID       string `json:"subscriptionId,omitempty"`
	ParentSubscriptionID string `json:"parentSubscriptionId,omitempty"`
	TermDuration         string `json:"termDuration,omitempty"`
	TransactionType      string `json:"transactionType,omitempty"`
	FriendlyName         string `json:"friendlyName,omitempty"`
	PartnerIDOnRecord    string `json:"partnerIdOnRecord,omitempty"`
	// AdditionalPartnerIDsOnRecord are the additional indirect resellers (EU/EFTA only, at
	// most five) the line is attributed to, as the cart's additional_transaction_reseller
	// participants asked.
	AdditionalPartnerIDsOnRecord []string            `json:"additionalPartnerIdsOnRecord,omitempty"`
	Quantity                     int                 `json:"quantity"`
	PromotionID                  string              `json:"promotionId,omitempty"`
	CustomTermEndDate            string              `json:"customTermEndDate,omitempty"`
	AttestationAccepted          *bool               `json:"attestationAccepted,omitempty"`
	ProvisioningContext          ProvisioningContext `json:"provisioningContext,omitempty"`
	RenewsTo                     *RenewsTo           `json:"renewsTo,omitempty"`
	PurchaseCommitment           *PurchaseCommitment `json:"purchaseCommitment,omitempty"`
	Pricing                      *Pricing            `json:"pricing,omitempty"`
	Links                        *OrderLineItemLinks `json:"links,omitempty"`
	Attributes                   *ResourceAttributes `json:"attributes,omitempty"`
}

// OrderLineItemLinks is Microsoft.Partner.Services.Orders.V2.Models.OrderLineItemLinks.
type OrderLineItemLinks struct {
	ActivationLinks    *Link `json:"activationLinks,omitempty"`
	Availability       *Link `json:"availability,omitempty"`
	Product            *Link `json:"product,omitempty"`
	ProvisioningStatus *Link `json:"provisioningStatus,omitempty"`
	SKU                *Link `json:"sku,omitempty"`
	Subscription       *Link `json:"subscription,omitempty"`
}

// OrderLinks is Microsoft.Partner.Services.Orders.V2.Models.OrderLinks.
type OrderLinks struct {
	PatchOperation     *Link `json:"patchOperation,omitempty"`
	ProvisioningStatus *Link `json:"provisioningStatus,omitempty"`
	Self               *Link `json:"self,omitempty"`
}

// OrderError is Microsoft.Partner.Services.Orders.V2.Models.OrderError: an order group that
// failed at checkout.
type OrderError struct {
	OrderGroupID string              `json:"orderGroupId"`
	Code         FlexibleInt         `json:"code"`
	Description  string              `json:"description,omitempty"`
	Attributes   *ResourceAttributes `json:"attributes,omitempty"`
}

// Pricing is Microsoft.Partner.Services.Orders.V2.Models.Pricing.
type Pricing struct {
	ListPrice       json.Number `json:"listPrice,omitempty"`
	DiscountedPrice json.Number `json:"discountedPrice,omitempty"`
	ProratedPrice   json.Number `json:"proratedPrice,omitempty"`
	Price           json.Number `json:"price,omitempty"`
	ExtendedPrice   json.Number `json:"extendedPrice,omitempty"`
}

// UnmarshalJSON decodes Pricing, reading every field as an amount ("" and null: no price).
func (p *Pricing) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return nil
	}
	var w struct {
		ListPrice       amount `json:"listPrice"`
		DiscountedPrice amount `json:"discountedPrice"`
		ProratedPrice   amount `json:"proratedPrice"`
		Price           amount `json:"price"`
		ExtendedPrice   amount `json:"extendedPrice"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*p = Pricing{
		ListPrice:       json.Number(w.ListPrice),
		DiscountedPrice: json.Number(w.DiscountedPrice),
		ProratedPrice:   json.Number(w.ProratedPrice),
		Price:           json.Number(w.Price),
		ExtendedPrice:   json.Number(w.ExtendedPrice),
	}
	return nil
}

// PurchaseCommitment is the savings-plan commitment. Amount is a number on the wire.
type PurchaseCommitment struct {
	Amount   json.Number `json:"amount,omitempty"`
	Currency string      `json:"currency,omitempty"`
	Grain    string      `json:"grain,omitempty"`
}

// UnmarshalJSON decodes a PurchaseCommitment, reading Amount as an amount ("" and null: none).
func (p *PurchaseCommitment) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return nil
	}
	type plain PurchaseCommitment
	var w struct {
		plain
		Amount amount `json:"amount"` // shadows plain.Amount
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*p = PurchaseCommitment(w.plain)
	p.Amount = json.Number(w.Amount)
	return nil
}

// amount decodes a money amount: a JSON number, or a string holding one, is kept as written;
// "" (or white space) and null are no amount; anything else is an error.
type amount json.Number

// decimalPattern is the JSON number grammar (RFC 8259 section 6), with an exponent of at most
// three digits, so that no amount can make a big.Rat or big.Float of its readers enormous.
var decimalPattern = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]{1,3})?$`)

// maxAmountLength bounds an amount's text; no price has anywhere near as many digits.
const maxAmountLength = 64

// UnmarshalJSON accepts 12.30, "12.30", "" and null.
func (a *amount) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if isNull(b) {
		*a = ""
		return nil
	}
	raw := string(b)
	if b[0] == '"' {
		if err := json.Unmarshal(b, &raw); err != nil {
			return err
		}
		raw = strings.TrimSpace(raw)
	}
	if raw != "" && (len(raw) > maxAmountLength || !decimalPattern.MatchString(raw)) {
		return fmt.Errorf("amount must be a decimal number, an empty string or null, got %s", truncate(string(b), 32))
	}
	*a = amount(raw)
	return nil
}

func isNull(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) == 0 || bytes.Equal(b, []byte("null"))
}

// RenewsTo is the term a trial renews to.
type RenewsTo struct {
	TermDuration string `json:"termDuration,omitempty"`
}

// ClientContext is Microsoft.Partner.Services.Orders.V2.Models.ClientContext.
type ClientContext struct {
	DeviceFamily       string `json:"deviceFamily,omitempty"`
	MarketplaceCountry string `json:"marketplaceCountry,omitempty"`
	Name               string `json:"name,omitempty"`
}

// Link is Microsoft.Partner.Core.Collections.Link.
type Link struct {
	URI     string         `json:"uri,omitempty"`
	Method  string         `json:"method,omitempty"`
	Headers []KeyValuePair `json:"headers,omitempty"`
	Body    string         `json:"body,omitempty"`
}

// ResourceLinks is Microsoft.Partner.Core.Collections.ResourceLinks.
type ResourceLinks struct {
	Self     *Link `json:"self,omitempty"`
	Next     *Link `json:"next,omitempty"`
	Previous *Link `json:"previous,omitempty"`
}

// ResourceAttributes is Microsoft.Partner.Core.Collections.ResourceAttributes.
type ResourceAttributes struct {
	Etag       string `json:"etag,omitempty"`
	ObjectType string `json:"objectType,omitempty"`
}

// KeyValuePair is System.Collections.Generic.KeyValuePair[String,String] (also used for participants).
type KeyValuePair struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// OrderCollection is the body of GET .../orders.
type OrderCollection struct {
	TotalCount int                 `json:"totalCount"`
	Items      []Order             `json:"items"`
	Links      *ResourceLinks      `json:"links,omitempty"`
	Attributes *ResourceAttributes `json:"attributes,omitempty"`
}

// ErrorBody is Partner Center's HTTP error body (ApiFault). Code is a number or a string
// on the wire; Data is free-form.
type ErrorBody struct {
	Code        FlexibleString `json:"code"`
	Description string         `json:"description"`
	Data        []any          `json:"data,omitempty"`
	Source      string         `json:"source,omitempty"`
}

// ThrottleBody is the different body Partner Center sends with 429.
type ThrottleBody struct {
	StatusCode int    `json:"statusCode"`
	Message    string `json:"message"`
}

// FlexibleString decodes a JSON string or number into a string (error `code`).
type FlexibleString string

// UnmarshalJSON accepts "800064", 800064 and null.
func (s *FlexibleString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		*s = ""
		return nil
	}
	if b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = FlexibleString(v)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("code must be a string or a number, got %s", truncate(string(b), 32))
	}
	*s = FlexibleString(n.String())
	return nil
}

// FlexibleInt decodes a JSON integer, or a string holding one, into an int64 (CartError
// errorCode, OrderError code). Partner Center documents integers; a string is tolerated.
type FlexibleInt int64

// UnmarshalJSON accepts 10012, "10012" and null.
func (i *FlexibleInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		*i = 0
		return nil
	}
	raw := string(b)
	if b[0] == '"' {
		if err := json.Unmarshal(b, &raw); err != nil {
			return err
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
	if err != nil {
		return fmt.Errorf("error code must be an integer, got %s", truncate(string(b), 32))
	}
	*i = FlexibleInt(n)
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
