package controller

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

func TestTrimForCache(t *testing.T) {
	g := NewWithT(t)
	cart := newCart("ns", "c")
	cart.Annotations = map[string]string{lastAppliedAnnotation: `{"spec":{}}`, pcv1alpha1.RepurchaseOfAnnotation: "r"}
	cart.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	out, err := TrimForCache(cart)
	g.Expect(err).NotTo(HaveOccurred())
	trimmed := out.(*pcv1alpha1.PartnerCart)
	g.Expect(trimmed.ManagedFields).To(BeNil())
	g.Expect(trimmed.Annotations).To(Equal(map[string]string{pcv1alpha1.RepurchaseOfAnnotation: "r"}), "the operator's own annotations stay")
	g.Expect(trimmed.Spec).To(Equal(newCart("ns", "c").Spec))

	only := newCart("ns", "d")
	only.Annotations = map[string]string{lastAppliedAnnotation: "{}"}
	out, _ = TrimForCache(only)
	g.Expect(out.(*pcv1alpha1.PartnerCart).Annotations).To(BeNil())

	viaAccount := newCart("ns", "e")
	viaAccount.Spec.CredentialsSecretRef, viaAccount.Spec.AccountRef = nil, &pcv1alpha1.AccountReference{Name: "contoso"}
	out, err = TrimForCache(viaAccount)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.(*pcv1alpha1.PartnerCart).Spec.AccountRef.Name).To(Equal("contoso"))

	// A receipt's cached metadata keeps what the receipt lookup reads (its cart's labels),
	// not its order labels; a receipt with its data keeps everything.
	receiptMeta := receiptMetadata()
	receiptMeta.Namespace, receiptMeta.Name = "ns", "c-receipt-1"
	receiptMeta.Labels = map[string]string{pcv1alpha1.ReceiptLabel: "true", pcv1alpha1.ReceiptCartLabel: "c", pcv1alpha1.ReceiptCartUIDLabel: "uid-1",
		orderLabelPrefix + "o-1": "true", orderLabelPrefix + "o-2": "true"}
	out, err = TrimForCache(receiptMeta)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.(*metav1.PartialObjectMetadata).Labels).To(Equal(map[string]string{pcv1alpha1.ReceiptLabel: "true", pcv1alpha1.ReceiptCartLabel: "c", pcv1alpha1.ReceiptCartUIDLabel: "uid-1"}))
	otherMeta := receiptMetadata()
	otherMeta.Labels = map[string]string{orderLabelPrefix + "o-1": "true"}
	out, _ = TrimForCache(otherMeta)
	g.Expect(out.(*metav1.PartialObjectMetadata).Labels).To(HaveLen(1), "only receipts lose order labels")

	notAnObject := "tombstone"
	out, err = TrimForCache(notAnObject)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(Equal(notAnObject))
}

// TestCacheTrimKeepsDroppedFields: the cache drops the last-applied-configuration annotation,
// but the operator's writes (the finalizer patch, the intent and the status patches, all
// computed from the trimmed cached object) never remove it from the object.
func TestCacheTrimKeepsDroppedFields(t *testing.T) {
	g := NewWithT(t)
	o := startOperator(t, operatorOptions{})
	applied := `{"apiVersion":"partnercenter.partnercart.dev/v1alpha1","kind":"PartnerCart","metadata":{"name":"applied"}}`
	o.create("applied", withApproved(), func(c *pcv1alpha1.PartnerCart) {
		c.Annotations = map[string]string{lastAppliedAnnotation: applied, "team": "finance"}
	})
	o.eventually("applied", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))
	cart := o.get("applied")
	g.Expect(cart.Finalizers).To(ContainElement(pcv1alpha1.Finalizer))
	g.Expect(cart.Annotations).To(Equal(map[string]string{lastAppliedAnnotation: applied, "team": "finance"}))
	writes, _ := o.writes.snapshot()
	g.Expect(writes).To(HaveKey("patch"), "the finalizer was patched in from the trimmed object")
	g.Expect(writes).To(HaveKey("patch status"))
}
