// Package partnercenter is the operator's only window on Microsoft Partner Center: wire models
// for every type of the carts and orders API, a Client interface with an HTTP implementation,
// OAuth2 client-credentials auth, per-partner-tenant rate limiting, and one classification of
// upstream errors used by every caller.
package partnercenter

import (
	"context"
)

// Client is the subset of the Partner Center API the operator uses.
//
// Every call is bounded by its own timeout. GETs and PUTs are retried inside the client on
// transport errors, 408 and 5xx with the same MS-RequestId; CreateCart and Checkout are POSTs
// and are sent at most once per call: their callers own recovery, with a caller-chosen
// MS-RequestId that stays the same across the caller's own retries of one logical operation.
// Redirects are never followed. Errors are *APIError (an error answer), *TransportError (no
// answer) or *DecodeError (a success answer that cannot be read: the change may have taken
// effect) values; use Classify to decide what to do.
type Client interface {
	// CreateCart creates a cart for the customer (POST .../customers/{customerId}/carts).
	CreateCart(ctx context.Context, customerID string, cart *Cart, requestID string) (*Cart, error)
	// GetCart reads a cart (GET .../carts/{cartId}).
	GetCart(ctx context.Context, customerID, cartID string) (*Cart, error)
	// UpdateCart replaces the whole cart (PUT .../carts/{cartId}).
	UpdateCart(ctx context.Context, customerID, cartID string, cart *Cart) (*Cart, error)
	// Checkout checks the cart out (POST .../carts/{cartId}/checkout). Partner Center documents
	// checkout as idempotent per cart: a repeat for an ordered cart returns the first result.
	Checkout(ctx context.Context, customerID, cartID, requestID string) (*CartCheckoutResult, error)
	// GetOrder reads one order (GET .../orders/{orderId}).
	GetOrder(ctx context.Context, customerID, orderID string) (*Order, error)
	// ListOrders reads the customer's orders (GET .../orders).
	ListOrders(ctx context.Context, customerID string) ([]Order, error)
	// GetCustomer reads the customer (GET /v1/customers/{customerId}).
	GetCustomer(ctx context.Context, customerID string) (*Customer, error)

	// GetSubscription reads one subscription (GET .../subscriptions/{subscriptionId}).
	GetSubscription(ctx context.Context, customerID, subscriptionID string) (*Subscription, error)
	// ListOrderSubscriptions reads the subscriptions an order created
	// (GET .../subscriptions?order_id={orderId}).
	ListOrderSubscriptions(ctx context.Context, customerID, orderID string) ([]Subscription, error)
	// CancelSubscription cancels a New-Commerce subscription within Partner Center's
	// cancellation window: a PATCH of sub, as read by GetSubscription, with status "deleted".
	// It is sent at most once per call, never retried inside the client: a caller that does
	// not learn the answer reads the subscription before deciding to call again.
	CancelSubscription(ctx context.Context, customerID string, sub *Subscription, requestID string) (*Subscription, error)
}

// Credentials are a partner app's client credentials, read from a Secret.
type Credentials struct {
	// TenantID is the partner's Entra tenant, used in the token URL and as the rate-limit key.
	TenantID string
	// ClientID is the app registration's client ID.
	ClientID string
	// ClientSecret is the app's secret. It must never be logged.
	ClientSecret string

	// Account names the PartnerCenterAccount the credentials come from ("" for a namespace
	// Secret). Tokens are cached per account and credential version.
	Account string
	// Method is how the app signs in; "" means AuthClientSecret. See auth_assertion.go.
	Method AuthMethod
	// CertificatePEM and PrivateKeyPEM (AuthCertificate) are tls.crt and tls.key: the app's
	// certificate (leaf first) and its RSA private key, which must never be logged.
	CertificatePEM, PrivateKeyPEM string
	// SigningAlgorithm (AuthCertificate) is RS256 or PS256; "" means PS256.
	SigningAlgorithm string
	// TokenFile (AuthWorkloadIdentity) is the projected service-account token, read again
	// for every token request so that its rotation is picked up without a restart.
	TokenFile string
	// TokenAudience (AuthWorkloadIdentity) is the audience the token in TokenFile must carry
	// (the account's; DefaultWorkloadIdentityAudience unless it names another). "" checks none.
	TokenAudience string
}

// String hides the secret so that Credentials can never leak through %v or a logger.
func (c Credentials) String() string {
	return "Credentials{TenantID:" + c.TenantID + ", ClientID:" + c.ClientID + ", ClientSecret:<redacted>" +
		", Account:" + c.Account + ", Method:" + string(c.Method) + ", PrivateKeyPEM:<redacted>}"
}

// GoString hides the secret from %#v too.
func (c Credentials) GoString() string { return c.String() }

// Factory returns a Client acting with the given credentials. Implementations cache clients
// and tokens per credentials, so calling it on every reconcile is cheap, and a rotated
// secret is picked up at once.
type Factory interface {
	ClientFor(creds Credentials) (Client, error)
}
