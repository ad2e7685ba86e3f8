package v1alpha1

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Finalizer keeps a PartnerCart until its purchase, if any, is recorded in a receipt.
const Finalizer = "partnercenter.partnercart.dev/finalizer"

// BillingCycle is how often a line item is billed. Values are the seed's CartLineItem enum.
// Values are the wire's lower snake case; PascalCase request spellings ("Monthly") are not
// accepted (see docs/api.md, "Enums and normalisation").
// +kubebuilder:validation:Enum=annual;biennial;monthly;none;one_time;triennial;unknown
type BillingCycle string

// Billing cycles accepted by Partner Center.
const (
	// BillingCycleAnnual bills once a year.
	BillingCycleAnnual BillingCycle = "annual"
	// BillingCycleBiennial bills once every two years (SDK BillingCycleType.Biennial).
	BillingCycleBiennial BillingCycle = "biennial"
	// BillingCycleMonthly bills every month.
	BillingCycleMonthly BillingCycle = "monthly"
	// BillingCycleNone is used for trials.
	BillingCycleNone BillingCycle = "none"
	// BillingCycleOneTime is used for reservations, savings plans and perpetual software.
	BillingCycleOneTime BillingCycle = "one_time"
	// BillingCycleTriennial bills once every three years.
	BillingCycleTriennial BillingCycle = "triennial"
	// BillingCycleUnknown is Partner Center's default value; it is accepted for completeness.
	BillingCycleUnknown BillingCycle = "unknown"
)

// ParticipantKey names the role of a partner taking part in an indirect sale.
// +kubebuilder:validation:Enum=transaction_reseller;additional_transaction_reseller;consumption_reseller;unknown
type ParticipantKey string

// Participant roles.
const (
	// ParticipantTransactionReseller is the indirect reseller of record (its PartnerID, not the provider's).
	ParticipantTransactionReseller ParticipantKey = "transaction_reseller"
	// ParticipantAdditionalTransactionReseller is one of at most five extra resellers (EU/EFTA only).
	ParticipantAdditionalTransactionReseller ParticipantKey = "additional_transaction_reseller"
	// ParticipantConsumptionReseller is the reseller credited with consumption.
	ParticipantConsumptionReseller ParticipantKey = "consumption_reseller"
	// ParticipantUnknown is Partner Center's default value; it is accepted for completeness.
	ParticipantUnknown ParticipantKey = "unknown"
)

// DeletionPolicy says what deleting a PartnerCart does after a purchase.
// +kubebuilder:validation:Enum=Orphan
type DeletionPolicy string

const (
	// DeletionPolicyOrphan leaves every subscription bought alone and keeps an immutable
	// receipt. It is the only policy: Partner Center has no call that undoes a purchase,
	// and a cancellation must be a deliberate act of its own, not a side effect of deleting YAML.
	DeletionPolicyOrphan DeletionPolicy = "Orphan"
)

// Phase summarises where a PartnerCart is in its lifecycle.
// +kubebuilder:validation:Enum=Pending;AwaitingApproval;CheckingOut;Provisioning;Completed;Failed;Cancelling;Cancelled;PartiallyCancelled
type Phase string

// Lifecycle phases.
const (
	// PhasePending means the cart is being created or synced upstream.
	PhasePending Phase = "Pending"
	// PhaseAwaitingApproval means the cart is synced and waits for spec.approval.
	PhaseAwaitingApproval Phase = "AwaitingApproval"
	// PhaseCheckingOut means a checkout intent is recorded and its outcome is not yet known.
	PhaseCheckingOut Phase = "CheckingOut"
	// PhaseProvisioning means orders exist and at least one is not yet terminal.
	PhaseProvisioning Phase = "Provisioning"
	// PhaseCompleted means every order reached a terminal status; see Ready for success.
	PhaseCompleted Phase = "Completed"
	// PhaseFailed means the cart cannot go further without a person; see Stalled.
	PhaseFailed Phase = "Failed"
	// PhaseCancelling means an approved cancellation is being carried out upstream.
	PhaseCancelling Phase = "Cancelling"
	// PhaseCancelled means every subscription the cancellation named was cancelled.
	PhaseCancelled Phase = "Cancelled"
	// PhasePartiallyCancelled means the cancellation ended with some subscriptions
	// cancelled and others refused; status.cancellation says which.
	PhasePartiallyCancelled Phase = "PartiallyCancelled"
)

// AccountReference names a PartnerCenterAccount (cluster-scoped, owned by the platform team).
type AccountReference struct {
	// name of the PartnerCenterAccount.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`
}

// SecretReference names a Secret in the PartnerCart's own namespace. It has no namespace
// field: a cart can never name another namespace's Secret.
type SecretReference struct {
	// name of the Secret holding tenantId, clientId and clientSecret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`
}

// Participant is a partner taking part in an indirect sale (the seed's KeyValuePair of ParticipantType).
type Participant struct {
	// key is the participant's role.
	// +required
	Key ParticipantKey `json:"key"`
	// value is the participant's PartnerID (MPN ID).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Value string `json:"value"`
}

// RenewsTo is the term a trial converts to.
type RenewsTo struct {
	// termDuration is the ISO-8601 renewal term, e.g. P1M or P1Y.
	// +required
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:Pattern=`^P([0-9]+Y)?([0-9]+M)?([0-9]+W)?([0-9]+D)?$`
	TermDuration string `json:"termDuration"`
}

// PurchaseCommitment is the hourly or monthly commitment of an Azure savings plan.
type PurchaseCommitment struct {
	// amount is the committed amount as a positive decimal string, e.g. "100" or "12.50".
	// +required
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^(0*[1-9][0-9]*(\.[0-9]+)?|0*\.[0-9]*[1-9][0-9]*|0+\.[0-9]*[1-9][0-9]*)$`
	Amount string `json:"amount"`
	// currency is the ISO-4217 currency code of amount, e.g. USD, in either case: the published
	// savings-plan sample sends "usd". It is sent, and hashed, in upper case.
	// +required
	// +kubebuilder:validation:Pattern=`^[A-Za-z]{3}$`
	Currency string `json:"currency"`
	// grain is the commitment period, e.g. hourly or monthly.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	Grain string `json:"grain"`
}

// LineItemFields are the fields a partner sets on a CartLineItem (seed: CartLineItem).
// Fields the server fills in (currencyCode, orderGroup, pricing, error) live in status.
//
// +kubebuilder:validation:XValidation:rule="!has(self.customTermEndDate) || has(self.termDuration)",message="customTermEndDate requires termDuration: only term-based products can be co-termed",fieldPath=".customTermEndDate"
// +kubebuilder:validation:XValidation:rule="!(self.billingCycle == 'annual' && has(self.termDuration) && self.termDuration == 'P1M')",message="billingCycle annual cannot be longer than termDuration P1M",fieldPath=".billingCycle"
// +kubebuilder:validation:XValidation:rule="self.billingCycle != 'triennial' || (has(self.termDuration) && self.termDuration == 'P3Y')",message="billingCycle triennial requires termDuration P3Y",fieldPath=".termDuration"
// +kubebuilder:validation:XValidation:rule="!has(self.participants) || self.participants.filter(p, p.key == 'transaction_reseller').size() <= 1",message="participants may name at most one transaction_reseller",fieldPath=".participants"
// +kubebuilder:validation:XValidation:rule="!has(self.participants) || self.participants.filter(p, p.key == 'additional_transaction_reseller').size() <= 5",message="participants may name at most five additional_transaction_reseller entries",fieldPath=".participants"
type LineItemFields struct {
	// id identifies the line item within the cart. Partner Center echoes it back, and line-item
	// errors refer to it.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=9999
	ID int32 `json:"id"`

	// catalogItemId is the item to buy, as productId:skuId:availabilityId,
	// e.g. CFQ7TTC0LF8S:0001:CFQ7TTC0N81H.
	// +required
	// +kubebuilder:validation:MinLength=5
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9-]+:[A-Za-z0-9-]+:[A-Za-z0-9-]+$`
	CatalogItemID string `json:"catalogItemId"`

	// quantity is the number of seats or instances.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	Quantity int32 `json:"quantity"`

	// billingCycle is how often the item is billed.
	// +required
	BillingCycle BillingCycle `json:"billingCycle"`

	// termDuration is the ISO-8601 term, e.g. P1M, P1Y or P3Y. Needed for NCE, reservations and SaaS.
	// +optional
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:Pattern=`^P([0-9]+Y)?([0-9]+M)?([0-9]+W)?([0-9]+D)?$`
	TermDuration string `json:"termDuration,omitempty"`

	// friendlyName becomes the friendly name of the subscription bought.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	FriendlyName string `json:"friendlyName,omitempty"`

	// promotionId applies a promotion, e.g. 39NFJQT1PHSN:0008:39NFJQT1Q5J0.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9-]+(:[A-Za-z0-9-]+)*$`
	PromotionID string `json:"promotionId,omitempty"`

	// customTermEndDate co-terms the first, prorated term to end at this RFC 3339 time.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Format=date-time
	CustomTermEndDate string `json:"customTermEndDate,omitempty"`

	// attestationAccepted must be true for SKUs that enforce attestation (e.g. Windows 365).
	// +optional
	AttestationAccepted *bool `json:"attestationAccepted,omitempty"`

	// provisioningContext carries the SKU's provisioning variables, e.g. scope and subscriptionId
	// for Azure reservations, or parentSubscriptionId for an add-on to an existing subscription.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	ProvisioningContext map[string]string `json:"provisioningContext,omitempty"`

	// participants are the partners in an indirect sale.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	Participants []Participant `json:"participants,omitempty"`

	// renewsTo is the term a trial converts to.
	// +optional
	RenewsTo *RenewsTo `json:"renewsTo,omitempty"`

	// purchaseCommitment is the commitment of an Azure savings plan.
	// +optional
	PurchaseCommitment *PurchaseCommitment `json:"purchaseCommitment,omitempty"`
}

// CartAddonItem is an add-on bought against its parent line item's new subscription.
// Add-ons nest one level deep, as in Partner Center's legacy cart form.
type CartAddonItem struct {
	LineItemFields `json:",inline"`
}

// CartLineItem is one item of the cart, with optional nested add-ons.
type CartLineItem struct {
	LineItemFields `json:",inline"`

	// addonItems are add-ons bought against this item's new subscription.
	// +optional
	// +listType=map
	// +listMapKey=id
	// +kubebuilder:validation:MaxItems=20
	AddonItems []CartAddonItem `json:"addonItems,omitempty"`
}

// Approval is the gate in front of checkout. The operator never approves on its own.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.approved) && self.approved && has(self.denied) && self.denied)",message="spec.approval: approved and denied cannot both be true: clear denied to approve, or approved to deny"
type Approval struct {
	// approved lets the operator check the cart out. Nothing is bought while it is false.
	// +optional
	Approved bool `json:"approved,omitempty"`

	// denied records an approver's refusal of this cart (`kubectl partnercart deny`): the
	// cart stops with phase Failed and reason Denied, and nothing is bought until an approver
	// clears it. Like approved, changing it needs the verb approve (or approve-own) on
	// partnercarts/approval, and approvedBy/approvedAt record who decided and when.
	// +optional
	Denied bool `json:"denied,omitempty"`

	// reason is the approver's word on the decision, e.g. why the cart was denied. It is
	// shown in the Denied condition and kept with the decision's stamps.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Reason string `json:"reason,omitempty"`

	// specHash pins the approval to one purchase content: it counts only while
	// status.specHash equals it, so any later edit of the line items voids it.
	// +optional
	// +kubebuilder:validation:Pattern=`^sha256:[0-9a-f]{64}$`
	SpecHash string `json:"specHash,omitempty"`

	// maxTotalPrice refuses checkout while the cart's quoted total is above it,
	// as a positive decimal string in the cart's currency, e.g. "5000.00".
	// +optional
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^(0*[1-9][0-9]*(\.[0-9]+)?|0*\.[0-9]*[1-9][0-9]*)$`
	MaxTotalPrice string `json:"maxTotalPrice,omitempty"`

	// requestedBy is the user who last changed what would be bought (at creation, its
	// creator). Stamped by the partnercart-requester-stamp MutatingAdmissionPolicy
	// (config/policy); it cannot be set or changed by hand.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	RequestedBy string `json:"requestedBy,omitempty"`

	// approvedBy is the user who last changed the approval decision (approved, denied,
	// reason, specHash or maxTotalPrice); with approved true, the approver; with denied true,
	// who denied it. Stamped by the admission policy; it
	// cannot be set by hand. A GitOps controller's service account appears here when the
	// approval is a merged commit: the object's Argo CD or Flux labels and annotations name it.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	ApprovedBy string `json:"approvedBy,omitempty"`

	// approvedAt is when approvedBy changed the decision. Stamped by the admission policy.
	// +optional
	// +kubebuilder:validation:Format=date-time
	// +kubebuilder:validation:MaxLength=64
	ApprovedAt string `json:"approvedAt,omitempty"`
}

// PartnerCartSpec declares the cart to buy for one customer.
//
// +kubebuilder:validation:XValidation:rule="has(self.accountRef) != has(self.credentialsSecretRef)",message="set exactly one of spec.accountRef (a PartnerCenterAccount) and spec.credentialsSecretRef (a Secret in this namespace)"
// +kubebuilder:validation:XValidation:rule="self.lineItems.all(i, !has(i.addonItems) || i.addonItems.all(a, self.lineItems.all(j, j.id != a.id)))",message="lineItems: an addonItems id must not reuse the id of a top-level line item",fieldPath=".lineItems"
type PartnerCartSpec struct {
	// customerId is the customer's tenant ID (a GUID).
	// +required
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`
	CustomerID string `json:"customerId"`

	// accountRef names the PartnerCenterAccount whose credentials buy this cart; the account
	// must allow this namespace. It cannot change once the cart is checked out. Exactly one of
	// accountRef and credentialsSecretRef is set.
	// +optional
	AccountRef *AccountReference `json:"accountRef,omitempty"`

	// credentialsSecretRef names a Secret, in this namespace, with the partner app's
	// tenantId, clientId and clientSecret: the simple mode, which a manager run with
	// --allow-namespace-credentials=false refuses. Exactly one of accountRef and
	// credentialsSecretRef is set.
	// +optional
	CredentialsSecretRef *SecretReference `json:"credentialsSecretRef,omitempty"`

	// partnerOnRecordAttestationAccepted is the cart-level Partner-of-Record attestation.
	// +optional
	PartnerOnRecordAttestationAccepted *bool `json:"partnerOnRecordAttestationAccepted,omitempty"`

	// lineItems are the items to buy, each with a unique id.
	// +required
	// +listType=map
	// +listMapKey=id
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=50
	LineItems []CartLineItem `json:"lineItems"`

	// approval gates the checkout.
	// +optional
	Approval Approval `json:"approval,omitempty"`

	// deletionPolicy says what deleting this object does after a purchase.
	// +optional
	// +kubebuilder:default=Orphan
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// cancellation asks Partner Center to cancel subscriptions this cart bought, within
	// Partner Center's cancellation window (168 hours after purchase for most New-Commerce
	// offers). It is the only change the freeze-after-checkout policy allows on a bought
	// cart, and like the purchase it needs an approver's approval. Deleting the object never
	// cancels anything.
	// +optional
	Cancellation *Cancellation `json:"cancellation,omitempty"`
}

// Cancellation is a request to undo a purchase, gated like the purchase: requestedBy and
// requestedAt record who asked (anyone who may edit the cart), approvedBy and approvedAt who
// approved (the verb approve on partnercarts/approval, or approve-own for one's own request).
// The stamps are set by the partnercart-cancellation-stamp MutatingAdmissionPolicy and
// cannot be set by hand. Changing what is asked withdraws the approval. Once the operator has
// started (status.cancellation.startedAt), the request is history and cannot change.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.approved) && self.approved) || (has(self.requested) && self.requested)",message="spec.cancellation: approved needs requested: there is nothing to approve"
type Cancellation struct {
	// requested asks for the cancellation. Nothing is cancelled until an approver sets
	// approved; a cart whose cancellation is requested before it was bought is never bought.
	// +optional
	Requested bool `json:"requested,omitempty"`

	// lineItems are the ids of the spec's line items (add-ons included) whose subscriptions
	// to cancel; empty means every subscription the cart bought.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=100
	LineItems []int32 `json:"lineItems,omitempty"`

	// reason says why, for the receipt and the approver.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Reason string `json:"reason,omitempty"`

	// approved lets the operator cancel what requested names.
	// +optional
	Approved bool `json:"approved,omitempty"`

	// requestedBy is who last changed requested, lineItems or reason. Stamped by admission.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	RequestedBy string `json:"requestedBy,omitempty"`

	// requestedAt is when requestedBy asked. Stamped by admission.
	// +optional
	// +kubebuilder:validation:Format=date-time
	// +kubebuilder:validation:MaxLength=64
	RequestedAt string `json:"requestedAt,omitempty"`

	// approvedBy is who last changed approved (set or withdrew it). Stamped by admission.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	ApprovedBy string `json:"approvedBy,omitempty"`

	// approvedAt is when approvedBy decided. Stamped by admission.
	// +optional
	// +kubebuilder:validation:Format=date-time
	// +kubebuilder:validation:MaxLength=64
	ApprovedAt string `json:"approvedAt,omitempty"`
}

// CancellationOutcome is where the cancellation of one subscription stands.
// +kubebuilder:validation:Enum=Pending;Cancelled;Refused;Unknown
type CancellationOutcome string

// Cancellation outcomes of one subscription.
const (
	// CancellationPending means the subscription is still to be cancelled, or a call was made
	// whose answer is not known yet: the subscription is read again before any repeat.
	CancellationPending CancellationOutcome = "Pending"
	// CancellationCancelled means Partner Center reports the subscription cancelled.
	CancellationCancelled CancellationOutcome = "Cancelled"
	// CancellationRefused means it was not cancelled: the window had closed, the
	// subscription was not this cart's, or Partner Center refused (code and message).
	CancellationRefused CancellationOutcome = "Refused"
	// CancellationUnknown means calls were made and the operator could not learn their
	// outcome within its attempts; it keeps reading the subscription, never cancels again.
	CancellationUnknown CancellationOutcome = "Unknown"
)

// Final reports whether the outcome will not change any more.
func (o CancellationOutcome) Final() bool {
	return o == CancellationCancelled || o == CancellationRefused
}

// Refund is the refund Partner Center's subscription offered when it was cancelled.
type Refund struct {
	// type is Partner Center's refund option in force, e.g. Full or Partial.
	// +kubebuilder:validation:MaxLength=64
	Type string `json:"type"`
	// amount is the refunded amount as a decimal string, where it is known from the order
	// (a Full refund of the line's price); Partial refunds are prorated by Partner Center
	// and shown on the invoice.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	Amount string `json:"amount,omitempty"`
	// currency is the currency of amount.
	// +optional
	// +kubebuilder:validation:MaxLength=8
	Currency string `json:"currency,omitempty"`
}

// SubscriptionCancellation is the cancellation of one subscription the cart bought.
type SubscriptionCancellation struct {
	// subscriptionId is the Partner Center subscription.
	// +kubebuilder:validation:MaxLength=128
	SubscriptionID string `json:"subscriptionId"`
	// orderId is the order of this cart that created it.
	// +kubebuilder:validation:MaxLength=128
	OrderID string `json:"orderId"`
	// lineItemId is the spec line item (or add-on) it was bought for, when known.
	// +optional
	LineItemID *int32 `json:"lineItemId,omitempty"`
	// offerId is the catalog item bought.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	OfferID string `json:"offerId,omitempty"`
	// cancellableUntil is the end of the cancellation window, from the subscription's own
	// dates as Partner Center returns them (cancellationAllowedUntilDate, else the latest
	// refund option's expiry).
	// +optional
	CancellableUntil *metav1.Time `json:"cancellableUntil,omitempty"`
	// outcome is where this cancellation stands.
	Outcome CancellationOutcome `json:"outcome"`
	// requestId is the MS-RequestId of the cancellation call; set, with attempts, before the
	// call is made.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	RequestID string `json:"requestId,omitempty"`
	// attempts counts cancellation calls begun. A call whose answer was lost is followed by a
	// read of the subscription, never by another call until the read shows it active.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`
	// code is Partner Center's error code of a refusal.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	Code string `json:"code,omitempty"`
	// message says what happened, in words.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
	// refund is the refund Partner Center offered for the cancelled subscription.
	// +optional
	Refund *Refund `json:"refund,omitempty"`
	// cancelledAt is when the operator saw the subscription cancelled.
	// +optional
	CancelledAt *metav1.Time `json:"cancelledAt,omitempty"`
}

// CancellationStatus is the approved cancellation as the operator carries it out.
type CancellationStatus struct {
	// requestedBy, requestedAt, approvedBy and approvedAt are the request's stamps when the
	// operator started: what it acted on.
	// +kubebuilder:validation:MaxLength=512
	RequestedBy string `json:"requestedBy"`
	// +optional
	// +kubebuilder:validation:MaxLength=64
	RequestedAt string `json:"requestedAt,omitempty"`
	// +kubebuilder:validation:MaxLength=512
	ApprovedBy string `json:"approvedBy"`
	// +optional
	// +kubebuilder:validation:MaxLength=64
	ApprovedAt string `json:"approvedAt,omitempty"`
	// reason is the request's reason.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Reason string `json:"reason,omitempty"`
	// startedAt is when the operator took the approved request on.
	StartedAt metav1.Time `json:"startedAt"`
	// completedAt is when every subscription's outcome became final.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`
	// subscriptions are the subscriptions to cancel, in the order they are cancelled, one at
	// a time.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=200
	Subscriptions []SubscriptionCancellation `json:"subscriptions,omitempty"`
	// owner is the manager instance (pod) that may make cancellation calls; another one
	// takes over only after deadline.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Owner string `json:"owner,omitempty"`
	// deadline is when the owner's claim lapses.
	// +optional
	Deadline *metav1.Time `json:"deadline,omitempty"`
	// receiptName is the immutable ConfigMap recording the cancellation, written when it
	// completes, next to the purchase's receipt.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ReceiptName string `json:"receiptName,omitempty"`
}

// CartLineItemStatus is what Partner Center filled in on one line item.
type CartLineItemStatus struct {
	// id is the line item's id (an add-on's own id for add-ons).
	ID int32 `json:"id"`
	// orderGroup is the order this item will be placed in at checkout.
	// +optional
	OrderGroup string `json:"orderGroup,omitempty"`
	// currencyCode is the currency of the prices.
	// +optional
	CurrencyCode string `json:"currencyCode,omitempty"`
	// price is the unit price quoted, as a decimal string.
	// +optional
	Price string `json:"price,omitempty"`
	// extendedPrice is the price of the whole line, as a decimal string.
	// +optional
	ExtendedPrice string `json:"extendedPrice,omitempty"`
}

// CartStatus is the upstream cart as last seen.
type CartStatus struct {
	// id is the Partner Center cart ID.
	ID string `json:"id"`
	// status is the cart's status upstream: Active or Ordered.
	// +optional
	Status string `json:"status,omitempty"`
	// creationTimestamp is when Partner Center created the cart.
	// +optional
	CreationTimestamp *metav1.Time `json:"creationTimestamp,omitempty"`
	// expirationTimestamp is when the cart expires upstream if not checked out.
	// +optional
	ExpirationTimestamp *metav1.Time `json:"expirationTimestamp,omitempty"`
	// lastModifiedTimestamp is when the cart was last changed upstream.
	// +optional
	LastModifiedTimestamp *metav1.Time `json:"lastModifiedTimestamp,omitempty"`
	// lastModifiedUser is the user or app object ID that last changed the cart.
	// +optional
	LastModifiedUser string `json:"lastModifiedUser,omitempty"`
	// syncedSpecHash is the spec hash the cart's line items were last written from.
	// +optional
	SyncedSpecHash string `json:"syncedSpecHash,omitempty"`
	// quotedTotal is the sum of the lines' extended prices, as a decimal string.
	// +optional
	QuotedTotal string `json:"quotedTotal,omitempty"`
	// currencyCode is the currency of quotedTotal.
	// +optional
	CurrencyCode string `json:"currencyCode,omitempty"`
	// lineItems are the per-line values Partner Center filled in.
	// +optional
	// +listType=atomic
	LineItems []CartLineItemStatus `json:"lineItems,omitempty"`
}

// LineItemError is a per-line validation error from Partner Center (seed: CartError).
type LineItemError struct {
	// lineItemId is the id of the line item (or add-on) in error.
	LineItemID int32 `json:"lineItemId"`
	// errorCode is Partner Center's CartErrorCode, kept as a number even when unknown.
	ErrorCode int64 `json:"errorCode"`
	// errorDescription is Partner Center's description of the error.
	// +optional
	ErrorDescription string `json:"errorDescription,omitempty"`
	// additionalInformation carries extra details, e.g. availableQuantity.
	// +optional
	AdditionalInformation map[string]string `json:"additionalInformation,omitempty"`
}

// CheckoutOutcome is the state of one checkout intent. Phase and conditions are derived from
// it and from the kind of result the reconcile reached (proceed, wait for a person, wait for
// Partner Center, retry, stall); the operator never decides what to do from a condition
// reason it wrote.
// +kubebuilder:validation:Enum=Pending;Succeeded;PartiallySucceeded;Refused;Unknown;Abandoned;Resolved
type CheckoutOutcome string

const (
	// CheckoutPending means the intent is recorded and the outcome is not known yet. The checkout
	// is (re)tried with the same request ID until Partner Center answers.
	CheckoutPending CheckoutOutcome = "Pending"
	// CheckoutSucceeded means Partner Center returned orders and no order errors.
	CheckoutSucceeded CheckoutOutcome = "Succeeded"
	// CheckoutPartiallySucceeded means Partner Center returned orders and order errors.
	CheckoutPartiallySucceeded CheckoutOutcome = "PartiallySucceeded"
	// CheckoutRefused means the single call of a fresh intent was definitely refused and the cart
	// was never seen Ordered: nothing was bought. A refused intent moves to
	// status.checkoutHistory; a later attempt is a new intent that passes the whole gate again.
	CheckoutRefused CheckoutOutcome = "Refused"
	// CheckoutUnknown means the operator cannot tell whether anything was bought; a person must
	// look and record what they find with the checkout-resolution annotation.
	CheckoutUnknown CheckoutOutcome = "Unknown"
	// CheckoutAbandoned means a person recorded that an unknown checkout bought nothing.
	CheckoutAbandoned CheckoutOutcome = "Abandoned"
	// CheckoutResolved means a person recorded the orders an unknown checkout created.
	CheckoutResolved CheckoutOutcome = "Resolved"
)

// Final reports whether the outcome is settled: no checkout call will ever be made for it again.
func (o CheckoutOutcome) Final() bool {
	return o != CheckoutPending && o != CheckoutUnknown
}

// CheckoutStatus is one checkout intent, persisted before the first checkout call is made.
type CheckoutStatus struct {
	// requestId is the MS-RequestId sent with the checkout:
	// UUIDv5(uid, "checkout", cartId[, attempt]) — the same on every call of this intent.
	RequestID string `json:"requestId"`
	// cartId is the cart being checked out. Once set it never changes.
	CartID string `json:"cartId"`
	// customerId is the customer the cart belongs to.
	// +optional
	CustomerID string `json:"customerId,omitempty"`
	// account is the PartnerCenterAccount the intent was made with (empty: the namespace's
	// Secret). Every later call of the intent uses it, whatever spec.accountRef or the
	// account's allow-list say by then.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Account string `json:"account,omitempty"`
	// accountUID is the UID of that PartnerCenterAccount when the intent was made. An account
	// deleted and re-created under the same name is another object, which may hold another
	// partner's credentials: no call of the intent is made with it (reason AccountReplaced).
	// Intents recorded before this field existed have none, and go by the name alone.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	AccountUID string `json:"accountUID,omitempty"`
	// specHash is the purchase content approved and checked out.
	SpecHash string `json:"specHash"`
	// additionalInformation is the checkout answer's additionalInformation, each element as
	// compact JSON (at most 16, each cut at 1024 characters), when Partner Center sends any.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=1024
	AdditionalInformation []string `json:"additionalInformation,omitempty"`
	// intent numbers the intents of this object, from 1; it is part of the request ID from 2 on.
	// +optional
	Intent int32 `json:"intent,omitempty"`
	// requestedBy, approvedBy and approvedAt are spec.approval's admission stamps when the
	// intent was made: who asked, and who approved this specHash.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	RequestedBy string `json:"requestedBy,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxLength=512
	ApprovedBy string `json:"approvedBy,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxLength=64
	ApprovedAt string `json:"approvedAt,omitempty"`
	// appliedBy holds the identifiers a GitOps tool left on the object when the intent was
	// made (Argo CD's tracking-id annotation and instance label, Flux's Kustomization or
	// HelmRelease labels): with approvedBy (the tool's service account) they lead an auditor
	// from the purchase to the sync and the merged commit that approved it.
	// +optional
	// +kubebuilder:validation:MaxProperties=8
	AppliedBy map[string]string `json:"appliedBy,omitempty"`
	// outcome is the state of this intent.
	// +optional
	Outcome CheckoutOutcome `json:"outcome,omitempty"`
	// startedAt is when the intent was persisted.
	StartedAt metav1.Time `json:"startedAt"`
	// completedAt is when the checkout result was recorded.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`
	// attempts counts checkout calls made for this intent that Partner Center may have
	// processed; each is persisted before its call (a call refused unprocessed — no token,
	// 401, 429 — is taken back afterwards).
	// +optional
	Attempts int32 `json:"attempts,omitempty"`
	// owner is the manager process that made the last call. No other process repeats the
	// call before deadline, so two calls of one checkout are never in flight at once.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Owner string `json:"owner,omitempty"`
	// deadline is when the owner's last call is given up on.
	// +optional
	Deadline *metav1.Time `json:"deadline,omitempty"`
	// cartSeenOrdered is true once the cart was seen Ordered upstream for this intent: from
	// then on no refusal can mean that nothing was bought.
	// +optional
	CartSeenOrdered bool `json:"cartSeenOrdered,omitempty"`
	// message says why the outcome is what it is (Partner Center's code and description of a
	// refusal, or what a person must check).
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	Message string `json:"message,omitempty"`
	// generation is the object's generation when the outcome was reached.
	// +optional
	Generation int64 `json:"generation,omitempty"`
	// resolution records how a person settled an unknown outcome through the
	// partnercenter.partnercart.dev/checkout-resolution annotation, with the value they gave.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Resolution string `json:"resolution,omitempty"`
	// resolvedBy and resolvedAt are who set that annotation and when, as the API server
	// stamped them (checkout-resolution-by, -at).
	// +optional
	// +kubebuilder:validation:MaxLength=512
	ResolvedBy string `json:"resolvedBy,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxLength=64
	ResolvedAt string `json:"resolvedAt,omitempty"`
	// cartGone is true on a refused intent whose cart was gone at checkout (404): re-creating
	// the cart may cure that, so such a refusal lets a new intent start (a bounded number of
	// times). Any other refusal blocks new intents until a person changes the spec (a new
	// approval included).
	// +optional
	CartGone bool `json:"cartGone,omitempty"`
	// contentHash is the hash of the purchase content of the upstream cart as read before the
	// first call of this intent (every line and add-on field that decides what is bought, as
	// Partner Center spells it, case folded), which was verified to equal the spec's content
	// (status.specHash) that the approval covered. It is what was bought.
	// +optional
	// +kubebuilder:validation:MaxLength=71
	ContentHash string `json:"contentHash,omitempty"`
	// repurchaseOf is the repurchase-of annotation this intent was made under: the earlier
	// purchase a person chose to buy again.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	RepurchaseOf string `json:"repurchaseOf,omitempty"`
	// repurchaseOfBy and repurchaseOfAt are who set that annotation and when, as the API
	// server stamped them (repurchase-of-by, -at).
	// +optional
	// +kubebuilder:validation:MaxLength=512
	RepurchaseOfBy string `json:"repurchaseOfBy,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxLength=64
	RepurchaseOfAt string `json:"repurchaseOfAt,omitempty"`
}

// CheckoutResolutionAnnotation lets a person settle a checkout whose outcome the operator
// cannot know (status.checkout.outcome Unknown), after looking in Partner Center:
// "<requestId>/nothing-bought", or "<requestId>/orders=<id>[,<id>...]" to record the orders
// the checkout created. It is read only in that state, and only when it names the request ID
// of the intent in question, so a value kept in Git can never settle a later checkout.
const CheckoutResolutionAnnotation = "partnercenter.partnercart.dev/checkout-resolution"

// SplitOrderIDs reads a list of order IDs as the API writes them: the orders of a
// CheckoutResolutionAnnotation ("a,b") and a receipt's orderIds ("a, b"). Blank entries are
// dropped.
func SplitOrderIDs(list string) []string {
	var ids []string
	for id := range strings.SplitSeq(list, ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

// PausedAnnotation is the annotation that, set to "true", stops every upstream call of one
// PartnerCart (as Flux's suspend and Crossplane's paused do): no cart write, no checkout, no
// order poll. The cart
// shows Ready=False with reason Paused and keeps the rest of its status; removing the
// annotation resumes it. A checkout call already in flight completes and is recorded.
// Deleting a paused cart is not held back by the pause. The manager-wide kill switch for new
// purchases is --purchase-freeze.
const PausedAnnotation = "partnercenter.partnercart.dev/paused"

// RepurchaseOfAnnotation lets a person buy again what an earlier PartnerCart of the same
// namespace and name already bought (a GitOps re-create, a restore): its value must name
// that purchase's receipt ConfigMap. Without it such a cart stops with PreviouslyPurchased.
const RepurchaseOfAnnotation = "partnercenter.partnercart.dev/repurchase-of"

// A decision annotation (RepurchaseOfAnnotation, CheckoutResolutionAnnotation) is stamped by
// the admission policies with who set it, in <annotation>-by, and when, in <annotation>-at.
// The operator acts only on a stamped decision.
const (
	DecidedBySuffix = "-by"
	DecidedAtSuffix = "-at"
)

// Decision returns a decision annotation's value and its stamps; value is "" when the
// annotation is absent or not stamped (written while the admission policies were not in force).
func Decision(annotations map[string]string, key string) (value, by, at string) {
	value, by, at = annotations[key], annotations[key+DecidedBySuffix], annotations[key+DecidedAtSuffix]
	if value == "" || by == "" || at == "" {
		return "", "", ""
	}
	return value, by, at
}

// MaxCheckoutHistory bounds status.checkoutHistory.
const MaxCheckoutHistory = 10

// OrderLineItemStatus is one line of an order (seed: OrderLineItem).
type OrderLineItemStatus struct {
	// lineItemNumber is the line's index in the order.
	LineItemNumber int32 `json:"lineItemNumber"`
	// offerId is the catalog item bought.
	// +optional
	OfferID string `json:"offerId,omitempty"`
	// subscriptionId is the subscription created; it may appear only after provisioning.
	// +optional
	SubscriptionID string `json:"subscriptionId,omitempty"`
	// parentSubscriptionId is the base subscription of an add-on.
	// +optional
	ParentSubscriptionID string `json:"parentSubscriptionId,omitempty"`
	// quantity is the number of seats or instances bought.
	// +optional
	Quantity int32 `json:"quantity,omitempty"`
	// friendlyName is the subscription's friendly name.
	// +optional
	FriendlyName string `json:"friendlyName,omitempty"`
	// termDuration is the ISO-8601 term bought.
	// +optional
	TermDuration string `json:"termDuration,omitempty"`
	// transactionType is e.g. New.
	// +optional
	TransactionType string `json:"transactionType,omitempty"`
	// partnerIdOnRecord is the partner of record for the line.
	// +optional
	PartnerIDOnRecord string `json:"partnerIdOnRecord,omitempty"`
	// additionalPartnerIdsOnRecord are the additional indirect resellers the line is attributed
	// to (EU/EFTA; Partner Center allows five, a longer answer is cut at 16).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	AdditionalPartnerIDsOnRecord []string `json:"additionalPartnerIdsOnRecord,omitempty"`
	// promotionId is the promotion applied.
	// +optional
	PromotionID string `json:"promotionId,omitempty"`
	// customTermEndDate is the co-termed end of the first term.
	// +optional
	CustomTermEndDate string `json:"customTermEndDate,omitempty"`
	// price is the unit price charged, as a decimal string.
	// +optional
	Price string `json:"price,omitempty"`
}

// OrderStatus is one order created by the checkout (seed: Order).
type OrderStatus struct {
	// id is the Partner Center order ID (opaque, not always a GUID).
	ID string `json:"id"`
	// alternateId is the order's alternate ID.
	// +optional
	AlternateID string `json:"alternateId,omitempty"`
	// status is the order status as Partner Center reports it, e.g. pending, completed,
	// "partial success"; unknown values are kept as they come.
	// +optional
	Status string `json:"status,omitempty"`
	// creationDate is when the order was created.
	// +optional
	CreationDate *metav1.Time `json:"creationDate,omitempty"`
	// currencyCode is the currency of totalPrice.
	// +optional
	CurrencyCode string `json:"currencyCode,omitempty"`
	// totalPrice is the order total as a decimal string.
	// +optional
	TotalPrice string `json:"totalPrice,omitempty"`
	// billingCycle is the order's billing cycle.
	// +optional
	BillingCycle string `json:"billingCycle,omitempty"`
	// transactionType is e.g. UserPurchase.
	// +optional
	TransactionType string `json:"transactionType,omitempty"`
	// partnerOnRecordAttestationAccepted is the order's partner-of-record attestation, when
	// Partner Center reports one.
	// +optional
	PartnerOnRecordAttestationAccepted *bool `json:"partnerOnRecordAttestationAccepted,omitempty"`
	// lineItems are the order's lines.
	// +optional
	// +listType=atomic
	LineItems []OrderLineItemStatus `json:"lineItems,omitempty"`
}

// OrderError is an order group that failed at checkout (seed: OrderError).
type OrderError struct {
	// orderGroupId is the cart lines' orderGroup that failed.
	OrderGroupID string `json:"orderGroupId"`
	// code is Partner Center's error code.
	Code int64 `json:"code"`
	// description is Partner Center's description of the error.
	// +optional
	Description string `json:"description,omitempty"`
}

// PartnerCartStatus is what the operator observed and did.
type PartnerCartStatus struct {
	// observedGeneration is the generation the operator last reconciled, whatever it
	// concluded: done, waiting for a person or for Partner Center, retrying (Reconciling=True
	// with the reason) or stalled; the conditions say which. It is -1 until the operator has looked at the object, so that kstatus (Flux, kubectl
	// wait, Argo CD health checks) never reads a cart nobody has seen yet as current.
	// +optional
	// +kubebuilder:default=-1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// phase summarises the lifecycle; conditions carry the detail.
	// +optional
	Phase Phase `json:"phase,omitempty"`

	// specHash is the hash of the canonical purchase content (customer and line items).
	// +optional
	SpecHash string `json:"specHash,omitempty"`

	// cart is the upstream cart as last seen.
	// +optional
	Cart *CartStatus `json:"cart,omitempty"`

	// lineItemErrors are Partner Center's per-line errors; any of them blocks checkout.
	// +optional
	// +listType=atomic
	LineItemErrors []LineItemError `json:"lineItemErrors,omitempty"`

	// checkout is the current checkout intent and its outcome. It is removed only when the
	// intent was Refused (nothing bought), into checkoutHistory.
	// +optional
	Checkout *CheckoutStatus `json:"checkout,omitempty"`

	// checkoutHistory keeps refused intents, oldest first (at most 10).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	CheckoutHistory []CheckoutStatus `json:"checkoutHistory,omitempty"`

	// orders are the orders the checkout created.
	// +optional
	// +listType=atomic
	Orders []OrderStatus `json:"orders,omitempty"`

	// orderErrors are the order groups that failed at checkout.
	// +optional
	// +listType=atomic
	OrderErrors []OrderError `json:"orderErrors,omitempty"`

	// orderCount is the number of orders, for the ORDERS column.
	// +optional
	OrderCount int32 `json:"orderCount,omitempty"`

	// total is the order total after checkout, or the quoted total before, with its currency.
	// +optional
	Total string `json:"total,omitempty"`

	// receiptName is the immutable ConfigMap recording the purchase.
	// +optional
	ReceiptName string `json:"receiptName,omitempty"`

	// cancellableUntil is the earliest end of the cancellation window among the subscriptions
	// this cart bought, as Partner Center reports it: after it, cancelling is refused.
	// +optional
	CancellableUntil *metav1.Time `json:"cancellableUntil,omitempty"`

	// cancellation is the approved cancellation as carried out; absent until one is approved.
	// +optional
	Cancellation *CancellationStatus `json:"cancellation,omitempty"`

	// customer is who the cart buys for, as Partner Center names spec.customerId when the
	// cart is created: a mistyped tenant ID shows as another company before anyone approves.
	// +optional
	Customer *CustomerStatus `json:"customer,omitempty"`

	// untrustedApproval is the approval ("<approvedBy> at <approvedAt>") the operator saw on
	// this cart while the admission policies were not in force: anyone who may edit could
	// have typed it, stamps included, so it never buys, even once the policies are back. A
	// new approval (other stamps) is judged on its own.
	// +optional
	// +kubebuilder:validation:MaxLength=600
	UntrustedApproval string `json:"untrustedApproval,omitempty"`
	// untrustedDecisions are the decision annotations ("<annotation> by <by> at <at>") the
	// operator saw stamped in the future or while the admission policies were not in force:
	// they are never acted on. The latest four.
	// +optional
	// +kubebuilder:validation:MaxItems=4
	// +kubebuilder:validation:items:MaxLength=1024
	UntrustedDecisions []string `json:"untrustedDecisions,omitempty"`

	// conditions are Ready, Reconciling, Stalled, CartSynced, Approved and CheckedOut.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// CustomerStatus is a customer's company profile as Partner Center returns it.
type CustomerStatus struct {
	// id is the customer's tenant ID this profile is of (spec.customerId when it was read).
	// +kubebuilder:validation:MaxLength=64
	ID string `json:"id"`
	// companyName is the customer's company name.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	CompanyName string `json:"companyName,omitempty"`
	// domain is the customer's default domain.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Domain string `json:"domain,omitempty"`
}

// PartnerCart is a Microsoft Partner Center cart for one customer, checked out at most once
// after approval.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=pcart,categories=partnercenter
// +kubebuilder:printcolumn:name="Customer",type=string,JSONPath=`.spec.customerId`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Approved",type=boolean,JSONPath=`.spec.approval.approved`
// +kubebuilder:printcolumn:name="Orders",type=integer,JSONPath=`.status.orderCount`
// +kubebuilder:printcolumn:name="Total",type=string,JSONPath=`.status.total`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Company",type=string,JSONPath=`.status.customer.companyName`,priority=10
// +kubebuilder:printcolumn:name="Account",type=string,JSONPath=`.spec.accountRef.name`,priority=10
// +kubebuilder:printcolumn:name="Checkout",type=string,JSONPath=`.status.checkout.outcome`,priority=10
// +kubebuilder:printcolumn:name="Cancellable-Until",type=string,JSONPath=`.status.cancellableUntil`,priority=10
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=10
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PartnerCart struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the cart to buy.
	// +required
	Spec PartnerCartSpec `json:"spec"`

	// status is what the operator observed and did. A new object reads
	// {"observedGeneration": -1} until the operator writes it (the API server drops status on
	// create and applies this default when it reads the object back).
	// +optional
	// +kubebuilder:default={"observedGeneration":-1}
	Status PartnerCartStatus `json:"status,omitempty"`
}

// PartnerCartList is a list of PartnerCarts.
//
// +kubebuilder:object:root=true
type PartnerCartList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PartnerCart `json:"items"`
}
