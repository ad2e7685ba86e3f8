package partnercenter

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/google/uuid"
)

// httpClient is the Client for one set of credentials. It is made and cached by HTTPFactory.
type httpClient struct {
	cfg    Config
	tokens *tokenCache
	gate   *tenantGate // shared with every client of the same partner tenant
	clock  clock
}

var _ Client = (*httpClient)(nil)

// CreateCart posts a new cart, once: the caller's requestID makes its own retries safe.
func (c *httpClient) CreateCart(ctx context.Context, customerID string, cart *Cart, requestID string) (*Cart, error) {
	path, err := resourcePath("customers", customerID, "carts")
	if err != nil {
		return nil, fmt.Errorf("create cart: %w", err)
	}
	var created Cart
	err = c.do(ctx, request{
		op: OpCreateCart, method: http.MethodPost, path: path, body: cart, requestID: requestID,
	}, &created)
	if err != nil {
		return nil, err
	}
	return &created, nil
}

// GetCart reads a cart, retrying transient failures.
func (c *httpClient) GetCart(ctx context.Context, customerID, cartID string) (*Cart, error) {
	path, err := resourcePath("customers", customerID, "carts", cartID)
	if err != nil {
		return nil, fmt.Errorf("get cart: %w", err)
	}
	var cart Cart
	if err := c.do(ctx, request{op: OpGetCart, method: http.MethodGet, path: path, retry: true}, &cart); err != nil {
		return nil, err
	}
	return &cart, nil
}

// UpdateCart replaces a cart, retrying transient failures: a PUT of the same whole cart is
// idempotent.
func (c *httpClient) UpdateCart(ctx context.Context, customerID, cartID string, cart *Cart) (*Cart, error) {
	path, err := resourcePath("customers", customerID, "carts", cartID)
	if err != nil {
		return nil, fmt.Errorf("update cart: %w", err)
	}
	var updated Cart
	err = c.do(ctx, request{op: OpUpdateCart, method: http.MethodPut, path: path, body: cart, retry: true}, &updated)
	if err != nil {
		return nil, err
	}
	return &updated, nil
}

// Checkout posts the checkout, once, with the slow checkout deadline.
func (c *httpClient) Checkout(ctx context.Context, customerID, cartID, requestID string) (*CartCheckoutResult, error) {
	path, err := resourcePath("customers", customerID, "carts", cartID, "checkout")
	if err != nil {
		return nil, fmt.Errorf("checkout: %w", err)
	}
	var result CartCheckoutResult
	err = c.do(ctx, request{
		op: OpCheckout, method: http.MethodPost, path: path, requestID: requestID, slow: true,
	}, &result)
	if err != nil {
		return nil, err
	}
	return &result, nil
}

// GetOrder reads one order, retrying transient failures.
func (c *httpClient) GetOrder(ctx context.Context, customerID, orderID string) (*Order, error) {
	path, err := resourcePath("customers", customerID, "orders", orderID)
	if err != nil {
		return nil, fmt.Errorf("get order: %w", err)
	}
	var order Order
	if err := c.do(ctx, request{op: OpGetOrder, method: http.MethodGet, path: path, retry: true}, &order); err != nil {
		return nil, err
	}
	return &order, nil
}

// ListOrders reads the customer's orders (the first page Partner Center returns),
// retrying transient failures.
func (c *httpClient) ListOrders(ctx context.Context, customerID string) ([]Order, error) {
	path, err := resourcePath("customers", customerID, "orders")
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	var orders OrderCollection
	if err := c.do(ctx, request{op: OpListOrders, method: http.MethodGet, path: path, retry: true}, &orders); err != nil {
		return nil, err
	}
	return orders.Items, nil
}

// request is one logical Partner Center call, which may take several HTTP attempts.
type request struct {
	op        string
	method    string
	path      string // escaped, below the endpoint
	body      any    // marshalled as JSON; nil sends no body
	requestID string // MS-RequestId; generated if empty
	retry     bool   // GET and PUT only: POSTs are sent once
	slow      bool   // checkout: CheckoutTimeout per attempt
}

// do runs the attempts of one logical call and decodes the answer into out. Every attempt
// carries the same MS-RequestId, as Partner Center asks for retries of one operation.
func (c *httpClient) do(ctx context.Context, r request, out any) error {
	body, err := encodeBody(r)
	if err != nil {
		return err
	}
	if r.requestID == "" {
		r.requestID = uuid.NewString()
	}
	cv := newCorrelationVector()
	for attempt := 0; ; attempt++ {
		err := c.attempt(ctx, r, body, cv.attempt(attempt), out)
		if err == nil {
			return nil
		}
		if !r.retry || ctx.Err() != nil {
			return err
		}
		delay, again := retryDelay(c.cfg, attempt, err)
		if !again || endsBefore(ctx, c.clock.Now().Add(delay)) {
			return err // no wait that the caller would not see the end of
		}
		if sleepErr := c.clock.Sleep(ctx, delay); sleepErr != nil {
			return fmt.Errorf("%w (retry abandoned: %w)", err, sleepErr)
		}
	}
}

func encodeBody(r request) ([]byte, error) {
	if r.body == nil {
		return nil, nil
	}
	b, err := json.Marshal(r.body)
	if err != nil {
		return nil, fmt.Errorf("%s: encode request body: %w", r.op, err)
	}
	return b, nil
}

// resourcePath builds "/v1/a/b/..." from segments, escaping each. Empty and dot segments
// are refused: they would address a different resource than the caller meant.
func resourcePath(segments ...string) (string, error) {
	path := "/v1"
	for _, s := range segments {
		if s == "" || s == "." || s == ".." {
			return "", fmt.Errorf("invalid path segment %q after %s", s, path)
		}
		path += "/" + url.PathEscape(s)
	}
	return path, nil
}
