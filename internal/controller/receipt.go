package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

// Receipt labels, so receipts can be listed per cart (`kubectl get cm -l ...`).
const (
	ReceiptLabel        = "partnercenter.partnercart.dev/receipt"
	ReceiptCartLabel    = "partnercenter.partnercart.dev/cart"
	ReceiptCartUIDLabel = "partnercenter.partnercart.dev/cart-uid"
)

// receiptName names the receipt after the cart, with the object UID so that a later cart of
// the same name never collides with an earlier purchase's receipt.
func receiptName(cart *pcv1alpha1.PartnerCart) string {
	name := cart.Name
	if len(name) > 200 {
		name = name[:200]
	}
	return fmt.Sprintf("%s-receipt-%s", name, string(cart.UID)[:8])
}

// receiptRecord is what a receipt keeps of a purchase.
type receiptRecord struct {
	Namespace         string                   `json:"namespace"`
	PartnerCart       string                   `json:"partnerCart"`
	PartnerCartUID    string                   `json:"partnerCartUID"`
	CustomerID        string                   `json:"customerId"`
	CartID            string                   `json:"cartId"`
	CheckoutRequestID string                   `json:"checkoutRequestId"`
	SpecHash          string                   `json:"specHash"`
	StartedAt         string                   `json:"checkoutStartedAt"`
	CompletedAt       string                   `json:"checkoutCompletedAt"`
	Resolution        string                   `json:"resolution,omitempty"`
	Orders            []pcv1alpha1.OrderStatus `json:"orders"`
	OrderErrors       []pcv1alpha1.OrderError  `json:"orderErrors,omitempty"`
}

// ensureReceipt records the purchase in an immutable ConfigMap owned by nobody, so that it
// survives the deletion of the PartnerCart (and of its status). It is written once; a
// receipt that already exists for this cart is left as it is.
func (r *PartnerCartReconciler) ensureReceipt(ctx context.Context, s *scope) error {
	cart := s.cart
	co := cart.Status.Checkout
	name := receiptName(cart)
	if cart.Status.ReceiptName == name {
		return nil
	}
	completed := ""
	if co.CompletedAt != nil {
		completed = co.CompletedAt.UTC().Format(time.RFC3339)
	}
	rec := receiptRecord{
		Namespace: cart.Namespace, PartnerCart: cart.Name, PartnerCartUID: string(cart.UID),
		CustomerID: cart.Spec.CustomerID, CartID: co.CartID, CheckoutRequestID: co.RequestID, SpecHash: co.SpecHash,
		StartedAt: co.StartedAt.UTC().Format(time.RFC3339), CompletedAt: completed, Resolution: co.Resolution,
		Orders: cart.Status.Orders, OrderErrors: cart.Status.OrderErrors,
	}
	body, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("encode receipt: %w", err)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: cart.Namespace,
			Name:      name,
			Labels: map[string]string{
				ReceiptLabel: "true", ReceiptCartLabel: truncateLabel(cart.Name), ReceiptCartUIDLabel: string(cart.UID),
			},
		},
		Immutable: ptr.To(true),
		Data: map[string]string{
			"customerId":        cart.Spec.CustomerID,
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
	if err := r.Client.Create(ctx, cm); err != nil {
		if !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create receipt %s: %w", name, err)
		}
		existing := &corev1.ConfigMap{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(cm), existing); err != nil {
			return fmt.Errorf("read existing receipt %s: %w", name, err)
		}
		if existing.Labels[ReceiptCartUIDLabel] != string(cart.UID) || existing.Data["cartId"] != co.CartID {
			return fmt.Errorf("receipt %s exists but records another purchase (cart %s); refusing to overwrite it", name, existing.Data["cartId"])
		}
	}
	cart.Status.ReceiptName = name
	return nil
}

func truncateLabel(v string) string {
	if len(v) > 63 {
		return v[:63]
	}
	return v
}
