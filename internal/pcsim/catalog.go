package pcsim

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

//go:embed default_catalog.json
var defaultCatalogJSON []byte

// Billing cycles Partner Center knows (SDK BillingCycleType, lower snake case on the wire).
var knownBillingCycles = []string{"monthly", "annual", "triennial", "biennial", "none", "one_time"}

var termPattern = regexp.MustCompile(`^P([1-9][0-9]?)([MY])$`)

// legacyOfferPattern is a legacy offer ID: a GUID (license-based offers) or a name such as
// MS-AZR-0145P (the Azure plan), without colons.
var legacyOfferPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*$`)

// maxCatalogQuantity bounds maxQuantity so that money math in cents stays far from overflow.
const maxCatalogQuantity = 1_000_000

// Catalog is the set of products pcsim sells. It is immutable once loaded, so every
// request reads it without locking.
type Catalog struct {
	// Items are the sellable availabilities, one per catalogItemId.
	Items []CatalogItem `json:"items"`

	byID     map[string]*CatalogItem
	products map[string]bool
}

// CatalogItem is one availability (productId:skuId:availabilityId) with its price and rules.
type CatalogItem struct {
	// CatalogItemID is productId:skuId:availabilityId.
	CatalogItemID string `json:"catalogItemId"`
	// Name is the product name, used as the order line's friendlyName when the cart has none.
	Name string `json:"name"`
	// UnitPriceMonthly is the USD list price per unit and month, a decimal string with at
	// most two decimals. Optional when PurchaseCommitmentRequired (the price is the commitment).
	UnitPriceMonthly string `json:"unitPriceMonthly,omitempty"`
	// OneTimePrice is the USD price of one unit of a term-less one_time item (perpetual
	// software), paid once. Required for such items, refused for others.
	OneTimePrice string `json:"oneTimePrice,omitempty"`
	// BillingCycles lists the accepted billingCycle values (see knownBillingCycles).
	BillingCycles []string `json:"billingCycles"`
	// TermDurations lists the accepted ISO-8601 terms, e.g. P1M, P1Y, P3Y. Empty makes a
	// term-less item (perpetual software, a legacy license-based offer): lines must not have a
	// term.
	TermDurations []string `json:"termDurations"`
	// AttestationRequired makes a line without attestationAccepted=true fail with 10012.
	AttestationRequired bool `json:"attestationRequired,omitempty"`
	// MaxQuantity is the largest quantity one line may buy.
	MaxQuantity int `json:"maxQuantity"`
	// ProvisioningContextKeys are keys every line's provisioningContext must carry.
	ProvisioningContextKeys []string `json:"provisioningContextKeys,omitempty"`
	// ProvisioningScopes are the accepted values of provisioningContext.scope.
	ProvisioningScopes []string `json:"provisioningScopes,omitempty"`
	// PurchaseCommitmentRequired makes the line need purchaseCommitment {amount, currency,
	// grain}; the commitment is then the monthly unit price (hourly grain x 730).
	PurchaseCommitmentRequired bool `json:"purchaseCommitmentRequired,omitempty"`
	// CheckoutOrderError, a test behaviour, makes the order group holding this item fail at
	// checkout with this OrderError instead of producing an order.
	CheckoutOrderError *CheckoutOrderError `json:"checkoutOrderError,omitempty"`
	// OrderFinalStatus, a test behaviour, is the status an order holding this item reaches
	// instead of "completed" (e.g. "error", "partial success").
	OrderFinalStatus string `json:"orderFinalStatus,omitempty"`

	unitCents    int64
	oneTimeCents int64
}

// CheckoutOrderError is the OrderError a CatalogItem's order group gets at checkout.
type CheckoutOrderError struct {
	// Code defaults to 800010 (inventory not available).
	Code int `json:"code,omitempty"`
	// Description defaults to a sentence naming the item.
	Description string `json:"description,omitempty"`
}

// DefaultCatalog returns the embedded catalog (see docs/pcsim.md for its table).
func DefaultCatalog() *Catalog {
	c, err := parseCatalog(defaultCatalogJSON)
	if err != nil {
		// The embedded file is part of the binary and covered by tests.
		panic(fmt.Sprintf("pcsim: embedded default catalog is invalid: %v", err))
	}
	return c
}

// LoadCatalog reads and validates a catalog JSON file.
func LoadCatalog(path string) (*Catalog, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	c, err := parseCatalog(data)
	if err != nil {
		return nil, fmt.Errorf("catalog %s: %w", path, err)
	}
	return c, nil
}

func parseCatalog(data []byte) (*Catalog, error) {
	var c Catalog
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields() // a typo in a test behaviour must not be silently ignored
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if err := c.index(); err != nil {
		return nil, err
	}
	return &c, nil
}

// index validates every item and builds the look-up maps.
func (c *Catalog) index() error {
	if len(c.Items) == 0 {
		return errors.New("no items")
	}
	c.byID = make(map[string]*CatalogItem, len(c.Items))
	c.products = make(map[string]bool, len(c.Items))
	for i := range c.Items {
		it := &c.Items[i]
		if err := it.validate(); err != nil {
			return fmt.Errorf("item %d (%s): %w", i, it.CatalogItemID, err)
		}
		if _, dup := c.byID[it.CatalogItemID]; dup {
			return fmt.Errorf("item %d: duplicate catalogItemId %s", i, it.CatalogItemID)
		}
		c.byID[it.CatalogItemID] = it
		c.products[productID(it.CatalogItemID)] = true
	}
	return nil
}

func (it *CatalogItem) validate() error {
	parts := strings.Split(it.CatalogItemID, ":")
	legacy := len(parts) == 1 && legacyOfferPattern.MatchString(it.CatalogItemID)
	if !legacy && (len(parts) != 3 || slices.Contains(parts, "")) {
		return errors.New("catalogItemId must be productId:skuId:availabilityId, or a legacy offer ID such as MS-AZR-0145P")
	}
	if it.Name == "" {
		return errors.New("name is required")
	}
	if err := it.validatePrice(); err != nil {
		return err
	}
	if it.MaxQuantity < 1 || it.MaxQuantity > maxCatalogQuantity {
		return fmt.Errorf("maxQuantity must be between 1 and %d", maxCatalogQuantity)
	}
	if len(it.BillingCycles) == 0 {
		return errors.New("billingCycles is required")
	}
	for i, bc := range it.BillingCycles {
		canon, ok := canonicalBillingCycle(bc, knownBillingCycles)
		if !ok {
			return fmt.Errorf("unknown billing cycle %q", bc)
		}
		it.BillingCycles[i] = canon
	}
	for i, t := range it.TermDurations {
		it.TermDurations[i] = strings.ToUpper(t)
		if !termPattern.MatchString(it.TermDurations[i]) {
			return fmt.Errorf("term %q is not P<n>M or P<n>Y", t)
		}
	}
	return nil
}

func (it *CatalogItem) validatePrice() error {
	termless := len(it.TermDurations) == 0
	_, oneTime := canonicalBillingCycle("one_time", it.BillingCycles)
	if it.OneTimePrice != "" {
		if !termless || !oneTime {
			return errors.New("oneTimePrice is only for term-less items billed one_time")
		}
		cents, err := parseCents(it.OneTimePrice)
		if err != nil {
			return fmt.Errorf("oneTimePrice: %w", err)
		}
		it.oneTimeCents = cents
	} else if termless && oneTime {
		return errors.New("a term-less one_time item needs oneTimePrice")
	}
	if it.UnitPriceMonthly == "" {
		if it.PurchaseCommitmentRequired || it.OneTimePrice != "" {
			return nil
		}
		return errors.New("unitPriceMonthly is required")
	}
	cents, err := parseCents(it.UnitPriceMonthly)
	if err != nil {
		return fmt.Errorf("unitPriceMonthly: %w", err)
	}
	it.unitCents = cents
	return nil
}

// lookup finds an item; the boolean says whether at least its product is known, which
// separates "unknown product" (400013) from "unknown sku or availability" (400019).
func (c *Catalog) lookup(catalogItemID string) (item *CatalogItem, productKnown bool) {
	if it, ok := c.byID[catalogItemID]; ok {
		return it, true
	}
	return nil, c.products[productID(catalogItemID)]
}

func productID(catalogItemID string) string {
	p, _, _ := strings.Cut(catalogItemID, ":")
	return p
}

// canonicalBillingCycle matches a billing cycle case- and underscore-insensitively
// (the docs send both "Monthly" and "monthly", the SDK "one_time") and returns the
// allowed spelling.
func canonicalBillingCycle(bc string, allowed []string) (string, bool) {
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "_", "") }
	for _, a := range allowed {
		if norm(a) == norm(bc) {
			return a, true
		}
	}
	return "", false
}

// termMonths returns the number of months of an ISO-8601 term such as P1M or P3Y.
func termMonths(term string) (int64, bool) {
	m := termPattern.FindStringSubmatch(term)
	if m == nil {
		return 0, false
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	if m[2] == "Y" {
		n *= 12
	}
	return n, true
}
