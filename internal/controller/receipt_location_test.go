package controller

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	pcfake "github.com/partnercart/partnercart-operator/internal/partnercenter/fake"
)

// TestReceiptIsWrittenToTheReceiptNamespace: the receipt lands in the receipt namespace, never
// the cart's, with labels that lead back to the cart (namespace, name, UID).
func TestReceiptIsWrittenToTheReceiptNamespace(t *testing.T) {
	g := NewWithT(t)
	now := time.Now().Truncate(time.Second)
	cart := boughtCart("a1009000-0000-4f7e-9a1d-3c5b7d9e1f30", now)
	r, k8s, _ := unitReconciler(cart, clocktesting.NewFakePassiveClock(now.Add(time.Hour)), interceptor.Funcs{}, Options{})
	reconcileOK(t, r, cart)

	var inTenant corev1.ConfigMapList
	g.Expect(k8s.List(t.Context(), &inTenant, client.InNamespace(cart.Namespace))).To(Succeed())
	g.Expect(inTenant.Items).To(BeEmpty(), "nothing is written in the tenant's namespace")
	receipt := &corev1.ConfigMap{}
	g.Expect(k8s.Get(t.Context(), client.ObjectKey{Namespace: unitReceiptNS, Name: receiptName(cart)}, receipt)).To(Succeed())
	g.Expect(receipt.Labels).To(And(HaveKeyWithValue(pcv1alpha1.ReceiptCartNamespaceLabel, cart.Namespace),
		HaveKeyWithValue(pcv1alpha1.ReceiptCartLabel, cart.Name), HaveKeyWithValue(pcv1alpha1.ReceiptCartUIDLabel, string(cart.UID))))
	g.Expect(storedCart(t, k8s, cart).Status.ReceiptName).To(Equal(receipt.Name))

	// The receipt-deletion watch maps it back to its cart by those labels.
	r.Client = k8s
	reqs := r.cartOfReceipt(t.Context(), receipt)
	g.Expect(reqs).To(HaveLen(1))
	g.Expect(reqs[0].NamespacedName).To(Equal(client.ObjectKeyFromObject(cart)))
	g.Expect(r.cartOfReceipt(t.Context(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: unitReceiptNS,
		Labels: map[string]string{pcv1alpha1.ReceiptCartLabel: cart.Name, pcv1alpha1.ReceiptCartUIDLabel: string(cart.UID)}}})).To(BeEmpty(),
		"a ConfigMap that names no cart namespace wakes nothing")
}

// TestTenantConfigMapsAreNotReceipts: ConfigMaps a tenant with edit rights can write in its own
// namespace (or a receipt of another namespace) are not the manager's record. A forged
// "receipt" of the cart's name does not stop it, nor a receipt of another namespace with the
// same name; and a forged order label does not make the guard take an identical recent order
// for one a live cart bought knowingly.
func TestTenantConfigMapsAreNotReceipts(t *testing.T) {
	g := NewWithT(t)
	now := time.Now().Truncate(time.Second)
	cart := syncedApprovedCart("0f6c1b8e-4c9e-4f7e-9a1d-3c5b7d9e1f60")
	r, k8s, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(now), interceptor.Funcs{}, Options{})

	// A live cart in the tenant's namespace that the forger points the order at.
	decoy := newCart(cart.Namespace, "decoy")
	decoy.UID = "d0d0d0d0-0000-4f7e-9a1d-3c5b7d9e1f60"
	g.Expect(k8s.Create(t.Context(), decoy)).To(Succeed())
	// An earlier purchase of exactly these lines, 10 minutes ago, whose receipt is gone.
	pcOrder := partnercenter.Order{ID: "o-earlier", BillingCycle: "monthly", CreationDate: now.Add(-10 * time.Minute).Format(time.RFC3339),
		LineItems: []partnercenter.OrderLineItem{{OfferID: testItemE5, Quantity: 25, TermDuration: "P1Y", FriendlyName: "Contoso E5"}}}
	key, _ := orderLabelKey(pcOrder.ID)
	forged := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: cart.Namespace, Name: "looks-like-a-receipt",
		Labels: map[string]string{pcv1alpha1.ReceiptLabel: "true", pcv1alpha1.ReceiptCartNamespaceLabel: cart.Namespace, pcv1alpha1.ReceiptCartUIDLabel: string(decoy.UID), key: "true"}}}
	g.Expect(k8s.Create(t.Context(), forged)).To(Succeed())

	// A real receipt of a cart of the same name in another namespace stops nothing here.
	elsewhere := boughtCart("e15e0000-0000-4f7e-9a1d-3c5b7d9e1f60", now.Add(-time.Hour))
	elsewhere.Namespace = "another-tenant"
	elsewhere.Status.Orders[0].ID = "o-elsewhere"
	receipt, _ := receiptWrittenBy(t, elsewhere)
	g.Expect(k8s.Create(t.Context(), receipt)).To(Succeed())

	// A ConfigMap of the receipt's name, labels and content in the tenant's namespace, as an
	// earlier release wrote receipts: written by anyone with edit, it does not count.
	tenantCopy, _ := receiptWrittenBy(t, func() *pcv1alpha1.PartnerCart {
		c := boughtCart("e15e0001-0000-4f7e-9a1d-3c5b7d9e1f60", now.Add(-2*time.Hour))
		c.Status.Orders[0].ID = "o-ancient"
		return c
	}())
	tenantCopy.Namespace = cart.Namespace
	g.Expect(k8s.Create(t.Context(), tenantCopy)).To(Succeed())

	pcfake.WithOrders(pcOrder)(pc)
	reconcileOK(t, r, cart)

	got := storedCart(t, k8s, cart)
	g.Expect(pc.Count(partnercenter.OpCheckout)).To(BeZero(), "the forged label does not let the identical recent order pass")
	g.Expect(got).To(haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.IdenticalRecentPurchaseReason))
	g.Expect(conditionMessage(got, pcv1alpha1.StalledCondition)).To(And(ContainSubstring("o-earlier"),
		Not(ContainSubstring("o-elsewhere")), Not(ContainSubstring("o-ancient"))))
}
