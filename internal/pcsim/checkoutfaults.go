package pcsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	pc "github.com/partnercart/partnercart-operator/internal/partnercenter"
)

// CheckoutFault is a set of deterministic checkout faults for the carts that hold one
// catalog item (Faults.CheckoutFaults is keyed by catalogItemId; lines and add-ons both
// count). Each field is one knob and may be combined with the others; docs/pcsim.md lists
// what each models and how it meets MS-RequestId replay. Precedence within one checkout
// POST: CheckoutNotFound, then RefuseRepeatCheckout (cart Ordered), then
// RefuseFirstCheckout (cart Active); a checkout that goes ahead answers with
// EmptyCheckoutAnswer or UndecodableCheckoutAnswer, if set, and LoseCheckoutAnswer drops
// the answer of the checkout that orders the cart.
type CheckoutFault struct {
	// RefuseFirstCheckout answers the first Count (default 1) checkout POSTs of an Active
	// cart with a 4xx refusal (default 400 800010) and creates nothing; later POSTs go
	// ahead. It comes after the cart's own checks (expired, busy, line errors).
	RefuseFirstCheckout *CheckoutRefusal `json:"refuseFirstCheckout,omitempty"`
	// LoseCheckoutAnswer commits the checkout that orders the cart (orders created, cart
	// Ordered, answer stored for MS-RequestId replay) and then closes the connection with
	// no answer. It happens once per cart, because a cart is ordered once.
	LoseCheckoutAnswer bool `json:"loseCheckoutAnswer,omitempty"`
	// RefuseRepeatCheckout answers a checkout POST of an Ordered cart with a 4xx refusal
	// (default 400 800065), Count times (default: every time), instead of the first
	// checkout's result. It applies before MS-RequestId replay, so a repeat with the
	// request ID of the checkout that ordered the cart is refused too.
	RefuseRepeatCheckout *CheckoutRefusal `json:"refuseRepeatCheckout,omitempty"`
	// EmptyCheckoutAnswer makes every successful checkout answer of the cart (the one that
	// orders it and repeats) a 2xx with neither orders nor orderErrors: "{}", "null" or
	// "empty" (no body). The orders are created all the same.
	EmptyCheckoutAnswer EmptyAnswer `json:"emptyCheckoutAnswer,omitempty"`
	// UndecodableCheckoutAnswer makes every successful checkout answer of the cart a 2xx
	// whose JSON does not decode into internal/partnercenter's CartCheckoutResult:
	// "nonNumericErrorCode", "nonNumericTotalPrice" or "truncated". The orders are created.
	UndecodableCheckoutAnswer UndecodableAnswer `json:"undecodableCheckoutAnswer,omitempty"`
	// AnswerStatus is the status of empty and undecodable answers: 200 or 201 (default
	// 201, what pcsim's checkout answers; the REST reference also lists 200).
	AnswerStatus int `json:"answerStatus,omitempty"`
	// CheckoutNotFound answers every checkout POST of the cart 404 800008, whatever its
	// state and MS-RequestId, and creates nothing. GET and PUT of the cart still work.
	CheckoutNotFound bool `json:"checkoutNotFound,omitempty"`
}

// CheckoutRefusal is the Partner Center error a refusing knob answers with. Zero fields
// take the knob's defaults, which CurrentFaults shows filled in (Description excepted:
// an empty one is written per cart at answer time).
type CheckoutRefusal struct {
	// Status is a 4xx (default 400).
	Status int `json:"status,omitempty"`
	// Code is the Partner Center error code. Default by status: 403 → 900121 (credit
	// limit), 404 → 800008, 409 → 800060, 400 → 800010 for RefuseFirstCheckout and 800065
	// for RefuseRepeatCheckout, any other 4xx → 800002.
	Code int `json:"code,omitempty"`
	// Description is the error's description (default: one fitting the code).
	Description string `json:"description,omitempty"`
	// Count is how many POSTs of each affected cart are refused; negative means all of
	// them. Zero means the default: 1 for RefuseFirstCheckout, all (-1) for
	// RefuseRepeatCheckout. Refusals are counted per cart and not reset by SetFaults.
	Count int `json:"count,omitempty"`
}

// EmptyAnswer is a mode of CheckoutFault.EmptyCheckoutAnswer.
type EmptyAnswer string

// Modes of CheckoutFault.EmptyCheckoutAnswer.
const (
	EmptyAnswerObject EmptyAnswer = "{}"    // body {}
	EmptyAnswerNull   EmptyAnswer = "null"  // body null
	EmptyAnswerNoBody EmptyAnswer = "empty" // no body at all (Content-Length 0)
)

// UndecodableAnswer is a mode of CheckoutFault.UndecodableCheckoutAnswer.
type UndecodableAnswer string

// Modes of CheckoutFault.UndecodableCheckoutAnswer.
const (
	// UndecodableErrorCode turns every orderErrors[].code into the string "ABC" (adding
	// an order error for group "pcsim" when there is none). The orders are intact.
	UndecodableErrorCode UndecodableAnswer = "nonNumericErrorCode"
	// UndecodableTotalPrice writes every order's totalPrice as the string "ABC" (a cart
	// whose every group failed has no order, and gets "truncated" instead). An empty
	// totalPrice is not offered: internal/partnercenter reads "" as "no amount".
	UndecodableTotalPrice UndecodableAnswer = "nonNumericTotalPrice"
	// UndecodableTruncated sends the first half of the real answer's bytes.
	UndecodableTruncated UndecodableAnswer = "truncated"
)

// Validate checks statuses, modes and that empty and undecodable answers are not both set.
func (cf CheckoutFault) Validate() error {
	for name, r := range map[string]*CheckoutRefusal{
		"refuseFirstCheckout": cf.RefuseFirstCheckout, "refuseRepeatCheckout": cf.RefuseRepeatCheckout,
	} {
		if r == nil {
			continue
		}
		if r.Status != 0 && (r.Status < 400 || r.Status > 499) {
			return fmt.Errorf("%s.status must be a 4xx, got %d", name, r.Status)
		}
		if r.Code < 0 {
			return fmt.Errorf("%s.code must not be negative, got %d", name, r.Code)
		}
	}
	switch cf.EmptyCheckoutAnswer {
	case "", EmptyAnswerObject, EmptyAnswerNull, EmptyAnswerNoBody:
	default:
		return fmt.Errorf(`emptyCheckoutAnswer must be "{}", "null" or "empty", got %q`, cf.EmptyCheckoutAnswer)
	}
	switch cf.UndecodableCheckoutAnswer {
	case "", UndecodableErrorCode, UndecodableTotalPrice, UndecodableTruncated:
	default:
		return fmt.Errorf(`undecodableCheckoutAnswer must be "nonNumericErrorCode", "nonNumericTotalPrice" or "truncated", got %q`,
			cf.UndecodableCheckoutAnswer)
	}
	if cf.EmptyCheckoutAnswer != "" && cf.UndecodableCheckoutAnswer != "" {
		return errors.New("set at most one of emptyCheckoutAnswer and undecodableCheckoutAnswer")
	}
	switch cf.AnswerStatus {
	case 0, http.StatusOK, http.StatusCreated:
	default:
		return fmt.Errorf("answerStatus must be 200 or 201, got %d", cf.AnswerStatus)
	}
	return nil
}

func validateCheckoutFaults(cfs map[string]CheckoutFault) error {
	for id, cf := range cfs {
		if id == "" {
			return errors.New("checkoutFaults: the catalog item ID must not be empty")
		}
		if err := cf.Validate(); err != nil {
			return fmt.Errorf("checkoutFaults[%q]: %w", id, err)
		}
	}
	return nil
}

// checkFaults validates f and checks that the catalog sells every item it keys a checkout
// fault by: a fault on an item nobody can buy would never fire, most likely a typo.
func (s *Server) checkFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	for id := range f.CheckoutFaults {
		if item, _ := s.catalog.lookup(id); item == nil {
			return fmt.Errorf("checkoutFaults: catalog item %q is not in the catalog", id)
		}
	}
	return nil
}

// withDefaults returns a copy with the defaults filled in; refusals are copied, never shared.
func (cf CheckoutFault) withDefaults() CheckoutFault {
	if r := cf.RefuseFirstCheckout; r != nil {
		cf.RefuseFirstCheckout = r.withDefaults(false)
	}
	if r := cf.RefuseRepeatCheckout; r != nil {
		cf.RefuseRepeatCheckout = r.withDefaults(true)
	}
	if cf.AnswerStatus == 0 && (cf.EmptyCheckoutAnswer != "" || cf.UndecodableCheckoutAnswer != "") {
		cf.AnswerStatus = http.StatusCreated
	}
	return cf
}

func (cf CheckoutFault) clone() CheckoutFault {
	if r := cf.RefuseFirstCheckout; r != nil {
		c := *r
		cf.RefuseFirstCheckout = &c
	}
	if r := cf.RefuseRepeatCheckout; r != nil {
		c := *r
		cf.RefuseRepeatCheckout = &c
	}
	return cf
}

func (r CheckoutRefusal) withDefaults(repeat bool) *CheckoutRefusal {
	if r.Status == 0 {
		r.Status = http.StatusBadRequest
	}
	if r.Code == 0 {
		r.Code = defaultRefusalCode(r.Status, repeat)
	}
	if r.Count == 0 {
		r.Count = 1
		if repeat {
			r.Count = -1
		}
	}
	return &r
}

// Partner Center error codes the refusing knobs default to (partner-center-api.md §6.3).
const (
	codeOrderInProgress      = 800060 // 409: an order is in progress; check order history later
	codeInsufficientCredit   = 900121 // 403: insufficient credit limit
	codeInventoryUnavailable = 800010 // 400: inventory not available
)

func defaultRefusalCode(status int, repeat bool) int {
	switch status {
	case http.StatusForbidden:
		return codeInsufficientCredit
	case http.StatusNotFound:
		return codeCartNotFound
	case http.StatusConflict:
		return codeOrderInProgress
	case http.StatusBadRequest:
		if repeat {
			return codeCartAlreadyBought
		}
		return codeInventoryUnavailable
	}
	return codeInvalidInput
}

// refusalDescription is a description fitting code, as Partner Center might word it.
func refusalDescription(code int, cartID string) string {
	switch code {
	case codeInsufficientCredit:
		return "The customer's credit limit is insufficient for this purchase."
	case codeCartNotFound:
		return "Unable to retrieve cart ID " + cartID + "."
	case codeOrderInProgress:
		return "An order for cart " + cartID + " is in progress. Check the order history in a few minutes."
	case codeCartAlreadyBought:
		return "Cart " + cartID + " has already been submitted and cannot be checked out again."
	case codeInventoryUnavailable:
		return "Inventory is not available for the items in cart " + cartID + "."
	case codeCartBusy:
		return "Cart " + cartID + " is being processed by another request."
	case codeInvalidInput:
		return "The request input is not valid."
	}
	return fmt.Sprintf("Checkout of cart %s was refused with code %d.", cartID, code)
}

func (r *CheckoutRefusal) answer(cartID string) response {
	desc := r.Description
	if desc == "" {
		desc = refusalDescription(r.Code, cartID)
	}
	return response{status: r.Status, body: errorBody{Code: r.Code, Description: desc, Source: "pcsim"}}
}

// refuses reports whether a refusal that has answered given POSTs of a cart answers the next.
func (r *CheckoutRefusal) refuses(given int) bool {
	return r != nil && (r.Count < 0 || given < r.Count)
}

// checkoutFaultFor merges the faults of every catalog item of the lines (add-ons
// included) in catalog item ID order: per knob, the first item that sets it wins.
func checkoutFaultFor(cfs map[string]CheckoutFault, lines []pc.CartLineItem) (CheckoutFault, bool) {
	if len(cfs) == 0 {
		return CheckoutFault{}, false
	}
	var ids []string
	var walk func([]pc.CartLineItem)
	walk = func(ls []pc.CartLineItem) {
		for _, li := range ls {
			if _, ok := cfs[li.CatalogItemID]; ok && !slices.Contains(ids, li.CatalogItemID) {
				ids = append(ids, li.CatalogItemID)
			}
			walk(li.AddonItems)
		}
	}
	walk(lines)
	if len(ids) == 0 {
		return CheckoutFault{}, false
	}
	slices.Sort(ids)
	var out CheckoutFault
	for _, id := range ids {
		out = out.merge(cfs[id])
	}
	return out, true
}

func (cf CheckoutFault) merge(o CheckoutFault) CheckoutFault {
	if cf.RefuseFirstCheckout == nil {
		cf.RefuseFirstCheckout = o.RefuseFirstCheckout
	}
	if cf.RefuseRepeatCheckout == nil {
		cf.RefuseRepeatCheckout = o.RefuseRepeatCheckout
	}
	if cf.EmptyCheckoutAnswer == "" && cf.UndecodableCheckoutAnswer == "" {
		cf.EmptyCheckoutAnswer, cf.UndecodableCheckoutAnswer, cf.AnswerStatus =
			o.EmptyCheckoutAnswer, o.UndecodableCheckoutAnswer, o.AnswerStatus
	}
	cf.LoseCheckoutAnswer = cf.LoseCheckoutAnswer || o.LoseCheckoutAnswer
	cf.CheckoutNotFound = cf.CheckoutNotFound || o.CheckoutNotFound
	return cf
}

// rawJSON is a response body sent as is, for answers json.Marshal would not produce.
type rawJSON []byte

// shapeAnswer renders a successful checkout result as the cart's fault says, counting
// the fault; with no empty or undecodable answer configured it is the result itself.
func (s *Server) shapeAnswer(res pc.CartCheckoutResult, cf CheckoutFault) response {
	switch {
	case cf.EmptyCheckoutAnswer != "":
		s.stats.fault(faultEmptyAnswer)
		body := rawJSON(cf.EmptyCheckoutAnswer)
		if cf.EmptyCheckoutAnswer == EmptyAnswerNoBody {
			body = rawJSON{}
		}
		return response{status: cf.AnswerStatus, body: body}
	case cf.UndecodableCheckoutAnswer != "":
		s.stats.fault(faultUndecodableAnswer)
		return response{status: cf.AnswerStatus, body: rawJSON(undecodable(cf.UndecodableCheckoutAnswer, res))}
	}
	return response{status: http.StatusCreated, body: res}
}

// undecodable renders res in a way pc.CartCheckoutResult cannot decode.
func undecodable(mode UndecodableAnswer, res pc.CartCheckoutResult) []byte {
	b, err := json.Marshal(res)
	if err != nil {
		panic(fmt.Sprintf("pcsim: encode checkout result: %v", err)) // our own type: a programming error
	}
	truncated := b[:len(b)/2]
	if mode == UndecodableTruncated || (mode == UndecodableTotalPrice && len(res.Orders) == 0) {
		return truncated
	}
	// Edit a generic copy; UseNumber keeps prices such as 6840.00 as they were written.
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		panic(fmt.Sprintf("pcsim: decode own checkout result: %v", err))
	}
	switch mode {
	case UndecodableErrorCode:
		errs, _ := m["orderErrors"].([]any)
		if len(errs) == 0 {
			errs = []any{map[string]any{"orderGroupId": "pcsim", "description": "An order error with a code that is not a number."}}
		}
		for _, e := range errs {
			e.(map[string]any)["code"] = "ABC"
		}
		m["orderErrors"] = errs
	case UndecodableTotalPrice:
		for _, o := range m["orders"].([]any) {
			o.(map[string]any)["totalPrice"] = "ABC"
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("pcsim: encode edited checkout result: %v", err))
	}
	return out
}
