package v1alpha1

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// TestReceiptNamesAreUniqueAcrossNamespaces: receipts of every namespace share the receipt
// namespace, so a receipt's name holds the cart's namespace; it is a valid ConfigMap name for
// the longest namespace and cart name.
func TestReceiptNamesAreUniqueAcrossNamespaces(t *testing.T) {
	const uid = "0f6c1b8e-4c9e-4f7e-9a1d-3c5b7d9e1f23"
	if got := ReceiptName("tenant-a", "m365", uid); got != "tenant-a.m365-receipt-0f6c1b8e" {
		t.Errorf("ReceiptName = %q", got)
	}
	// "a" + "b.c" and "a.b" + "c" would meet without the rule that a namespace holds no '.'.
	if ReceiptName("tenant-a", "m365", uid) == ReceiptName("tenant-b", "m365", uid) {
		t.Error("two namespaces share a receipt name")
	}
	longest := ReceiptName(strings.Repeat("n", 63), strings.Repeat("c", 252)+"d", uid)
	if errs := validation.IsDNS1123Subdomain(longest); len(errs) > 0 {
		t.Errorf("%s: %v", longest, errs)
	}
	cut := ReceiptName("ns", strings.Repeat("c", maxReceiptCartName-1)+"."+"rest", uid)
	if errs := validation.IsDNS1123Subdomain(cut); len(errs) > 0 {
		t.Errorf("a cut name never ends in '.': %s: %v", cut, errs)
	}
}

// TestTLSSecretKeys: the API names the keys of kubernetes.io/tls Secrets without importing
// k8s.io/api; they must stay the ones core/v1 defines.
func TestTLSSecretKeys(t *testing.T) {
	if SecretKeyTLSCert != corev1.TLSCertKey || SecretKeyTLSKey != corev1.TLSPrivateKeyKey {
		t.Errorf("TLS keys %q, %q; core/v1 has %q, %q", SecretKeyTLSCert, SecretKeyTLSKey, corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
	}
}
