package v1alpha1

// Condition types. Ready, Reconciling and Stalled follow kstatus, so Flux, Argo CD and
// `kubectl wait --for=condition=Ready` understand a PartnerCart without custom health checks.
const (
	// ReadyCondition is True only when every order of the checkout is completed.
	ReadyCondition = "Ready"
	// ReconcilingCondition is True while the operator still has work in flight.
	ReconcilingCondition = "Reconciling"
	// StalledCondition is True when the cart cannot progress without a person.
	StalledCondition = "Stalled"
	// CartSyncedCondition is True when the upstream cart equals the current spec and has no line errors.
	CartSyncedCondition = "CartSynced"
	// ApprovedCondition is True when spec.approval lets the checkout proceed.
	ApprovedCondition = "Approved"
	// CheckedOutCondition is True once the checkout result is recorded.
	CheckedOutCondition = "CheckedOut"
	// CancelledCondition is present once a cancellation is requested: False while it waits
	// for approval or is carried out (the message says until when it is possible), True once
	// every named subscription is cancelled.
	CancelledCondition = "Cancelled"
)

// Reasons for Cancelled (and, while a cancellation is under way or stuck, Ready).
const (
	// CancellationAwaitingApprovalReason: spec.cancellation is requested and waits for an
	// approver (kubectl partnercart approve --cancellation); the message says until when
	// Partner Center allows it.
	CancellationAwaitingApprovalReason = "CancellationAwaitingApproval"
	// CancellationNotStampedReason: spec.cancellation says approved without the API server's
	// stamps (written while the admission policies were not in force); approve again.
	CancellationNotStampedReason = "CancellationNotStamped"
	// CancellationInProgressReason: the approved cancellation is being carried out.
	CancellationInProgressReason = "CancellationInProgress"
	// CancellationWaitingForSubscriptionsReason: the orders have not named every subscription
	// to cancel yet (provisioning); the cancellation starts when they do.
	CancellationWaitingForSubscriptionsReason = "WaitingForSubscriptions"
	// CancelledReason: every named subscription is cancelled.
	CancelledReason = "Cancelled"
	// CancellationPartiallyRefusedReason: some subscriptions were cancelled, others refused.
	CancellationPartiallyRefusedReason = "CancellationPartiallyRefused"
	// CancellationRefusedReason: nothing was cancelled: the window had closed, or Partner
	// Center refused; status.cancellation has each subscription's code and message.
	CancellationRefusedReason = "CancellationRefused"
	// CancellationOutcomeUnknownReason: cancellation calls were made whose outcome the
	// operator could not read back; it keeps reading, and never calls again.
	CancellationOutcomeUnknownReason = "CancellationOutcomeUnknown"
	// CancellationInvalidReason: the request names line items the cart does not have, or the
	// cart bought nothing to cancel.
	CancellationInvalidReason = "CancellationInvalid"
	// CancellationBlocksCheckoutReason: spec.cancellation is requested on a cart that was not
	// bought; it is never bought while the request stands.
	CancellationBlocksCheckoutReason = "CancellationRequested"
)

// Reasons for CartSynced.
const (
	// CartSyncedReason: the cart upstream equals the spec.
	CartSyncedReason = "Synced"
	// LineItemErrorsReason: Partner Center rejected one or more line items; see status.lineItemErrors.
	LineItemErrorsReason = "LineItemErrors"
	// CartFrozenReason: the cart was checked out; later spec edits are ignored.
	CartFrozenReason = "CheckedOutCartFrozen"
)

// Reasons for Approved.
const (
	// ApprovedReason: spec.approval allows the checkout.
	ApprovedReason = "Approved"
	// WaitingForApprovalReason: spec.approval.approved is false.
	WaitingForApprovalReason = "WaitingForApproval"
	// ApprovalHashMismatchReason: spec.approval.specHash pins content that is no longer the spec's.
	ApprovalHashMismatchReason = "ApprovalHashMismatch"
	// PriceLimitExceededReason: the cart's quoted total is above spec.approval.maxTotalPrice.
	PriceLimitExceededReason = "PriceLimitExceeded"
	// QuoteUnavailableReason: the cart has no quoted total to compare with maxTotalPrice.
	QuoteUnavailableReason = "QuoteUnavailable"
	// ApprovalNotStampedReason: spec.approval says approved, but without the API server's
	// stamps (approvedBy, approvedAt; an approvedAt in the future is not one): it was written
	// while the admission policies were not in force. An approver must approve again.
	ApprovalNotStampedReason = "ApprovalNotStamped"
	// AdmissionPoliciesNotInForceReason: the approval policies (config/policy) are missing,
	// changed or not enforced by the API server, so an approval or a decision annotation
	// proves nothing: no cart starts a checkout until they are back (the manager checks every
	// minute).
	AdmissionPoliciesNotInForceReason = "AdmissionPoliciesNotInForce"
)

// Reasons for CheckedOut.
const (
	// NotCheckedOutReason: no checkout has been attempted (CheckedOut=False).
	NotCheckedOutReason = "NotCheckedOut"
	// CheckoutInProgressReason: the intent is recorded and the outcome is being established.
	CheckoutInProgressReason = "CheckoutInProgress"
	// CheckoutSucceededReason: Partner Center returned orders.
	CheckoutSucceededReason = "CheckoutSucceeded"
	// CheckoutPartiallyFailedReason: some order groups failed; see status.orderErrors.
	CheckoutPartiallyFailedReason = "CheckoutPartiallyFailed"
	// CheckoutFailedReason: the checkout bought nothing and a person must act (every order
	// group failed, or the cart kept vanishing at checkout).
	CheckoutFailedReason = "CheckoutFailed"
	// CheckoutRefusedReason: Partner Center definitely refused the checkout; nothing was bought.
	// The refused intent is in status.checkoutHistory; changing the spec (fixing the cause,
	// or re-approving) lets a new intent pass the whole gate again.
	CheckoutRefusedReason = "CheckoutRefused"
	// PreviouslyPurchasedReason: a receipt shows that an earlier PartnerCart of the same
	// namespace and name already bought; annotate repurchase-of to buy again.
	PreviouslyPurchasedReason = "PreviouslyPurchased"
	// IdenticalRecentPurchaseReason: no receipt exists, but the customer bought exactly these
	// lines recently (a cluster rebuilt from Git, say); annotate repurchase-of to buy again.
	IdenticalRecentPurchaseReason = "IdenticalRecentPurchase"
	// IdenticalPurchaseInFlightReason: another PartnerCart of the namespace, being deleted (a
	// rename in Git deletes the old name), checked out exactly this content and its outcome or
	// record is not settled; nothing is bought until it is gone, and then its receipt decides.
	IdenticalPurchaseInFlightReason = "IdenticalPurchaseInFlight"
	// OrdersUnreadableReason: no receipt exists, and the customer's order list, which the
	// identical-purchase guard reads, answered but cannot be read whole (too many pages or
	// bytes, a broken answer); nothing is bought while the guard cannot look. The list is read
	// again every few minutes; an administrator can turn the guard off with the manager's
	// --identical-purchase-window set negative.
	OrdersUnreadableReason = "OrdersUnreadable"
	// UpstreamCartDiffersReason: the upstream cart's lines differ from the spec even after a
	// PUT; nothing is bought until they match.
	UpstreamCartDiffersReason = "UpstreamCartDiffers"
	// CheckoutOutcomeUnknownReason: the operator cannot tell whether the checkout happened.
	CheckoutOutcomeUnknownReason = "CheckoutOutcomeUnknown"
	// CheckoutAbandonedReason: a person recorded that an unknown checkout bought nothing.
	CheckoutAbandonedReason = "CheckoutAbandoned"
	// CheckoutResolvedReason: a person recorded the orders of an unknown checkout.
	CheckoutResolvedReason = "CheckoutResolvedByPerson"
)

// Reasons for Ready, Reconciling and Stalled.
const (
	// SucceededReason: every order completed.
	SucceededReason = "Succeeded"
	// ProgressingReason: work is in flight.
	ProgressingReason = "Progressing"
	// OrdersProvisioningReason: orders exist and at least one is still pending.
	OrdersProvisioningReason = "OrdersProvisioning"
	// OrdersFailedReason: an order ended in a status other than completed.
	OrdersFailedReason = "OrdersFailed"
	// CredentialsSecretNotFoundReason: the credentials Secret does not exist.
	CredentialsSecretNotFoundReason = "CredentialsSecretNotFound"
	// InvalidCredentialsReason: the credentials Secret lacks a key, or Partner Center refused them.
	InvalidCredentialsReason = "InvalidCredentials"
	// AccountNotFoundReason: the PartnerCenterAccount named by spec.accountRef does not exist
	// (the cart waits for it; creating it wakes the cart).
	AccountNotFoundReason = "AccountNotFound"
	// AccountReplacedReason: the PartnerCenterAccount a checkout intent was made with was deleted
	// and re-created under the same name (another UID, perhaps another partner's credentials)
	// while the intent's outcome or orders were still to be read; nothing is sent to Partner
	// Center with the new account, and the cart waits for a person.
	AccountReplacedReason = "AccountReplaced"
	// AccountNotAllowedReason: the PartnerCenterAccount does not allow the cart's namespace
	// (spec.namespaces); nothing is sent upstream until the platform team allows it.
	AccountNotAllowedReason = "AccountNotAllowed"
	// AccountPriceCeilingExceededReason: the quoted total, or the approval's maxTotalPrice, is
	// above the account's maxTotalPricePerCart; nothing is bought.
	AccountPriceCeilingExceededReason = "AccountPriceCeilingExceeded"
	// CustomerNotAllowedReason: the PartnerCenterAccount's spec.customers does not let the
	// cart's namespace buy for its spec.customerId; nothing is sent upstream until the spec
	// or the account changes.
	CustomerNotAllowedReason = "CustomerNotAllowed"
	// NamespaceCredentialsDisabledReason: the cart names a Secret of its namespace, but the
	// manager runs with --allow-namespace-credentials=false; use spec.accountRef.
	NamespaceCredentialsDisabledReason = "NamespaceCredentialsDisabled"
	// ThrottledReason: Partner Center asked us to wait (429 with Retry-After).
	ThrottledReason = "Throttled"
	// UpstreamUnavailableReason: Partner Center failed in a way worth retrying.
	UpstreamUnavailableReason = "UpstreamUnavailable"
	// UpstreamRejectedReason: Partner Center refused a request for good; the message has its code.
	UpstreamRejectedReason = "UpstreamRejected"
	// SpecChangedAfterCheckoutReason: the purchase content was edited after checkout; the edit is ignored.
	SpecChangedAfterCheckoutReason = "SpecChangedAfterCheckout"
	// PurchaseFrozenReason: approved, but the manager runs with --purchase-freeze.
	PurchaseFrozenReason = "PurchaseFrozen"
	// DeletionBlockedReason: the object is being deleted and waits for a checkout outcome.
	DeletionBlockedReason = "WaitingForCheckoutOutcome"
	// DeniedReason: an approver denied the cart (spec.approval.denied); terminal until an
	// approver clears it.
	DeniedReason = "Denied"
	// PausedReason: the PausedAnnotation stops every upstream call of this cart.
	PausedReason = "Paused"
)

// Event reasons. Events say what the operator did and what needs a person; states (the orders
// completing, the cart Ready) are conditions. A purchase makes one Event, OrdersCreated (naming
// the orders and their status then); problems are Warnings, once per stall.
const (
	// EventCartCreated is no longer emitted (status.cart.id names the cart); kept for
	// clients that match on it.
	EventCartCreated        = "CartCreated"
	EventCartUpdated        = "CartUpdated"
	EventCartRecreated      = "CartRecreated"
	EventLineItemErrors     = "LineItemErrors"
	EventWaitingForApproval = "WaitingForApproval"
	// EventCheckoutSubmitted marks a repeated checkout call (an earlier answer was lost).
	EventCheckoutSubmitted = "CheckoutSubmitted"
	EventOrdersCreated     = "OrdersCreated"
	// EventOrdersCompleted is no longer emitted (Ready=True with reason Succeeded says the
	// orders completed); kept for clients that match on it.
	EventOrdersCompleted = "OrdersCompleted"
	// EventCheckoutPartiallyFailed: the checkout created orders, and some order groups
	// failed (a Warning at checkout; the stall that follows once the orders finish is not
	// announced again).
	EventCheckoutPartiallyFailed = "CheckoutPartiallyFailed"
	EventCheckoutUnknown         = "CheckoutOutcomeUnknown"
	// EventOrphaned: a PartnerCart that bought was deleted; with deletionPolicy Orphan its
	// subscriptions are left alone and its receipt keeps the record.
	EventOrphaned           = "Orphaned"
	EventSpecIgnored        = "SpecChangedAfterCheckout"
	EventCredentialsInvalid = "CredentialsInvalid"
	EventPurchaseFrozen     = "PurchaseFrozen"
	EventCheckoutResolved   = "CheckoutResolved"
	EventCheckoutRefused    = "CheckoutRefused"
	// EventDenied: an approver denied the cart (a Warning, once).
	EventDenied = "Denied"
	// EventCancellationRequested: a cancellation waits for an approver (Normal, once).
	EventCancellationRequested = "CancellationRequested"
	// EventSubscriptionCancelled: Partner Center cancelled one subscription (Normal).
	EventSubscriptionCancelled = "SubscriptionCancelled"
	// EventCancellationRefused: a subscription was not cancelled (Warning).
	EventCancellationRefused = "CancellationRefused"
	// EventCancellationCompleted: every subscription's outcome is final (Normal or Warning).
	EventCancellationCompleted = "CancellationCompleted"
)
