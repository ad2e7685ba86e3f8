package v1alpha1

import (
	"fmt"
	"strings"
)

// Names other tools rely on: the kubectl plugin, dashboards, backup jobs and tests find
// receipts and credentials by these, so they live with the API, not in the controller.

// Receipt labels, so receipts can be listed per cart (`kubectl get cm -l ...`).
const (
	ReceiptLabel        = "partnercenter.partnercart.dev/receipt"
	ReceiptCartLabel    = "partnercenter.partnercart.dev/cart"
	ReceiptCartUIDLabel = "partnercenter.partnercart.dev/cart-uid"
	// ReceiptCartNamespaceLabel: the namespace of the cart that bought (receipts of every
	// namespace share the receipt namespace).
	ReceiptCartNamespaceLabel = "partnercenter.partnercart.dev/cart-namespace"
	// ReceiptContentLabel: the purchase content bought (the spec hash's digits), so that a
	// cart of another name buying the same content (a rename in Git) finds the receipt.
	ReceiptContentLabel = "partnercenter.partnercart.dev/content"
)

// ReceiptName names the receipt of a cart after its namespace and name, with the object UID so
// that a later cart of the same name never collides with an earlier purchase's receipt:
// "<namespace>.<name>-receipt-<uid prefix>". A namespace holds no '.', so carts of different
// namespaces never share a name. It is a valid ConfigMap name (253 characters at most) for
// every valid namespace (63 at most) and PartnerCart name: a long name is cut, never to end in
// '-' or '.'.
func ReceiptName(namespace, name, uid string) string {
	if len(name) > maxReceiptCartName {
		name = strings.TrimRight(name[:maxReceiptCartName], "-.")
	}
	return fmt.Sprintf("%s.%s-receipt-%s", namespace, name, uid[:min(len(uid), 8)])
}

// maxReceiptCartName: 63 (namespace) + 1 + 170 + 9 ("-receipt-") + 8 (UID) <= 253.
const maxReceiptCartName = 170

// CancellationReceiptName is the immutable ConfigMap recording a cart's cancellation, next to
// its purchase receipt: "<namespace>.<name>-cancellation-<uid prefix>".
func CancellationReceiptName(namespace, name, uid string) string {
	if len(name) > maxReceiptCartName-5 {
		name = strings.TrimRight(name[:maxReceiptCartName-5], "-.")
	}
	return fmt.Sprintf("%s.%s-cancellation-%s", namespace, name, uid[:min(len(uid), 8)])
}

// CancellationReceiptLabel marks a cancellation receipt (never ReceiptLabel: it records no
// purchase, and the re-purchase guard reads purchase receipts only).
const CancellationReceiptLabel = "partnercenter.partnercart.dev/cancellation-receipt"

// Keys a credentials Secret (spec.credentialsSecretRef, a PartnerCenterAccount's secretRef)
// must hold.
const (
	SecretKeyTenantID     = "tenantId"
	SecretKeyClientID     = "clientId"
	SecretKeyClientSecret = "clientSecret"
)

// Keys of a certificate Secret (kubernetes.io/tls) for a PartnerCenterAccount that proves
// itself with a certificate.
const (
	SecretKeyTLSCert = "tls.crt"
	SecretKeyTLSKey  = "tls.key"
)
