package controller

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

// kstatusOf computes what Flux, Argo CD and kstatus-based tools make of a cart.
func kstatusOf(t *testing.T, cart *pcv1alpha1.PartnerCart) status.Status {
	t.Helper()
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(cart)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	res, err := status.Compute(&unstructured.Unstructured{Object: obj})
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	return res.Status
}

// TestKstatus: GitOps tools read a cart's health through kstatus: in progress while it
// syncs, waits or provisions, Current once every order completed, Failed when stalled.
func TestKstatus(t *testing.T) {
	g := NewWithT(t)
	o := startOperator(t, operatorOptions{})
	o.create("waiting")
	o.create("done", withApproved())
	o.create("broken", withApproved(), func(c *pcv1alpha1.PartnerCart) { c.Spec.LineItems[0].Quantity = 99999 }) // over the SKU maximum

	o.eventually("waiting", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseAwaitingApproval))
	g.Expect(kstatusOf(t, o.get("waiting"))).To(Equal(status.InProgressStatus))
	o.eventually("done", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))
	g.Expect(kstatusOf(t, o.get("done"))).To(Equal(status.CurrentStatus))
	o.eventually("broken", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseFailed))
	g.Expect(kstatusOf(t, o.get("broken"))).To(Equal(status.FailedStatus))
}
