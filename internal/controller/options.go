package controller

import (
	"os"
	"time"

	"github.com/google/uuid"
)

// Options tune the reconciler. Zero values take the defaults below.
type Options struct {
	// OrderPollInterval is the first wait between order polls; later waits grow with the
	// order's age, up to MaxOrderPollInterval, with jitter.
	OrderPollInterval    time.Duration
	MaxOrderPollInterval time.Duration
	// CredentialsRetryInterval is the slow retry after missing or refused credentials.
	CredentialsRetryInterval time.Duration
	// CartExpiryMargin: a cart that expires within this margin is re-created before checkout
	// rather than risk expiring mid-checkout.
	CartExpiryMargin time.Duration
	// SubscriptionIDWait is how long completed orders are still polled for subscription IDs.
	SubscriptionIDWait time.Duration
	// CheckoutTimeout bounds one checkout call and the writes that record it; it is also the
	// deadline after which another process may repeat a call this one made. A shutdown waits
	// for a call in flight, up to this long.
	CheckoutTimeout time.Duration
	// Identity names this manager process in status.checkout.owner (default: host name and a
	// random suffix, new at every start).
	Identity string
	// IdenticalPurchaseWindow: before a first checkout with no receipt of the same name, the
	// customer's orders created within this window are searched for exactly the cart's lines
	// (a cluster rebuilt from Git must not buy again). Zero takes the default, seven days (the
	// New-Commerce cancellation window); a negative value disables the search.
	IdenticalPurchaseWindow time.Duration
	// CredentialsNamespace is where PartnerCenterAccount Secrets live (--credentials-namespace).
	CredentialsNamespace string
	// ReceiptNamespace is where receipts live (--receipt-namespace, by default the manager's
	// own namespace): out of tenants' reach, and the only namespace whose receipts count.
	// Required.
	ReceiptNamespace string
	// WorkloadIdentityTokenPath is the manager's projected token, for workloadIdentity accounts
	// that name no tokenPath (default DefaultWorkloadIdentityTokenPath).
	WorkloadIdentityTokenPath string
	// DenyNamespaceCredentials (--allow-namespace-credentials=false) refuses carts that name a
	// Secret of their own namespace: only PartnerCenterAccounts buy, and the manager needs no
	// Secret read outside the credentials namespace.
	DenyNamespaceCredentials bool
	// PurchaseFreeze stops every new checkout (an operator-wide kill switch): carts are still
	// created, synced and approved, and checkouts already started are still recovered, so no
	// purchase in flight is lost.
	PurchaseFreeze bool
}

// Defaults of the Options the manager has flags for; its flags show these same values.
const (
	DefaultOrderPollInterval        = 5 * time.Second
	DefaultMaxOrderPollInterval     = 10 * time.Minute
	DefaultCredentialsRetryInterval = 5 * time.Minute
	// DefaultIdenticalPurchaseWindow is the New-Commerce cancellation window.
	DefaultIdenticalPurchaseWindow = 7 * 24 * time.Hour
)

func (o *Options) defaults() {
	setDefault(&o.OrderPollInterval, DefaultOrderPollInterval)
	setDefault(&o.MaxOrderPollInterval, DefaultMaxOrderPollInterval)
	setDefault(&o.CredentialsRetryInterval, DefaultCredentialsRetryInterval)
	setDefault(&o.CartExpiryMargin, 15*time.Minute)
	setDefault(&o.SubscriptionIDWait, time.Hour)
	setDefault(&o.CheckoutTimeout, DefaultCheckoutTimeout)
	if o.IdenticalPurchaseWindow == 0 {
		o.IdenticalPurchaseWindow = DefaultIdenticalPurchaseWindow
	}
	if o.Identity == "" {
		o.Identity = NewIdentity()
	}
	if o.WorkloadIdentityTokenPath == "" {
		o.WorkloadIdentityTokenPath = DefaultWorkloadIdentityTokenPath
	}
}

// DefaultWorkloadIdentityTokenPath is where the manager's Deployment projects its token.
const DefaultWorkloadIdentityTokenPath = "/var/run/secrets/partnercart.dev/workload-identity/token"

// DefaultCheckoutTimeout is the default Options.CheckoutTimeout.
const DefaultCheckoutTimeout = 2 * time.Minute

// NewIdentity names a manager process: its host name (the pod name) and a random suffix, so a
// restarted container is a new owner that waits out its predecessor's checkout deadline.
func NewIdentity() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "manager"
	}
	return host + "_" + uuid.NewString()[:8]
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}
