package controller

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

// TestCancellationThroughPcsim is issue 23's end to end: a cart is bought through pcsim; its
// cancellation is requested and approved through the API server and its admission policies;
// pcsim's subscription is cancelled once, the cancellation receipt records it with the refund,
// and a second cart whose window has closed is refused with nothing changed.
func TestCancellationThroughPcsim(t *testing.T) {
	g := NewWithT(t)
	o := startOperator(t, operatorOptions{})
	for _, name := range []string{"undo", "late"} {
		o.create(name, withApproved())
	}
	for _, name := range []string{"undo", "late"} {
		o.eventually(name, 30*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))
	}

	// Asking is not approving: the window is shown, nothing is cancelled.
	o.update("undo", func(c *pcv1alpha1.PartnerCart) {
		c.Spec.Cancellation = &pcv1alpha1.Cancellation{Requested: true, Reason: "wrong tenant"}
	})
	o.eventually("undo", 30*time.Second).Should(haveCondition(pcv1alpha1.CancelledCondition, metav1.ConditionFalse, pcv1alpha1.CancellationAwaitingApprovalReason))
	cart := o.get("undo")
	g.Expect(cart.Spec.Cancellation.RequestedBy).NotTo(BeEmpty(), "admission stamped the requester")
	g.Expect(cart.Status.CancellableUntil).NotTo(BeNil())
	g.Expect(conditionMessage(cart, pcv1alpha1.CancelledCondition)).To(ContainSubstring("cancellable until"))
	g.Expect(o.sim.Stats().SubscriptionsCancelled).To(BeZero())

	o.update("undo", func(c *pcv1alpha1.PartnerCart) { c.Spec.Cancellation.Approved = true })
	o.eventually("undo", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseCancelled))
	cart = o.get("undo")
	st := cart.Status.Cancellation
	g.Expect(st.ApprovedBy).To(Equal(cart.Spec.Cancellation.ApprovedBy))
	g.Expect(st.Subscriptions).To(HaveLen(1))
	g.Expect(st.Subscriptions[0].Outcome).To(Equal(pcv1alpha1.CancellationCancelled))
	g.Expect(st.Subscriptions[0].Refund).NotTo(BeNil())
	g.Expect(st.Subscriptions[0].Refund.Type).To(Equal("Full"), "cancelled within a day of the purchase")
	g.Expect(st.Subscriptions[0].Refund.Amount).NotTo(BeEmpty())
	stats := o.sim.Stats()
	g.Expect(stats.SubscriptionsCancelled).To(Equal(1))
	g.Expect(stats.DuplicateCancels).To(BeZero())
	receipt := &corev1.ConfigMap{}
	g.Expect(env.Client.Get(t.Context(), client.ObjectKey{Namespace: o.receiptNS, Name: st.ReceiptName}, receipt)).To(Succeed())
	g.Expect(receipt.Data).To(HaveKeyWithValue("cancelledSubscriptionIds", st.Subscriptions[0].SubscriptionID))
	g.Expect(receipt.Data["receipt.json"]).To(ContainSubstring(`"reason": "wrong tenant"`))

	// Once started, the request is history.
	err := env.Client.Get(t.Context(), client.ObjectKeyFromObject(cart), cart)
	g.Expect(err).NotTo(HaveOccurred())
	cart.Spec.Cancellation.Reason = "changed my mind"
	g.Expect(env.Client.Update(t.Context(), cart)).NotTo(Succeed(), "spec.cancellation is frozen once started")

	// After the window: a clear refusal, no cancellation call reaches Partner Center.
	late := o.get("late")
	g.Expect(o.sim.BackdateSubscription(late.Status.Orders[0].LineItems[0].SubscriptionID, 169*time.Hour)).To(BeTrue())
	o.update("late", func(c *pcv1alpha1.PartnerCart) {
		c.Spec.Cancellation = &pcv1alpha1.Cancellation{Requested: true, Approved: true, Reason: "too late"}
	})
	o.eventually("late", 30*time.Second).Should(haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.CancellationRefusedReason))
	late = o.get("late")
	g.Expect(late.Status.Phase).To(Equal(pcv1alpha1.PhaseCompleted), "nothing was cancelled: the purchase stands")
	g.Expect(late.Status.Cancellation.Subscriptions[0].Outcome).To(Equal(pcv1alpha1.CancellationRefused))
	g.Expect(late.Status.Cancellation.Subscriptions[0].Message).To(ContainSubstring("window closed"))
	g.Expect(o.sim.Stats().SubscriptionsCancelled).To(Equal(1))
}
