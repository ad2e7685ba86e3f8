package pcsim

import (
	"encoding/json"
	"net/http"
	"testing"

	. "github.com/onsi/gomega"

	pc "github.com/partnercart/partnercart-operator/internal/partnercenter"
)

// TestPricesAreWholeTerms pins the pricing rule of docs/pcsim.md: price is one billing
// period of one unit, extendedPrice the whole term of every unit, one_time is paid once.
func TestPricesAreWholeTerms(t *testing.T) {
	const (
		perpetual   = "DG7GMGF0DWTL:0001:DG7GMGF0DSFM" // oneTimePrice 1299.00, term-less
		legacy      = "91FD106F-4B2C-4938-95AC-F54F74E9A239"
		trial       = "DZH318Z0C0WF:0001:DZH318Z0BP69"
		savingsPlan = "DZH318Z09V6F:0001:DZH318Z0BLD3"
	)
	sp := func(term string, amount json.Number, grain string) pc.CartLineItem {
		l := line(0, savingsPlan, 1, "one_time", term)
		l.ProvisioningContext = pc.ProvisioningContext{"scope": "shared", "subscriptionId": "plan-1"}
		l.PurchaseCommitment = &pc.PurchaseCommitment{Amount: amount, Currency: "usd", Grain: grain}
		return l
	}
	ri := line(0, reservedVM, 2, "one_time", "P3Y")
	ri.ProvisioningContext = pc.ProvisioningContext{"scope": "shared", "subscriptionId": "plan-1"}
	tests := []struct {
		name            string
		line            pc.CartLineItem
		price, extended string
	}{
		{"monthly billing of P1M", line(0, e5, 10, "monthly", "P1M"), "57.00", "570.00"},
		{"monthly billing of P1Y", line(0, e5, 25, "monthly", "P1Y"), "57.00", "17100.00"},
		{"annual billing of P1Y", line(0, e5, 10, "annual", "P1Y"), "684.00", "6840.00"},
		{"PascalCase billing cycle", line(0, e5, 1, "Monthly", "P1Y"), "57.00", "684.00"},
		{"reservation paid once for P3Y", ri, "2522.88", "5045.76"},
		{"perpetual software without a term", line(0, perpetual, 3, "one_time", ""), "1299.00", "3897.00"},
		{"legacy offer without a term: one period", line(0, legacy, 3, "monthly", ""), "12.50", "37.50"},
		{"trial", line(0, trial, 10, "none", "P1M"), "0.00", "0.00"},
		{"savings plan, hourly, P1Y", sp("P1Y", "0.05", "hourly"), "438.00", "438.00"},
		{"savings plan, monthly, P3Y", sp("P3Y", "100", "monthly"), "3600.00", "3600.00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			got := h.createCart(customerA, tt.line).LineItems[0]
			h.g.Expect(got.Error).To(BeNil())
			h.g.Expect(got.Pricing.Price.String()).To(Equal(tt.price))
			h.g.Expect(got.Pricing.ExtendedPrice.String()).To(Equal(tt.extended))
		})
	}
}

func TestProvisioningContextRulesDependOnTheScope(t *testing.T) {
	const savingsPlan = "DZH318Z09V6F:0001:DZH318Z0BLD3"
	withContext := func(pcx pc.ProvisioningContext) pc.CartLineItem {
		l := line(0, reservedVM, 1, "one_time", "P1Y")
		l.ProvisioningContext = pcx
		return l
	}
	tests := []struct {
		name string
		line pc.CartLineItem
		code int64 // 0: accepted
	}{
		{"shared with subscriptionId", withContext(pc.ProvisioningContext{"scope": "shared", "subscriptionId": "plan"}), 0},
		{"keys in PascalCase", withContext(pc.ProvisioningContext{"Scope": "Shared", "SubscriptionId": "plan"}), 0},
		{"shared without subscriptionId", withContext(pc.ProvisioningContext{"scope": "shared", "entitlementId": "sub"}), 900317},
		{"single with entitlementId", withContext(pc.ProvisioningContext{"scope": "single", "entitlementId": "sub"}), 0},
		{"single with subscriptionId", withContext(pc.ProvisioningContext{"scope": "single", "subscriptionId": "sub"}), 0},
		{"single without either", withContext(pc.ProvisioningContext{"scope": "single"}), 900313},
		{"no scope", withContext(pc.ProvisioningContext{"subscriptionId": "plan"}), 900312},
		{"unsupported scope", withContext(pc.ProvisioningContext{"scope": "galaxy", "subscriptionId": "plan"}), 900312},
		{"scope that is not a string", withContext(pc.ProvisioningContext{"scope": true, "subscriptionId": "plan"}), 900312},
		{"term on a term-less item", line(0, "DG7GMGF0DWTL:0001:DG7GMGF0DSFM", 1, "one_time", "P1Y"), 10010},
		{"no term on an item with terms", line(0, e5, 1, "monthly", ""), 10010},
		{"savings plan single with entitlementId", func() pc.CartLineItem {
			l := line(0, savingsPlan, 1, "one_time", "P1Y")
			l.ProvisioningContext = pc.ProvisioningContext{"scope": "single", "entitlementId": "sub"}
			l.PurchaseCommitment = &pc.PurchaseCommitment{Amount: "0.05", Currency: "usd", Grain: "hourly"}
			return l
		}(), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			got := h.createCart(customerA, tt.line).LineItems[0]
			if tt.code == 0 {
				h.g.Expect(got.Error).To(BeNil())
				return
			}
			h.g.Expect(got.Error).NotTo(BeNil())
			h.g.Expect(int64(got.Error.ErrorCode)).To(Equal(tt.code), got.Error.ErrorDescription)
		})
	}
}

func TestCheckoutRefusedWith403(t *testing.T) {
	h := newHarness(t, Options{Faults: Faults{CheckoutFaults: map[string]CheckoutFault{
		e5: {RefuseFirstCheckout: &CheckoutRefusal{Status: http.StatusForbidden, Code: 900121, Description: "Insufficient credit limit."}},
	}}})
	cart := h.createCart(customerA, line(0, e5, 1, "monthly", "P1M"))
	resp, body := h.checkout(customerA, cart.ID)
	expectAPIError(h.g, resp, body, http.StatusForbidden, "900121")
	h.g.Expect(h.checkoutOK(customerA, cart.ID).Orders).To(HaveLen(1), "the refusal bought nothing; a new attempt can")
}
