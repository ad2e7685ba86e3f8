package controller

import (
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

// TestCRDIsServed proves the generated CRD is installed and served by the real API server:
// create, get, the status subresource, the default deletionPolicy and the printer columns.
func TestCRDIsServed(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	ns := newNamespace(t)

	cart := newCart(ns, "served")
	g.Expect(env.Client.Create(ctx, cart)).To(Succeed())

	got := &pcv1alpha1.PartnerCart{}
	g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(cart), got)).To(Succeed())
	g.Expect(got.Spec.DeletionPolicy).To(Equal(pcv1alpha1.DeletionPolicyOrphan), "deletionPolicy defaults to Orphan")
	g.Expect(got.Spec.LineItems).To(HaveLen(1))

	// Status is a subresource: a spec update does not write it, a status update does.
	got.Status.Phase = pcv1alpha1.PhasePending
	g.Expect(env.Client.Update(ctx, got)).To(Succeed())
	g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(cart), got)).To(Succeed())
	g.Expect(got.Status.Phase).To(BeEmpty(), "status written through the main resource must be dropped")

	got.Status.Phase = pcv1alpha1.PhaseAwaitingApproval
	got.Status.SpecHash = "sha256:abc"
	g.Expect(env.Client.Status().Update(ctx, got)).To(Succeed())
	g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(cart), got)).To(Succeed())
	g.Expect(got.Status.Phase).To(Equal(pcv1alpha1.PhaseAwaitingApproval))

	// Short name, category and printer columns come from the markers.
	crd := crdFor(t)
	g.Expect(crd.Spec.Names.ShortNames).To(ConsistOf("pcart"))
	g.Expect(crd.Spec.Names.Categories).To(ConsistOf("partnercenter"))
	var columns []string
	for _, c := range crd.Spec.Versions[0].AdditionalPrinterColumns {
		if c.Priority == 0 {
			columns = append(columns, c.Name)
		}
	}
	g.Expect(columns).To(Equal([]string{"Customer", "Phase", "Approved", "Orders", "Total", "Ready", "Age"}))
}
