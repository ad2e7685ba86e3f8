package pcsim

import (
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"

	pc "github.com/partnercart/partnercart-operator/internal/partnercenter"
)

// cart is a stored cart. mu guards every field but the immutable id and customerID.
type cart struct {
	mu         sync.Mutex
	id         string
	customerID string

	status           string
	created          time.Time
	modified         time.Time
	expires          time.Time
	lastModifiedUser string
	porAttestation   *bool
	// lines are priced and never modified in place: PUT swaps in a new slice, so a
	// snapshot may share it.
	lines []pc.CartLineItem
	// checkingOut is true while a checkout holds the cart.
	checkingOut bool
	// outcome is the first successful checkout's result; a repeat returns it.
	outcome *checkoutOutcome
	// refusedFirst and refusedRepeat count the refusals this cart got from
	// CheckoutFault.RefuseFirstCheckout and RefuseRepeatCheckout.
	refusedFirst, refusedRepeat int
}

// expired reports whether an unordered cart is past its expiry. Ordered carts stay readable.
func (c *cart) expired(now time.Time) bool {
	return c.status != pc.CartStatusOrdered && !now.Before(c.expires)
}

// wire renders the cart as Partner Center returns it. The caller holds c.mu.
func (c *cart) wire() pc.Cart {
	return pc.Cart{
		ID:                                 c.id,
		CreationTimestamp:                  timestamp(c.created),
		LastModifiedTimestamp:              timestamp(c.modified),
		ExpirationTimestamp:                timestamp(c.expires),
		LastModifiedUser:                   c.lastModifiedUser,
		Status:                             c.status,
		PartnerOnRecordAttestationAccepted: c.porAttestation,
		LineItems:                          c.lines,
		Links: &pc.ResourceLinks{Self: &pc.Link{
			URI: "/customers/" + c.customerID + "/carts/" + c.id, Method: http.MethodGet, Headers: []pc.KeyValuePair{},
		}},
		Attributes: &pc.ResourceAttributes{ObjectType: "Cart"},
	}
}

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// createCart serves POST .../carts. Lines with errors still make a cart (201), as in
// Partner Center; only the checkout refuses them.
func (s *Server) createCart(c *call) response {
	var in pc.Cart
	if resp, ok := decodeCart(c.r, &in); !ok {
		return resp
	}
	ct := &cart{
		id:               uuid.NewString(),
		customerID:       c.customerID,
		status:           pc.CartStatusActive,
		created:          c.now,
		modified:         c.now,
		expires:          c.now.Add(s.opts.CartTTL),
		lastModifiedUser: c.clientID,
		porAttestation:   in.PartnerOnRecordAttestationAccepted,
		lines:            s.priceLines(in.LineItems),
	}
	body := ct.wire() // rendered before the cart is shared, so no lock is needed
	s.carts.put(ct.id, ct)
	s.stats.cartCreated()
	return response{status: http.StatusCreated, body: body}
}

// getCart serves GET .../carts/{cartId}.
func (s *Server) getCart(c *call) response {
	ct, resp, ok := s.findCart(c)
	if !ok {
		return resp
	}
	ct.mu.Lock()
	defer ct.mu.Unlock()
	if ct.expired(c.now) {
		return cartNotFound(ct.id)
	}
	return response{status: http.StatusOK, body: ct.wire()}
}

// updateCart serves PUT .../carts/{cartId}: a full replacement of the line items of an
// Active cart. Partner Center's sample answers 201.
func (s *Server) updateCart(c *call) response {
	ct, resp, ok := s.findCart(c)
	if !ok {
		return resp
	}
	var in pc.Cart
	if resp, ok := decodeCart(c.r, &in); !ok {
		return resp
	}
	lines := s.priceLines(in.LineItems) // outside the lock: validation needs no cart state
	ct.mu.Lock()
	defer ct.mu.Unlock()
	switch {
	case ct.expired(c.now):
		return cartNotFound(ct.id)
	case ct.status == pc.CartStatusOrdered:
		return apiError(http.StatusBadRequest, codeCartAlreadyBought,
			"Cart %s has already been submitted and cannot be changed.", ct.id)
	case ct.checkingOut:
		return cartBusy(ct.id)
	}
	ct.lines = lines
	ct.porAttestation = in.PartnerOnRecordAttestationAccepted
	ct.modified = c.now
	ct.lastModifiedUser = c.clientID
	return response{status: http.StatusCreated, body: ct.wire()}
}

// findCart looks a cart up by path; a cart of another customer does not exist for this one.
func (s *Server) findCart(c *call) (*cart, response, bool) {
	id := c.r.PathValue("cartId")
	ct, ok := s.carts.get(id)
	if !ok || ct.customerID != c.customerID {
		return nil, cartNotFound(id), false
	}
	return ct, response{}, true
}

func decodeCart(r *http.Request, in *pc.Cart) (response, bool) {
	if err := decodeBody(r, in); err != nil {
		return apiError(http.StatusBadRequest, codeInvalidInput, "The cart is not valid: %v.", err), false
	}
	if len(in.LineItems) == 0 {
		return apiError(http.StatusBadRequest, codeInvalidInput, "The cart must have at least one line item."), false
	}
	return response{}, true
}

func cartNotFound(id string) response {
	return apiError(http.StatusNotFound, codeCartNotFound, "Unable to retrieve cart ID %s.", id)
}

func cartBusy(id string) response {
	return apiError(http.StatusConflict, codeCartBusy, "Cart %s is being processed by another request.", id)
}

// ExpireCart makes an unordered cart expire now. It returns false if the cart does not
// exist or is already ordered (ordered carts never expire).
func (s *Server) ExpireCart(cartID string) bool {
	ct, ok := s.carts.get(cartID)
	if !ok {
		return false
	}
	ct.mu.Lock()
	defer ct.mu.Unlock()
	if ct.status == pc.CartStatusOrdered {
		return false
	}
	ct.expires = s.now()
	return true
}
