package partnercenter

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// bigCart is a valid cart answer of about n bytes.
func bigCart(n int) string {
	return `{"id":"cart-1","lineItems":[],"pad":"` + strings.Repeat("x", n) + `"}`
}

func TestSuccessThatCannotBeDecodedIsADecodeErrorAndIsNotRepeated(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		isCart bool // the body is a (decodable) cart, so the GetCart below succeeds
	}{
		{name: "not JSON", status: 200, body: `<html>maintenance</html>`},
		{name: "JSON of the wrong shape", status: 201, body: `["not","a","cart"]`},
		{name: "truncated JSON", status: 201, body: `{"orders":[{"id":"o-1","status":"pending"`},
		{name: "order error code that is not a number", status: 201, isCart: true,
			body: `{"orders":[],"orderErrors":[{"orderGroupId":"0","code":"LimitExceeded","description":"credit"}]}`},
		{name: "total price that is not a number", status: 201, isCart: true,
			body: `{"orders":[{"id":"o-1","status":"pending","totalPrice":"twelve"}]}`},
		{name: "answer over the size cap", status: 201, body: bigCart(maxResponseBytes)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			s := newPCServer(t, script(status(tt.status, tt.body)))
			f, _ := newTestFactory(s, func(c *Config) { c.MaxRetries = 2 })
			c := mustClient(t, f, testCreds)

			_, err := c.Checkout(ctx, "cust", "cart-1", "req-1")

			var decodeErr *DecodeError
			g.Expect(errors.As(err, &decodeErr)).To(BeTrue(), "error %v", err)
			g.Expect(Classify(err)).To(Equal(ClassUndecodable))
			g.Expect(IsUndecodable(err)).To(BeTrue())
			g.Expect(errors.Is(err, ErrUndecodable)).To(BeTrue())
			g.Expect(errors.As(err, new(*TransportError))).To(BeFalse(), "Partner Center did answer")
			g.Expect(errors.As(err, new(*APIError))).To(BeFalse(), "Partner Center did not refuse")
			g.Expect(decodeErr.Operation).To(Equal(OpCheckout))
			g.Expect(decodeErr.StatusCode).To(Equal(tt.status))
			g.Expect(decodeErr.RequestID).To(Equal("req-1"))
			g.Expect(decodeErr.CorrelationID).To(Equal(s.Requests()[0].Header.Get("MS-CorrelationId")))
			g.Expect(decodeErr.Cause).NotTo(BeEmpty())
			g.Expect(len(decodeErr.Cause)).To(BeNumerically("<=", maxDecodeCause))
			g.Expect(len(decodeErr.BodyPrefix)).To(BeNumerically("<=", maxDecodeSnippet))
			g.Expect(len(err.Error())).To(BeNumerically("<", 600), "the message is short: %s", err)
			g.Expect(s.Requests()).To(HaveLen(1), "a POST is sent once")

			if tt.isCart {
				return
			}
			// Not even an idempotent GET is repeated: the answer was a success.
			_, err = c.GetCart(ctx, "cust", "cart-1")
			g.Expect(Classify(err)).To(Equal(ClassUndecodable), "error %v", err)
			g.Expect(s.Requests()).To(HaveLen(2), "the GET is sent once")
		})
	}
}

func TestDecodeErrorCarriesOnlyTheStartOfTheBody(t *testing.T) {
	g := NewWithT(t)
	body := `{"orders":[{"id":"o-1","totalPrice":"twelve"}],"pad":"` + strings.Repeat("x", 200) + `","tail":"MUST-NOT-APPEAR"}`
	s := newPCServer(t, script(status(201, body)))
	f, _ := newTestFactory(s, nil)

	_, err := mustClient(t, f, testCreds).Checkout(ctx, "cust", "cart-1", "req-1")

	g.Expect(IsUndecodable(err)).To(BeTrue(), "error %v", err)
	g.Expect(err.Error()).To(ContainSubstring(`{\"orders\":[{\"id\":\"o-1\"`))
	g.Expect(err.Error()).To(ContainSubstring("twelve"), "the cause names the bad value")
	g.Expect(err.Error()).NotTo(ContainSubstring("MUST-NOT-APPEAR"))
}

func TestAnswerJustUnderTheSizeCapIsDecoded(t *testing.T) {
	g := NewWithT(t)
	body := bigCart(maxResponseBytes - 100)
	g.Expect(len(body)).To(BeNumerically("<=", maxResponseBytes))
	s := newPCServer(t, script(status(200, body)))
	f, _ := newTestFactory(s, nil)

	cart, err := mustClient(t, f, testCreds).GetCart(ctx, "cust", "cart-1")

	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cart.ID).To(Equal("cart-1"))
	g.Expect(maxResponseBytes).To(Equal(4<<20), "4 MiB")
}

func TestErrorAnswerOverTheSizeCapKeepsItsStatus(t *testing.T) {
	g := NewWithT(t)
	page := "<html>" + strings.Repeat("x", maxResponseBytes) + "</html>"
	s := newPCServer(t, script(status(http.StatusBadGateway, page, "Content-Type", "text/html")))
	f, _ := newTestFactory(s, nil)

	_, err := mustClient(t, f, testCreds).Checkout(ctx, "cust", "cart-1", "req-1")

	var apiErr *APIError
	g.Expect(errors.As(err, &apiErr)).To(BeTrue(), "error %v", err)
	g.Expect(apiErr.StatusCode).To(Equal(http.StatusBadGateway))
	g.Expect(Classify(err)).To(Equal(ClassRetryable))
	g.Expect(len(apiErr.Description)).To(BeNumerically("<=", len("Bad Gateway: ")+maxErrorSnippet))
}

func TestClassString(t *testing.T) {
	NewWithT(t).Expect(ClassUndecodable.String()).To(Equal("Undecodable"))
}

func TestCodesAcceptNumbersAndNumericStringsOnly(t *testing.T) {
	tests := []struct {
		name    string
		code    string // as on the wire
		want    int64
		wantErr bool
	}{
		{name: "number", code: `800009`, want: 800009},
		{name: "numeric string", code: `"800009"`, want: 800009},
		{name: "padded numeric string", code: `" 800009 "`, want: 800009},
		{name: "null", code: `null`, want: 0},
		{name: "word", code: `"LimitExceeded"`, wantErr: true},
		{name: "empty string", code: `""`, wantErr: true},
		{name: "fraction", code: `8.5`, wantErr: true},
		{name: "bool", code: `true`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)

			var result CartCheckoutResult
			err := json.Unmarshal([]byte(`{"orderErrors":[{"orderGroupId":"0","code":`+tt.code+`}]}`), &result)
			var cart Cart
			cartErr := json.Unmarshal([]byte(`{"lineItems":[{"id":0,"error":{"errorCode":`+tt.code+`}}]}`), &cart)

			if tt.wantErr {
				g.Expect(err).To(HaveOccurred())
				g.Expect(cartErr).To(HaveOccurred())
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(cartErr).NotTo(HaveOccurred())
			g.Expect(int64(result.OrderErrors[0].Code)).To(Equal(tt.want))
			g.Expect(int64(cart.LineItems[0].Error.ErrorCode)).To(Equal(tt.want))
		})
	}
}

func TestAmountsAreDecimalsOrAbsent(t *testing.T) {
	tests := []struct {
		name    string
		amount  string // as on the wire
		want    json.Number
		wantErr bool
	}{
		{name: "number", amount: `1425.00`, want: "1425.00"},
		{name: "negative number", amount: `-12.5`, want: "-12.5"},
		{name: "exponent", amount: `1.5e3`, want: "1.5e3"},
		{name: "numeric string", amount: `"1425.00"`, want: "1425.00"},
		{name: "empty string", amount: `""`, want: ""},
		{name: "blank string", amount: `"  "`, want: ""},
		{name: "null", amount: `null`, want: ""},
		{name: "word", amount: `"twelve"`, wantErr: true},
		{name: "thousands separator", amount: `"1,425.00"`, wantErr: true},
		{name: "currency sign", amount: `"$12"`, wantErr: true},
		{name: "string null", amount: `"null"`, wantErr: true},
		{name: "huge exponent", amount: `1e1000000`, wantErr: true},
		{name: "too many digits", amount: strings.Repeat("9", 65), wantErr: true},
		{name: "many digits", amount: strings.Repeat("9", 60) + ".0", want: json.Number(strings.Repeat("9", 60) + ".0")},
		{name: "NaN", amount: `"NaN"`, wantErr: true},
		{name: "bool", amount: `true`, wantErr: true},
		{name: "object", amount: `{}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)

			var result CartCheckoutResult
			orderErr := json.Unmarshal([]byte(`{"orders":[{"id":"o-1","status":"pending","totalPrice":`+tt.amount+`,
				"lineItems":[{"lineItemNumber":0,"pricing":{"price":`+tt.amount+`,"extendedPrice":"57.00"}}]}]}`), &result)
			var cart Cart
			cartErr := json.Unmarshal([]byte(`{"lineItems":[{"id":0,"pricing":{"listPrice":`+tt.amount+`,"discountedPrice":`+tt.amount+
				`,"proratedPrice":`+tt.amount+`,"price":`+tt.amount+`,"extendedPrice":`+tt.amount+`},
				"purchaseCommitment":{"amount":`+tt.amount+`,"currency":"USD","grain":"hourly"}}]}`), &cart)

			if tt.wantErr {
				g.Expect(orderErr).To(HaveOccurred())
				g.Expect(cartErr).To(HaveOccurred())
				return
			}
			g.Expect(orderErr).NotTo(HaveOccurred())
			g.Expect(cartErr).NotTo(HaveOccurred())
			o := result.Orders[0]
			g.Expect(o.ID).To(Equal("o-1"), "the other fields decode as before")
			g.Expect(o.Status).To(Equal("pending"))
			g.Expect(o.TotalPrice).To(Equal(tt.want))
			g.Expect(o.LineItems[0].Pricing.Price).To(Equal(tt.want))
			g.Expect(o.LineItems[0].Pricing.ExtendedPrice).To(Equal(json.Number("57.00")))
			l := cart.LineItems[0]
			g.Expect(*l.Pricing).To(Equal(Pricing{ListPrice: tt.want, DiscountedPrice: tt.want, ProratedPrice: tt.want, Price: tt.want, ExtendedPrice: tt.want}))
			g.Expect(*l.PurchaseCommitment).To(Equal(PurchaseCommitment{Amount: tt.want, Currency: "USD", Grain: "hourly"}))
		})
	}
}

func TestAnEmptyTotalPriceIsNoPrice(t *testing.T) {
	g := NewWithT(t)
	s := newPCServer(t, script(status(201, `{"orders":[{"id":"o-1","status":"Pending","totalPrice":"","currencyCode":"USD"}],
		"orderErrors":[{"orderGroupId":"1","code":"800009","description":"line errors"}]}`)))
	f, _ := newTestFactory(s, nil)

	result, err := mustClient(t, f, testCreds).Checkout(ctx, "cust", "cart-1", "req-1")

	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(result.Orders[0].TotalPrice).To(BeEmpty())
	g.Expect(result.Orders[0].Status).To(Equal("Pending"), "statuses are kept as they come")
	g.Expect(result.OrderErrors[0].Code).To(BeEquivalentTo(800009))
}

func TestNullModelsDecodeToNothing(t *testing.T) {
	g := NewWithT(t)
	var result CartCheckoutResult
	g.Expect(json.Unmarshal([]byte(`{"orders":[null,{"id":"o-2"}]}`), &result)).To(Succeed())
	g.Expect(result.Orders).To(HaveLen(2))
	g.Expect(result.Orders[0]).To(Equal(Order{}))
	g.Expect(result.Orders[1].ID).To(Equal("o-2"))
	var cart Cart
	g.Expect(json.Unmarshal([]byte(`{"lineItems":[{"id":0,"pricing":null,"purchaseCommitment":null}]}`), &cart)).To(Succeed())
	g.Expect(cart.LineItems[0].Pricing).To(BeNil())
	g.Expect(cart.LineItems[0].PurchaseCommitment).To(BeNil())
}

func TestOrderStatusSpellingsCompareEqual(t *testing.T) {
	tests := []struct {
		status       string
		wantNormal   string
		wantTerminal bool
	}{
		{"PartialSuccess", OrderStatusPartialSuccess, true},
		{"partialSuccess", OrderStatusPartialSuccess, true},
		{"partial success", OrderStatusPartialSuccess, true},
		{"partial_success", OrderStatusPartialSuccess, true},
		{"Partial-Success", OrderStatusPartialSuccess, true},
		{" PARTIAL  SUCCESS ", OrderStatusPartialSuccess, true},
		{"Completed", OrderStatusCompleted, true},
		{"PendingReview", OrderStatusPendingReview, false},
		{"pending_po_upload", OrderStatusPendingPOUpload, false},
		{"POReviewRejected", OrderStatusPOReviewRejected, true},
		{"Some-New_State", "some new state", false},
		{"", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.status, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(NormalizeOrderStatus(tt.status)).To(Equal(tt.wantNormal))
			g.Expect(OrderStatusIsTerminal(tt.status)).To(Equal(tt.wantTerminal))
			checkOrderStatus(t, tt.status)
		})
	}
}

// TestLargeOrdersListIsRead: the customer's order list grows with the customer; 6 000 orders
// (over 4 MiB) are still read, so the identical-purchase guard can look at them. Any other
// answer keeps the 4 MiB cap.
func TestLargeOrdersListIsRead(t *testing.T) {
	g := NewWithT(t)
	var b strings.Builder
	b.WriteString(`{"totalCount":6000,"items":[`)
	for i := range 6000 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id":"order-%05d","status":"completed","lineItems":[{"lineItemNumber":0,"offerId":"CFQ7TTC0LF8S:0001:CFQ7TTC0N81H","quantity":25,"friendlyName":%q}]}`,
			i, strings.Repeat("x", 700))
	}
	b.WriteString(`]}`)
	g.Expect(b.Len()).To(BeNumerically(">", maxResponseBytes))
	s := newPCServer(t, script(status(200, b.String())))
	f, _ := newTestFactory(s, nil)

	orders, err := mustClient(t, f, testCreds).ListOrders(ctx, "cust")

	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(orders).To(HaveLen(6000))
	g.Expect(maxOrdersListBytes).To(Equal(64<<20), "64 MiB")
}
