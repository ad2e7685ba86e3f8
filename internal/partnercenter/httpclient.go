package partnercenter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

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

// GetCustomer reads the customer, retrying transient failures.
func (c *httpClient) GetCustomer(ctx context.Context, customerID string) (*Customer, error) {
	path, err := resourcePath("customers", customerID)
	if err != nil {
		return nil, fmt.Errorf("get customer: %w", err)
	}
	var customer Customer
	if err := c.do(ctx, request{op: OpGetCustomer, method: http.MethodGet, path: path, retry: true}, &customer); err != nil {
		return nil, err
	}
	return &customer, nil
}

// ListOrders reads all of the customer's orders, following Partner Center's paging: an
// answer is one page of a ResourceCollection, and while its links.next is set the next page
// is read from that link's URI with the link's MS-ContinuationToken header. Each page is one
// logical call with its own MS-RequestId, retried on transient failures like any GET. A list
// that cannot be read whole is an error, never a shorter list: the identical-purchase guard
// would take a missing order for "not bought". More than maxOrderPages pages, more than
// maxOrdersListBytes in all, or a next link that leaves the customer's orders is a
// *DecodeError (ClassUndecodable), like an answer too large to read.
func (c *httpClient) ListOrders(ctx context.Context, customerID string) ([]Order, error) {
	path, err := resourcePath("customers", customerID, "orders")
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	var all []Order
	budget := maxOrdersListBytes // shared by every page, so paging cannot multiply it
	r := request{op: OpListOrders, method: http.MethodGet, path: path, retry: true}
	for page := 1; ; page++ {
		var coll OrderCollection
		var received int
		r.limit, r.received, r.requestID = budget, &received, uuid.NewString()
		if err := c.do(ctx, r, &coll); err != nil {
			return nil, err
		}
		budget -= received
		all = append(all, coll.Items...)
		next, more, err := c.nextOrdersPage(path, coll.Links)
		if err != nil {
			return nil, &DecodeError{Operation: OpListOrders, StatusCode: http.StatusOK, RequestID: r.requestID, Cause: err.Error()}
		}
		if !more {
			return all, nil
		}
		if page == maxOrderPages {
			return nil, &DecodeError{
				Operation: OpListOrders, StatusCode: http.StatusOK, RequestID: r.requestID,
				Cause: fmt.Sprintf("the order list has more than %d pages", maxOrderPages),
			}
		}
		if budget <= 0 {
			return nil, &DecodeError{
				Operation: OpListOrders, StatusCode: http.StatusOK, RequestID: r.requestID,
				Cause: fmt.Sprintf("the order list is larger than %d bytes", maxOrdersListBytes),
			}
		}
		r = next
	}
}

// maxOrderPages bounds how many pages ListOrders follows: far more than a customer's orders
// fill at any page size Partner Center uses, and few enough that a server handing out next
// links forever (or the same one again) ends in an error instead of a loop.
const maxOrderPages = 100

// continuationTokenHeader carries a collection's position from one page to the next.
const continuationTokenHeader = "MS-ContinuationToken"

// nextOrdersPage returns the request for the page after the one whose links are given, and
// whether there is one. The link's URI is relative to the API version ("/customers/...", as
// Partner Center writes its links) or to the host ("/v1/customers/..."); an absolute URI is
// followed only on the configured endpoint. It must name the same customer's orders: the
// client never sends its token, or a continuation, anywhere else. Of the link's headers only
// MS-ContinuationToken is sent.
// onEndpoint parses a link Partner Center gave, relative or absolute; an absolute one must
// be on the configured endpoint, and comes back relative to it.
func (c *httpClient) onEndpoint(uri string) (*url.URL, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("the next page link is not a URI: %w", err)
	}
	if u.Scheme != "" || u.Host != "" {
		endpoint, err := url.Parse(c.cfg.Endpoint)
		if err != nil || !strings.EqualFold(u.Scheme, endpoint.Scheme) || !strings.EqualFold(u.Host, endpoint.Host) {
			return nil, fmt.Errorf("the next page link %q leaves the Partner Center endpoint", truncate(uri, 100))
		}
		u.Path = strings.TrimPrefix(u.Path, endpoint.Path)
		u.RawPath = ""
	}
	return u, nil
}

func (c *httpClient) nextOrdersPage(ordersPath string, links *ResourceLinks) (request, bool, error) {
	if links == nil || links.Next == nil {
		return request{}, false, nil
	}
	next := links.Next
	var token string
	for _, h := range next.Headers {
		if strings.EqualFold(h.Key, continuationTokenHeader) {
			token = h.Value
		}
	}
	if next.URI == "" && token == "" {
		return request{}, false, nil // an empty next link: nothing follows
	}
	if next.Method != "" && !strings.EqualFold(next.Method, http.MethodGet) {
		return request{}, false, fmt.Errorf("the next page link has method %q, not GET", next.Method)
	}
	if !validHeaderValue(token) {
		return request{}, false, errors.New("the next page link's continuation token is not a valid header value")
	}
	u, err := c.onEndpoint(next.URI)
	if err != nil {
		return request{}, false, err
	}
	path := u.EscapedPath()
	switch {
	case path == "":
		path = ordersPath // a link carrying only the token continues the same list
	case !strings.HasPrefix(path, "/v1/"):
		path = "/v1" + path
	}
	if strings.TrimSuffix(path, "/") != ordersPath {
		return request{}, false, fmt.Errorf("the next page link %q is not the customer's order list", truncate(next.URI, 100))
	}
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	r := request{op: OpListOrders, method: http.MethodGet, path: path, retry: true}
	if token != "" {
		r.headers = []KeyValuePair{{Key: continuationTokenHeader, Value: token}}
	}
	return r, true, nil
}

// validHeaderValue reports whether s can be sent as a header value as it is: no control
// characters (a CR or LF would split the request), printable ASCII only.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
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
	// headers are sent as well (a page's MS-ContinuationToken); they never replace the
	// headers every request carries.
	headers []KeyValuePair
	// limit bounds the answer's size; 0 means the operation's default.
	limit int
	// received, if set, is given the size of the 2xx answer that was decoded.
	received *int
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

// GetSubscription reads one subscription, retrying transient failures.
func (c *httpClient) GetSubscription(ctx context.Context, customerID, subscriptionID string) (*Subscription, error) {
	path, err := resourcePath("customers", customerID, "subscriptions", subscriptionID)
	if err != nil {
		return nil, fmt.Errorf("get subscription: %w", err)
	}
	var sub Subscription
	if err := c.do(ctx, request{op: OpGetSubscription, method: http.MethodGet, path: path, retry: true}, &sub); err != nil {
		return nil, err
	}
	return &sub, nil
}

// ListOrderSubscriptions reads the subscriptions one order created, retrying transient
// failures. Partner Center answers this query in one page.
func (c *httpClient) ListOrderSubscriptions(ctx context.Context, customerID, orderID string) ([]Subscription, error) {
	path, err := resourcePath("customers", customerID, "subscriptions")
	if err != nil {
		return nil, fmt.Errorf("list order subscriptions: %w", err)
	}
	if orderID == "" {
		return nil, fmt.Errorf("list order subscriptions: no order ID")
	}
	path += "?order_id=" + url.QueryEscape(orderID)
	var coll SubscriptionCollection
	if err := c.do(ctx, request{op: OpListOrderSubscriptions, method: http.MethodGet, path: path, retry: true}, &coll); err != nil {
		return nil, err
	}
	return coll.Items, nil
}

// CancelSubscription patches the subscription, as read, with status "deleted", once.
func (c *httpClient) CancelSubscription(ctx context.Context, customerID string, sub *Subscription, requestID string) (*Subscription, error) {
	if sub == nil || sub.ID == "" {
		return nil, fmt.Errorf("cancel subscription: no subscription")
	}
	path, err := resourcePath("customers", customerID, "subscriptions", sub.ID)
	if err != nil {
		return nil, fmt.Errorf("cancel subscription: %w", err)
	}
	body, err := sub.cancellationBody()
	if err != nil {
		return nil, fmt.Errorf("cancel subscription: %w", err)
	}
	var out Subscription
	err = c.do(ctx, request{
		op: OpCancelSubscription, method: http.MethodPatch, path: path, body: body, requestID: requestID,
	}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}
