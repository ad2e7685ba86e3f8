package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

// Receipts live in the manager's own namespace (Options.ReceiptNamespace, --receipt-namespace),
// not in the cart's: a tenant who may edit ConfigMaps of its namespace could delete the record
// of a purchase there, or forge one (a ConfigMap labelled with an order ID makes the
// re-purchase guard take that order for one a live cart bought knowingly). Only the manager
// (and the cluster's administrators) write in its namespace, and the operator reads receipts
// nowhere else.

// contentLabelValue is the receipt's content label for a spec hash: its first 63 hex digits.
func contentLabelValue(specHash string) string {
	digits := strings.TrimPrefix(specHash, "sha256:")
	return digits[:min(len(digits), validation.LabelValueMaxLength)]
}

// receiptName is the name of the cart's receipt (pcv1alpha1.ReceiptName).
func receiptName(cart *pcv1alpha1.PartnerCart) string {
	return pcv1alpha1.ReceiptName(cart.Namespace, cart.Name, string(cart.UID))
}

// cartLabelValue is the receipt's cart label: the cart's name when it is a valid label value,
// otherwise "h" and 62 hex digits of its SHA-256, so that receipts of every cart name can be
// listed by label.
func cartLabelValue(name string) string {
	if len(validation.IsValidLabelValue(name)) == 0 {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return "h" + hex.EncodeToString(sum[:])[:62]
}

// receiptRecord is what a receipt keeps of a purchase.
type receiptRecord struct {
	Namespace      string `json:"namespace"`
	PartnerCart    string `json:"partnerCart"`
	PartnerCartUID string `json:"partnerCartUID"`
	CustomerID     string `json:"customerId"`
	// Account is the PartnerCenterAccount that bought ("" for a namespace Secret).
	Account           string `json:"account,omitempty"`
	CartID            string `json:"cartId"`
	CheckoutRequestID string `json:"checkoutRequestId"`
	SpecHash          string `json:"specHash"`
	// ContentHash: the upstream cart's content verified before the first call (status.checkout.contentHash).
	ContentHash string `json:"contentHash,omitempty"`
	StartedAt   string `json:"checkoutStartedAt"`
	CompletedAt string `json:"checkoutCompletedAt"`
	Outcome     string `json:"outcome,omitempty"`
	RequestedBy string `json:"requestedBy,omitempty"`
	ApprovedBy  string `json:"approvedBy,omitempty"`
	ApprovedAt  string `json:"approvedAt,omitempty"`
	// AppliedBy: the GitOps tool's identifiers on the object (status.checkout.appliedBy).
	AppliedBy  map[string]string `json:"appliedBy,omitempty"`
	Resolution string            `json:"resolution,omitempty"`
	// RepurchaseOf: the earlier purchase a person chose to buy again (status.checkout.repurchaseOf).
	RepurchaseOf string `json:"repurchaseOf,omitempty"`
	// Who took those two decisions and when, as the API server stamped them.
	RepurchaseOfBy string                   `json:"repurchaseOfBy,omitempty"`
	RepurchaseOfAt string                   `json:"repurchaseOfAt,omitempty"`
	ResolvedBy     string                   `json:"resolvedBy,omitempty"`
	ResolvedAt     string                   `json:"resolvedAt,omitempty"`
	Orders         []pcv1alpha1.OrderStatus `json:"orders"`
	OrderErrors    []pcv1alpha1.OrderError  `json:"orderErrors,omitempty"`
	// AdditionalInformation is the checkout answer's additionalInformation, as in
	// status.checkout (the orders above carry additionalPartnerIdsOnRecord and
	// partnerOnRecordAttestationAccepted themselves).
	AdditionalInformation []string `json:"additionalInformation,omitempty"`
}

// ensureReceiptKept makes sure the receipt of a recorded purchase still exists: someone may
// have deleted it, and status.receiptName does not prove otherwise. The cache (which holds
// receipts' metadata) answers the common case without a request; a receipt it does not show
// is written again, or found by ensureReceipt if the cache lags.
func (r *PartnerCartReconciler) ensureReceiptKept(ctx context.Context, s *scope) error {
	if s.receiptWritten {
		return nil
	}
	if name := s.cart.Status.ReceiptName; name == receiptName(s.cart) {
		if err := r.Client.Get(ctx, client.ObjectKey{Namespace: r.Options.ReceiptNamespace, Name: name}, receiptMetadata()); err == nil {
			return nil
		}
	}
	return r.ensureReceipt(ctx, s)
}

// ensureReceipt records the purchase in an immutable ConfigMap owned by nobody, so that it
// survives the deletion of the PartnerCart (and of its status). It is written once; a
// receipt that already exists for this cart is left as it is, and one that was deleted is
// written again (status.receiptName names it, but only the API server knows it is there).
func (r *PartnerCartReconciler) ensureReceipt(ctx context.Context, s *scope) error {
	cart := s.cart
	co := cart.Status.Checkout
	name := receiptName(cart)
	completed := ""
	if co.CompletedAt != nil {
		completed = co.CompletedAt.UTC().Format(time.RFC3339)
	}
	customer := co.CustomerID
	if customer == "" { // intents recorded before the customer was
		customer = cart.Spec.CustomerID
	}
	rec := receiptRecord{
		Namespace: cart.Namespace, PartnerCart: cart.Name, PartnerCartUID: string(cart.UID),
		CustomerID: customer, Account: co.Account, CartID: co.CartID, CheckoutRequestID: co.RequestID, SpecHash: co.SpecHash, ContentHash: co.ContentHash,
		StartedAt: co.StartedAt.UTC().Format(time.RFC3339), CompletedAt: completed, Outcome: string(co.Outcome), Resolution: co.Resolution, RepurchaseOf: co.RepurchaseOf,
		RequestedBy: co.RequestedBy, ApprovedBy: co.ApprovedBy, ApprovedAt: co.ApprovedAt, AppliedBy: co.AppliedBy,
		Orders: cart.Status.Orders, OrderErrors: cart.Status.OrderErrors, AdditionalInformation: co.AdditionalInformation,
	}
	rec.RepurchaseOfBy, rec.RepurchaseOfAt, rec.ResolvedBy, rec.ResolvedAt = co.RepurchaseOfBy, co.RepurchaseOfAt, co.ResolvedBy, co.ResolvedAt
	body, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("encode receipt: %w", err)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: r.Options.ReceiptNamespace,
			Name:      name,
			Labels: map[string]string{
				pcv1alpha1.ReceiptLabel: "true", pcv1alpha1.ReceiptCartNamespaceLabel: cart.Namespace, pcv1alpha1.ReceiptCartLabel: cartLabelValue(cart.Name),
				pcv1alpha1.ReceiptCartUIDLabel: string(cart.UID), pcv1alpha1.ReceiptContentLabel: contentLabelValue(co.SpecHash),
			},
		},
		Immutable: ptr.To(true),
		Data: map[string]string{
			"customerId":        customer,
			"cartId":            co.CartID,
			"orderIds":          orderIDs(cart.Status.Orders),
			"checkoutRequestId": co.RequestID,
			"specHash":          co.SpecHash,
			"checkoutStartedAt": rec.StartedAt,
			"receipt.json":      string(body),
		},
	}
	if co.Resolution != "" {
		cm.Data["resolution"] = co.Resolution
	}
	if co.ApprovedBy != "" {
		cm.Data["approvedBy"] = co.ApprovedBy
	}
	if co.Account != "" {
		cm.Data["account"] = co.Account
	}
	if co.ContentHash != "" {
		cm.Data["contentHash"] = co.ContentHash
	}
	for _, o := range cart.Status.Orders {
		if key, ok := orderLabelKey(o.ID); ok {
			cm.Labels[key] = "true"
		}
	}
	seq := r.receiptWrites.begin()
	if err := r.Client.Create(ctx, cm); err != nil {
		if !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create receipt %s: %w", name, err)
		}
		existing := &corev1.ConfigMap{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(cm), existing); err != nil {
			return fmt.Errorf("read existing receipt %s: %w", name, err)
		}
		// Ours only if it records this very purchase: a ConfigMap of that name and labels that
		// anyone else made (or one of another intent) is not the record of these orders.
		if existing.Labels[pcv1alpha1.ReceiptCartUIDLabel] != string(cart.UID) || existing.Data["cartId"] != co.CartID ||
			existing.Data["checkoutRequestId"] != co.RequestID || existing.Data["orderIds"] != cm.Data["orderIds"] {
			return fmt.Errorf("receipt %s exists but records another purchase (cart %s, MS-RequestId %s, orders %q); refusing to overwrite it: "+
				"delete it if it is not the operator's, and the purchase is recorded again",
				name, existing.Data["cartId"], existing.Data["checkoutRequestId"], existing.Data["orderIds"])
		}
	} else {
		r.receiptWrites.created(seq, client.ObjectKeyFromObject(cm))
	}
	cart.Status.ReceiptName = name
	s.receiptWritten = true
	return nil
}

// orderLabelPrefix labels a receipt with each order it records, so that the re-purchase guard
// can tell an order some PartnerCart bought knowingly from one whose record was lost.
const orderLabelPrefix = "order.partnercenter.partnercart.dev/"

// orderLabelKey is the receipt label naming an order, when the order ID can be a label name.
func orderLabelKey(orderID string) (string, bool) {
	key := orderLabelPrefix + orderID
	return key, len(validation.IsQualifiedName(key)) == 0
}

// readOwnReceipt returns the purchase recorded in this object's receipt for the current
// intent, or nil when there is none: a crash between the receipt and the status write leaves
// the result only there.
func (r *PartnerCartReconciler) readOwnReceipt(ctx context.Context, s *scope) (*receiptRecord, error) {
	cm := &corev1.ConfigMap{}
	key := client.ObjectKey{Namespace: r.Options.ReceiptNamespace, Name: receiptName(s.cart)}
	if err := r.APIReader.Get(ctx, key, cm); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("read receipt %s: %w", key.Name, err)
	}
	rec, err := decodeReceipt(cm)
	if err != nil || rec.PartnerCartUID != string(s.cart.UID) || rec.CartID != s.cart.Status.Checkout.CartID ||
		rec.CheckoutRequestID != s.cart.Status.Checkout.RequestID {
		return nil, nil //nolint:nilerr // a receipt of another purchase is not this one's result
	}
	return rec, nil
}

func decodeReceipt(cm *corev1.ConfigMap) (*receiptRecord, error) {
	rec := &receiptRecord{}
	if err := json.Unmarshal([]byte(cm.Data["receipt.json"]), rec); err != nil {
		return nil, fmt.Errorf("decode receipt %s: %w", cm.Name, err)
	}
	return rec, nil
}
