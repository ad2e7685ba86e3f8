// Package fake is the one test double of partnercenter.Client and partnercenter.Factory.
// Tests set the func fields they need; an unset one fails loudly. Every call is recorded,
// so a test can say "Checkout was called exactly once". Do not write another mock.
package fake

import (
	"context"
	"encoding/json"
	"errors"
	"sync"

	"github.com/partnercart/partnercart-operator/internal/partnercenter"
)

// Call is one recorded call. Fields a method does not take are empty.
type Call struct {
	Op         string // partnercenter.OpCreateCart, OpCheckout, ...
	CustomerID string
	CartID     string
	OrderID    string
	RequestID  string
	// SubscriptionID is the subscription read or cancelled.
	SubscriptionID string
	// Cart is a copy of the cart sent by CreateCart and UpdateCart.
	Cart *partnercenter.Cart
}

// Client is a partnercenter.Client whose behaviour is its func fields. Set them before the
// client is used; it is then safe for concurrent use.
type Client struct {
	CreateCartFn func(ctx context.Context, customerID string, cart *partnercenter.Cart, requestID string) (*partnercenter.Cart, error)
	GetCartFn    func(ctx context.Context, customerID, cartID string) (*partnercenter.Cart, error)
	UpdateCartFn func(ctx context.Context, customerID, cartID string, cart *partnercenter.Cart) (*partnercenter.Cart, error)
	CheckoutFn   func(ctx context.Context, customerID, cartID, requestID string) (*partnercenter.CartCheckoutResult, error)
	GetOrderFn   func(ctx context.Context, customerID, orderID string) (*partnercenter.Order, error)
	// GetCustomerFn: nil answers with a company named after the customer ID.
	GetCustomerFn func(ctx context.Context, customerID string) (*partnercenter.Customer, error)
	ListOrdersFn  func(ctx context.Context, customerID string) ([]partnercenter.Order, error)

	GetSubscriptionFn        func(ctx context.Context, customerID, subscriptionID string) (*partnercenter.Subscription, error)
	ListOrderSubscriptionsFn func(ctx context.Context, customerID, orderID string) ([]partnercenter.Subscription, error)
	CancelSubscriptionFn     func(ctx context.Context, customerID string, sub *partnercenter.Subscription, requestID string) (*partnercenter.Subscription, error)

	mu    sync.Mutex
	calls []Call

	subscriptions func(id string) (partnercenter.Subscription, bool)
}

var _ partnercenter.Client = (*Client)(nil)

// Option sets up a Client.
type Option func(*Client)

// New returns a Client set up by opts.
func New(opts ...Option) *Client {
	c := &Client{}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

// WithCart makes GetCart return a copy of cart, and CreateCart and UpdateCart return a
// copy of what they were sent, with cart's ID and status.
func WithCart(cart *partnercenter.Cart) Option {
	return func(c *Client) {
		c.GetCartFn = func(context.Context, string, string) (*partnercenter.Cart, error) {
			return copyCart(cart), nil
		}
		echo := func(sent *partnercenter.Cart) *partnercenter.Cart {
			out := copyCart(sent)
			out.ID, out.Status = cart.ID, cart.Status
			return out
		}
		c.CreateCartFn = func(_ context.Context, _ string, sent *partnercenter.Cart, _ string) (*partnercenter.Cart, error) {
			return echo(sent), nil
		}
		c.UpdateCartFn = func(_ context.Context, _, _ string, sent *partnercenter.Cart) (*partnercenter.Cart, error) {
			return echo(sent), nil
		}
	}
}

// WithCheckoutResult makes every Checkout return result.
func WithCheckoutResult(result *partnercenter.CartCheckoutResult) Option {
	return func(c *Client) {
		c.CheckoutFn = func(context.Context, string, string, string) (*partnercenter.CartCheckoutResult, error) {
			return result, nil
		}
	}
}

// WithOrders makes GetOrder find orders by ID (404 otherwise) and ListOrders return them all.
func WithOrders(orders ...partnercenter.Order) Option {
	return func(c *Client) {
		c.GetOrderFn = func(_ context.Context, _, orderID string) (*partnercenter.Order, error) {
			for _, o := range orders {
				if o.ID == orderID {
					return &o, nil
				}
			}
			return nil, &partnercenter.APIError{Operation: partnercenter.OpGetOrder, StatusCode: 404, Description: "order not found"}
		}
		c.ListOrdersFn = func(context.Context, string) ([]partnercenter.Order, error) {
			return append([]partnercenter.Order(nil), orders...), nil
		}
	}
}

// WithError makes operation op (partnercenter.OpCheckout, ...) fail with err.
func WithError(op string, err error) Option {
	return func(c *Client) {
		switch op {
		case partnercenter.OpCreateCart:
			c.CreateCartFn = func(context.Context, string, *partnercenter.Cart, string) (*partnercenter.Cart, error) {
				return nil, err
			}
		case partnercenter.OpGetCart:
			c.GetCartFn = func(context.Context, string, string) (*partnercenter.Cart, error) { return nil, err }
		case partnercenter.OpUpdateCart:
			c.UpdateCartFn = func(context.Context, string, string, *partnercenter.Cart) (*partnercenter.Cart, error) {
				return nil, err
			}
		case partnercenter.OpCheckout:
			c.CheckoutFn = func(context.Context, string, string, string) (*partnercenter.CartCheckoutResult, error) {
				return nil, err
			}
		case partnercenter.OpGetOrder:
			c.GetOrderFn = func(context.Context, string, string) (*partnercenter.Order, error) { return nil, err }
		case partnercenter.OpListOrders:
			c.ListOrdersFn = func(context.Context, string) ([]partnercenter.Order, error) { return nil, err }
		case partnercenter.OpGetSubscription:
			c.GetSubscriptionFn = func(context.Context, string, string) (*partnercenter.Subscription, error) { return nil, err }
		case partnercenter.OpListOrderSubscriptions:
			c.ListOrderSubscriptionsFn = func(context.Context, string, string) ([]partnercenter.Subscription, error) { return nil, err }
		case partnercenter.OpCancelSubscription:
			c.CancelSubscriptionFn = func(context.Context, string, *partnercenter.Subscription, string) (*partnercenter.Subscription, error) {
				return nil, err
			}
		default:
			panic("fake: WithError: unknown operation " + op)
		}
	}
}

// CreateCart records the call and runs CreateCartFn.
func (c *Client) CreateCart(ctx context.Context, customerID string, cart *partnercenter.Cart, requestID string) (*partnercenter.Cart, error) {
	c.record(Call{Op: partnercenter.OpCreateCart, CustomerID: customerID, RequestID: requestID, Cart: copyCart(cart)})
	if c.CreateCartFn == nil {
		return nil, notImplemented(partnercenter.OpCreateCart)
	}
	return c.CreateCartFn(ctx, customerID, cart, requestID)
}

// GetCart records the call and runs GetCartFn.
func (c *Client) GetCart(ctx context.Context, customerID, cartID string) (*partnercenter.Cart, error) {
	c.record(Call{Op: partnercenter.OpGetCart, CustomerID: customerID, CartID: cartID})
	if c.GetCartFn == nil {
		return nil, notImplemented(partnercenter.OpGetCart)
	}
	return c.GetCartFn(ctx, customerID, cartID)
}

// UpdateCart records the call and runs UpdateCartFn.
func (c *Client) UpdateCart(ctx context.Context, customerID, cartID string, cart *partnercenter.Cart) (*partnercenter.Cart, error) {
	c.record(Call{Op: partnercenter.OpUpdateCart, CustomerID: customerID, CartID: cartID, Cart: copyCart(cart)})
	if c.UpdateCartFn == nil {
		return nil, notImplemented(partnercenter.OpUpdateCart)
	}
	return c.UpdateCartFn(ctx, customerID, cartID, cart)
}

// Checkout records the call and runs CheckoutFn.
func (c *Client) Checkout(ctx context.Context, customerID, cartID, requestID string) (*partnercenter.CartCheckoutResult, error) {
	c.record(Call{Op: partnercenter.OpCheckout, CustomerID: customerID, CartID: cartID, RequestID: requestID})
	if c.CheckoutFn == nil {
		return nil, notImplemented(partnercenter.OpCheckout)
	}
	return c.CheckoutFn(ctx, customerID, cartID, requestID)
}

// GetOrder records the call and runs GetOrderFn.
func (c *Client) GetOrder(ctx context.Context, customerID, orderID string) (*partnercenter.Order, error) {
	c.record(Call{Op: partnercenter.OpGetOrder, CustomerID: customerID, OrderID: orderID})
	if c.GetOrderFn == nil {
		return nil, notImplemented(partnercenter.OpGetOrder)
	}
	return c.GetOrderFn(ctx, customerID, orderID)
}

// GetCustomer records the call and runs GetCustomerFn.
func (c *Client) GetCustomer(ctx context.Context, customerID string) (*partnercenter.Customer, error) {
	c.record(Call{Op: partnercenter.OpGetCustomer, CustomerID: customerID})
	if c.GetCustomerFn == nil {
		return &partnercenter.Customer{ID: customerID, CompanyProfile: partnercenter.CustomerCompanyProfile{
			TenantID: customerID, CompanyName: "Customer " + customerID}}, nil
	}
	return c.GetCustomerFn(ctx, customerID)
}

// ListOrders records the call and runs ListOrdersFn.
func (c *Client) ListOrders(ctx context.Context, customerID string) ([]partnercenter.Order, error) {
	c.record(Call{Op: partnercenter.OpListOrders, CustomerID: customerID})
	if c.ListOrdersFn == nil {
		return nil, notImplemented(partnercenter.OpListOrders)
	}
	return c.ListOrdersFn(ctx, customerID)
}

// WithSubscriptions makes GetSubscription find subs by ID (404 otherwise),
// ListOrderSubscriptions return those of an order, and CancelSubscription mark one "deleted"
// (a second cancellation of a deleted one is refused, as Partner Center does). It keeps its
// own copies; Subscription reads them.
func WithSubscriptions(subs ...partnercenter.Subscription) Option {
	return func(c *Client) {
		var mu sync.Mutex
		byID := map[string]*partnercenter.Subscription{}
		order := make([]string, 0, len(subs))
		for _, s := range subs {
			byID[s.ID] = &s
			order = append(order, s.ID)
		}
		notFound := func(op, id string) error {
			return &partnercenter.APIError{Operation: op, StatusCode: 404, Description: "subscription " + id + " not found"}
		}
		c.subscriptions = func(id string) (partnercenter.Subscription, bool) {
			mu.Lock()
			defer mu.Unlock()
			s, ok := byID[id]
			if !ok {
				return partnercenter.Subscription{}, false
			}
			return *s, true
		}
		c.GetSubscriptionFn = func(_ context.Context, _, id string) (*partnercenter.Subscription, error) {
			mu.Lock()
			defer mu.Unlock()
			s, ok := byID[id]
			if !ok {
				return nil, notFound(partnercenter.OpGetSubscription, id)
			}
			out := *s
			return &out, nil
		}
		c.ListOrderSubscriptionsFn = func(_ context.Context, _, orderID string) ([]partnercenter.Subscription, error) {
			mu.Lock()
			defer mu.Unlock()
			var out []partnercenter.Subscription
			for _, id := range order {
				if byID[id].OrderID == orderID {
					out = append(out, *byID[id])
				}
			}
			return out, nil
		}
		c.CancelSubscriptionFn = func(_ context.Context, _ string, sub *partnercenter.Subscription, _ string) (*partnercenter.Subscription, error) {
			mu.Lock()
			defer mu.Unlock()
			s, ok := byID[sub.ID]
			if !ok {
				return nil, notFound(partnercenter.OpCancelSubscription, sub.ID)
			}
			if s.IsCancelled() {
				return nil, &partnercenter.APIError{Operation: partnercenter.OpCancelSubscription, StatusCode: 400,
					Code: partnercenter.CodeSubscriptionNoUpdates, Description: "Update operations are no longer allowed for this subscription."}
			}
			s.Status = partnercenter.SubscriptionDeleted
			out := *s
			return &out, nil
		}
	}
}

// Subscription returns the fake's copy of a subscription set with WithSubscriptions.
func (c *Client) Subscription(id string) (partnercenter.Subscription, bool) {
	if c.subscriptions == nil {
		return partnercenter.Subscription{}, false
	}
	return c.subscriptions(id)
}

// GetSubscription calls GetSubscriptionFn.
func (c *Client) GetSubscription(ctx context.Context, customerID, subscriptionID string) (*partnercenter.Subscription, error) {
	c.record(Call{Op: partnercenter.OpGetSubscription, CustomerID: customerID, SubscriptionID: subscriptionID})
	if c.GetSubscriptionFn == nil {
		return nil, notImplemented(partnercenter.OpGetSubscription)
	}
	return c.GetSubscriptionFn(ctx, customerID, subscriptionID)
}

// ListOrderSubscriptions calls ListOrderSubscriptionsFn.
func (c *Client) ListOrderSubscriptions(ctx context.Context, customerID, orderID string) ([]partnercenter.Subscription, error) {
	c.record(Call{Op: partnercenter.OpListOrderSubscriptions, CustomerID: customerID, OrderID: orderID})
	if c.ListOrderSubscriptionsFn == nil {
		return nil, notImplemented(partnercenter.OpListOrderSubscriptions)
	}
	return c.ListOrderSubscriptionsFn(ctx, customerID, orderID)
}

// CancelSubscription calls CancelSubscriptionFn.
func (c *Client) CancelSubscription(ctx context.Context, customerID string, sub *partnercenter.Subscription, requestID string) (*partnercenter.Subscription, error) {
	c.record(Call{Op: partnercenter.OpCancelSubscription, CustomerID: customerID, SubscriptionID: sub.ID, RequestID: requestID})
	if c.CancelSubscriptionFn == nil {
		return nil, notImplemented(partnercenter.OpCancelSubscription)
	}
	return c.CancelSubscriptionFn(ctx, customerID, sub, requestID)
}

// Calls returns the calls made so far, oldest first.
func (c *Client) Calls() []Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Call(nil), c.calls...)
}

// Count returns how many calls of operation op were made.
func (c *Client) Count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, call := range c.calls {
		if call.Op == op {
			n++
		}
	}
	return n
}

// Reset forgets the recorded calls.
func (c *Client) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = nil
}

func (c *Client) record(call Call) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, call)
}

func notImplemented(op string) error {
	return errors.New("fake: " + op + " not implemented")
}

// copyCart deep-copies a cart, so that neither the test nor the code under test sees the
// other's later changes.
func copyCart(cart *partnercenter.Cart) *partnercenter.Cart {
	if cart == nil {
		return nil
	}
	b, err := json.Marshal(cart)
	if err != nil {
		panic("fake: copy cart: " + err.Error())
	}
	var out partnercenter.Cart
	if err := json.Unmarshal(b, &out); err != nil {
		panic("fake: copy cart: " + err.Error())
	}
	return &out
}

// Factory is a partnercenter.Factory that hands out Client, or fails for the credentials
// it was told to fail for. It records the credentials it was asked for.
type Factory struct {
	Client *Client

	mu        sync.Mutex
	failures  map[partnercenter.Credentials]error
	requested []partnercenter.Credentials
}

var _ partnercenter.Factory = (*Factory)(nil)

// NewFactory returns a Factory handing out client.
func NewFactory(client *Client) *Factory {
	return &Factory{Client: client}
}

// FailFor makes ClientFor(creds) return err.
func (f *Factory) FailFor(creds partnercenter.Credentials, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failures == nil {
		f.failures = map[partnercenter.Credentials]error{}
	}
	f.failures[creds] = err
}

// ClientFor returns f.Client, or the error set with FailFor.
func (f *Factory) ClientFor(creds partnercenter.Credentials) (partnercenter.Client, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requested = append(f.requested, creds)
	if err, ok := f.failures[creds]; ok {
		return nil, err
	}
	if f.Client == nil {
		return nil, errors.New("fake: Factory has no Client")
	}
	return f.Client, nil
}

// Requested returns the credentials ClientFor was called with, oldest first.
func (f *Factory) Requested() []partnercenter.Credentials {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]partnercenter.Credentials(nil), f.requested...)
}
