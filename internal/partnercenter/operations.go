package partnercenter

// Operation names, used in errors (APIError.Operation, TransportError.Operation), in
// Observer calls and metric labels, and by the fake's call records.
const (
	OpCreateCart   = "CreateCart"
	OpGetCart      = "GetCart"
	OpUpdateCart   = "UpdateCart"
	OpCheckout     = "Checkout"
	OpGetOrder     = "GetOrder"
	OpListOrders   = "ListOrders"
	OpGetCustomer  = "GetCustomer"
	OpAcquireToken = "AcquireToken"

	OpGetSubscription        = "GetSubscription"
	OpListOrderSubscriptions = "ListOrderSubscriptions"
	OpCancelSubscription     = "CancelSubscription"
)
