package partnercenter

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	. "github.com/onsi/gomega"
)

var ctx = context.Background()

func TestEveryOperationSendsTheDocumentedRequest(t *testing.T) {
	cart := &Cart{LineItems: []CartLineItem{{ID: 0, CatalogItemID: "CFQ7TTC0LH18:0001:CFQ7TTC0K971", Quantity: 2}}}
	tests := []struct {
		name       string
		call       func(c Client) error
		wantMethod string
		wantURI    string
		wantBody   bool
		requestID  string // "" : generated
	}{{
		name:       "CreateCart",
		call:       func(c Client) error { _, err := c.CreateCart(ctx, "cust/1", cart, "req-create"); return err },
		wantMethod: http.MethodPost, wantURI: "/v1/customers/cust%2F1/carts", wantBody: true, requestID: "req-create",
	}, {
		name:       "GetCart",
		call:       func(c Client) error { _, err := c.GetCart(ctx, "cust/1", "cart 1"); return err },
		wantMethod: http.MethodGet, wantURI: "/v1/customers/cust%2F1/carts/cart%201",
	}, {
		name:       "UpdateCart",
		call:       func(c Client) error { _, err := c.UpdateCart(ctx, "cust/1", "cart-1", cart); return err },
		wantMethod: http.MethodPut, wantURI: "/v1/customers/cust%2F1/carts/cart-1", wantBody: true,
	}, {
		name:       "Checkout",
		call:       func(c Client) error { _, err := c.Checkout(ctx, "cust/1", "cart-1", "req-checkout"); return err },
		wantMethod: http.MethodPost, wantURI: "/v1/customers/cust%2F1/carts/cart-1/checkout", requestID: "req-checkout",
	}, {
		name:       "GetOrder",
		call:       func(c Client) error { _, err := c.GetOrder(ctx, "cust/1", "order?1"); return err },
		wantMethod: http.MethodGet, wantURI: "/v1/customers/cust%2F1/orders/order%3F1",
	}, {
		name:       "ListOrders",
		call:       func(c Client) error { _, err := c.ListOrders(ctx, "cust/1"); return err },
		wantMethod: http.MethodGet, wantURI: "/v1/customers/cust%2F1/orders",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			s := newPCServer(t, nil)
			f, _ := newTestFactory(s, nil)

			g.Expect(tt.call(mustClient(t, f, testCreds))).To(Succeed())

			reqs := s.Requests()
			g.Expect(reqs).To(HaveLen(1))
			r := reqs[0]
			g.Expect(r.Method).To(Equal(tt.wantMethod))
			g.Expect(r.URI).To(Equal(tt.wantURI))
			h := r.Header
			g.Expect(h.Get("Authorization")).To(Equal("Bearer tok-1"))
			g.Expect(h.Get("Accept")).To(Equal("application/json"))
			g.Expect(h.Get("X-Locale")).To(Equal("en-US"))
			g.Expect(uuid.Parse(h.Get("MS-CorrelationId"))).Error().NotTo(HaveOccurred())
			g.Expect(h.Get("MS-CV")).To(MatchRegexp(`^[A-Za-z0-9+/]{16}\.0$`))
			if tt.requestID != "" {
				g.Expect(h.Get("MS-RequestId")).To(Equal(tt.requestID))
			} else {
				g.Expect(uuid.Parse(h.Get("MS-RequestId"))).Error().NotTo(HaveOccurred())
			}
			if tt.wantBody {
				g.Expect(h.Get("Content-Type")).To(Equal("application/json"))
				g.Expect(r.Body).To(ContainSubstring(`"catalogItemId":"CFQ7TTC0LH18:0001:CFQ7TTC0K971"`))
			} else {
				g.Expect(h.Get("Content-Type")).To(BeEmpty())
				g.Expect(r.Body).To(BeEmpty())
			}
		})
	}
}

func TestAnswersAreDecodedToleratingUnknownFields(t *testing.T) {
	g := NewWithT(t)
	s := newPCServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/checkout"):
			reply(w, http.StatusCreated, `{"orders":[{"id":"o-1","status":"pending","totalPrice":12.30,"newField":{"x":1}}],
				"orderErrors":[{"orderGroupId":"1","code":"800089","description":"limit"}]}`)
		case strings.HasSuffix(r.URL.Path, "/orders"):
			reply(w, http.StatusOK, `{"totalCount":2,"items":[{"id":"o-1"},{"id":"o-2"}],"attributes":{"objectType":"Collection"}}`)
		case r.Method == http.MethodPost:
			reply(w, http.StatusCreated, `{"id":"cart-1","status":"Active","lineItems":[{"id":0,"catalogItemId":"X","quantity":2,
				"error":{"errorCode":10012,"errorDescription":"attestation"}}],"someFutureField":true}`)
		default:
			reply(w, http.StatusOK, `{"id":"cart-1","status":"Active","lineItems":[]}`)
		}
	})
	f, _ := newTestFactory(s, nil)
	c := mustClient(t, f, testCreds)

	cart, err := c.CreateCart(ctx, "cust", &Cart{}, "req-1")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cart.ID).To(Equal("cart-1"))
	g.Expect(cart.LineItems[0].Error.ErrorCode).To(BeEquivalentTo(CartErrorAttestationNotAccepted))

	result, err := c.Checkout(ctx, "cust", "cart-1", "req-2")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(result.Orders[0].ID).To(Equal("o-1"))
	g.Expect(result.Orders[0].TotalPrice.String()).To(Equal("12.30"))
	g.Expect(result.OrderErrors[0].Code).To(BeEquivalentTo(800089))

	orders, err := c.ListOrders(ctx, "cust")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(orders).To(HaveLen(2))
}

func TestErrorAnswersBecomeClassifiedAPIErrors(t *testing.T) {
	gatewayPage := "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\t" + strings.Repeat("x", 400) + "</body></html>"
	tests := []struct {
		name           string
		status         int
		body           string
		header         []string
		wantClass      Class
		wantCode       string
		wantDesc       string
		wantRetryAfter time.Duration
	}{
		{name: "401 bad audience", status: 401, body: `{"code":900420,"description":"The audience is invalid"}`,
			wantClass: ClassUnauthorized, wantCode: CodeInvalidTokenAudience, wantDesc: "The audience is invalid"},
		{name: "404 expired cart", status: 404, body: `{"code":"800008","description":"Unable to retrieve cart"}`,
			wantClass: ClassNotFound, wantCode: CodeCartNotFound, wantDesc: "Unable to retrieve cart"},
		{name: "409 cart being processed", status: 409, body: `{"code":800064,"description":"being processed","data":[],"source":"PartnerFD"}`,
			wantClass: ClassRetryable, wantCode: CodeCartBeingProcessed, wantDesc: "being processed"},
		{name: "409 other conflict", status: 409, body: `{"code":800099,"description":"conflict"}`,
			wantClass: ClassTerminal, wantCode: "800099", wantDesc: "conflict"},
		{name: "400 code as number", status: 400, body: `{"code":800002,"description":"invalid input"}`,
			wantClass: ClassTerminal, wantCode: "800002", wantDesc: "invalid input"},
		{name: "400 code as string", status: 400, body: `{"code":"800002","description":"invalid input"}`,
			wantClass: ClassTerminal, wantCode: "800002", wantDesc: "invalid input"},
		{name: "400 odd data and source", status: 400, body: `{"code":800009,"description":"line errors","data":{"a":1},"source":7}`,
			wantClass: ClassTerminal, wantCode: "800009", wantDesc: "line errors"},
		{name: "429 throttle body", status: 429, body: `{"statusCode":429,"message":"Rate limit is exceeded. Try again in 57 seconds."}`,
			header: []string{"Retry-After", "57"}, wantClass: ClassThrottled,
			wantDesc: "Rate limit is exceeded. Try again in 57 seconds.", wantRetryAfter: 57 * time.Second},
		{name: "500 service error", status: 500, body: `{"code":800003,"description":"unexpected"}`,
			wantClass: ClassRetryable, wantCode: CodeUnexpectedServiceError, wantDesc: "unexpected"},
		{name: "502 gateway page", status: 502, body: gatewayPage, header: []string{"Content-Type", "text/html"},
			wantClass: ClassRetryable, wantDesc: "Bad Gateway: " + printableSnippet([]byte(gatewayPage), 200)},
		{name: "503 empty body", status: 503, wantClass: ClassRetryable, wantDesc: "Service Unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			s := newPCServer(t, script(status(tt.status, tt.body, tt.header...)))
			f, _ := newTestFactory(s, nil)

			// Checkout is never retried, so one answer is the whole story.
			_, err := mustClient(t, f, testCreds).Checkout(ctx, "cust", "cart-1", "req-1")

			var apiErr *APIError
			g.Expect(errors.As(err, &apiErr)).To(BeTrue(), "error %v", err)
			g.Expect(Classify(err)).To(Equal(tt.wantClass))
			g.Expect(apiErr.Operation).To(Equal(OpCheckout))
			g.Expect(apiErr.StatusCode).To(Equal(tt.status))
			g.Expect(apiErr.Code).To(Equal(tt.wantCode))
			g.Expect(apiErr.Description).To(Equal(tt.wantDesc))
			g.Expect(apiErr.RetryAfter).To(Equal(tt.wantRetryAfter))
			g.Expect(apiErr.RequestID).To(Equal("req-1"))
			g.Expect(apiErr.CorrelationID).To(Equal(s.Requests()[0].Header.Get("MS-CorrelationId")))
		})
	}
}

func TestGatewayPageIsShortAndPrintable(t *testing.T) {
	g := NewWithT(t)
	body := []byte("<html>\r\n\t<b>bad\x00gateway</b>\x1b[31m" + strings.Repeat("é", 300))

	snippet := printableSnippet(body, 200)

	g.Expect(len(snippet)).To(BeNumerically("<=", 200))
	g.Expect(snippet).To(HavePrefix("<html> <b>bad gateway</b> [31m"))
	g.Expect(snippet).NotTo(ContainSubstring("\x00"))
	g.Expect(snippet).NotTo(ContainSubstring("\n"))
	g.Expect(strings.ToValidUTF8(snippet, "?")).To(Equal(snippet))
}

func TestNoAnswerIsATransportError(t *testing.T) {
	tests := []struct {
		name   string
		answer func(w http.ResponseWriter)
	}{
		{name: "connection dropped", answer: dropConnection},
		{name: "body cut short", answer: cutShort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			s := newPCServer(t, script(tt.answer))
			f, _ := newTestFactory(s, func(c *Config) { c.MaxRetries = 2 })
			c := mustClient(t, f, testCreds)

			_, err := c.Checkout(ctx, "cust", "cart-1", "req-1")
			var transportErr *TransportError
			g.Expect(errors.As(err, &transportErr)).To(BeTrue(), "error %v", err)
			g.Expect(transportErr.Operation).To(Equal(OpCheckout))
			g.Expect(transportErr.RequestID).To(Equal("req-1"))
			g.Expect(Classify(err)).To(Equal(ClassRetryable))
			g.Expect(s.Requests()).To(HaveLen(1), "a POST is sent once")

			_, err = c.GetCart(ctx, "cust", "cart-1")
			g.Expect(errors.As(err, &transportErr)).To(BeTrue(), "error %v", err)
			g.Expect(s.Requests()).To(HaveLen(1+3), "a GET is retried MaxRetries times")
		})
	}
}

func TestInvalidIDsAreNotSent(t *testing.T) {
	g := NewWithT(t)
	s := newPCServer(t, nil)
	f, _ := newTestFactory(s, nil)
	c := mustClient(t, f, testCreds)

	_, err := c.GetCart(ctx, "cust", "..")
	g.Expect(err).To(MatchError(ContainSubstring(`invalid path segment ".."`)))
	_, err = c.Checkout(ctx, "", "cart", "req")
	g.Expect(err).To(HaveOccurred())
	g.Expect(s.Requests()).To(BeEmpty())
	g.Expect(s.TokenRequests()).To(BeEmpty())
}

func TestEmptyRequestIDOnAPostIsGenerated(t *testing.T) {
	g := NewWithT(t)
	s := newPCServer(t, nil)
	f, _ := newTestFactory(s, nil)

	_, err := mustClient(t, f, testCreds).Checkout(ctx, "cust", "cart", "")

	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(uuid.Parse(s.Requests()[0].Header.Get("MS-RequestId"))).Error().NotTo(HaveOccurred())
}
