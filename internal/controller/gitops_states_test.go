package controller

import (
	"net/http"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/pcsim"
)

// gitopsState is one state of a cart as a GitOps tool sees it, with what each tool must make
// of it: kstatus as is (kubectl wait, cli-utils), Flux with the healthCheckExprs of
// docs/gitops.md, and Argo CD with config/argocd's health.lua.
type gitopsState struct {
	name    string
	kstatus status.Status
	flux    status.Status
	argo    string
}

var gitopsStates = []gitopsState{
	// Created, not yet seen by any operator: observedGeneration is the CRD's default -1.
	{"created", status.InProgressStatus, status.InProgressStatus, "Progressing"},
	// Synced and quoted, waiting for a person (Approved=False WaitingForApproval).
	{"awaiting-approval", status.InProgressStatus, status.CurrentStatus, "Suspended"},
	// Approved, but the quote is above maxTotalPrice: also waiting for a person.
	{"price-limit", status.InProgressStatus, status.CurrentStatus, "Suspended"},
	// Bought; the orders are still pending upstream (Reconciling=True).
	{"provisioning", status.InProgressStatus, status.InProgressStatus, "Progressing"},
	// Every order completed (Ready=True).
	{"completed", status.CurrentStatus, status.CurrentStatus, "Healthy"},
	// Partner Center rejected a line (Stalled=True, phase Failed).
	{"line-item-errors", status.FailedStatus, status.FailedStatus, "Degraded"},
	// The checkout's outcome is unknown (phase CheckingOut, Stalled=True).
	{"checkout-unknown", status.FailedStatus, status.FailedStatus, "Degraded"},
	// Waiting for credentials, retried (Reconciling=True with the reason; the generation is
	// observed): the named account, the Secret, a key of the Secret.
	{"waiting-account-not-found", status.InProgressStatus, status.InProgressStatus, "Progressing"},
	{"waiting-secret-not-found", status.InProgressStatus, status.InProgressStatus, "Progressing"},
	{"waiting-invalid-credentials", status.InProgressStatus, status.InProgressStatus, "Progressing"},
	// Partner Center throttles (429) or fails (5xx) every call: retried.
	{"throttled", status.InProgressStatus, status.InProgressStatus, "Progressing"},
	{"upstream-unavailable", status.InProgressStatus, status.InProgressStatus, "Progressing"},
	// Approved, but the manager runs with --purchase-freeze: waiting for a person.
	{"purchase-frozen", status.InProgressStatus, status.CurrentStatus, "Suspended"},
	// The annotation partnercenter.partnercart.dev/paused: "true" (Ready=False Paused).
	{"paused", status.InProgressStatus, status.CurrentStatus, "Suspended"},
	// Paused after the checkout, while the orders provision: no order poll, no Reconciling.
	{"paused-provisioning", status.InProgressStatus, status.CurrentStatus, "Suspended"},
	// An approver denied it (spec.approval.denied: Stalled=True Denied, phase Failed).
	{"denied", status.FailedStatus, status.FailedStatus, "Degraded"},
}

var partnerCartGVK = schema.GroupVersionKind{Group: "partnercenter.partnercart.dev", Version: "v1alpha1", Kind: "PartnerCart"}

var gitopsCapture struct {
	once sync.Once
	objs map[string]*unstructured.Unstructured
}

// capturedGitopsStates drives real carts into every state of gitopsStates on the local control
// plane, with pcsim and the manager, and returns them as the API server serves them (without
// managedFields), keyed by state name. The carts are captured once per test binary.
func capturedGitopsStates(t *testing.T) map[string]*unstructured.Unstructured {
	t.Helper()
	gitopsCapture.once.Do(func() { gitopsCapture.objs = captureGitopsStates(t) })
	if len(gitopsCapture.objs) != len(gitopsStates) {
		t.Fatalf("the carts of every GitOps state could not be captured (see the first test that tried)")
	}
	return gitopsCapture.objs
}

func captureGitopsStates(t *testing.T) map[string]*unstructured.Unstructured {
	g := NewWithT(t)
	const wait = 30 * time.Second
	read := func(ns, name string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(partnerCartGVK)
		g.Expect(env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, u)).To(Succeed())
		u.SetManagedFields(nil)
		return u
	}
	out := map[string]*unstructured.Unstructured{}

	// No operator watches this namespace.
	quiet := newNamespace(t)
	g.Expect(env.Client.Create(t.Context(), newCart(quiet, "created"))).To(Succeed())

	o := startOperator(t, operatorOptions{})
	o.create("awaiting-approval")
	o.create("price-limit", withApproved(), withMaxTotal("1.00"))
	o.create("completed", withApproved())
	o.create("line-item-errors", withApproved(), func(c *pcv1alpha1.PartnerCart) { c.Spec.LineItems[0].Quantity = 99999 }) // over the SKU maximum

	slow := startOperator(t, operatorOptions{sim: pcsim.Options{OrderCompleteAfter: time.Hour}})
	slow.create("provisioning", withApproved())

	lost := startOperator(t, withCheckoutFault(pcsim.CheckoutFault{LoseCheckoutAnswer: true, RefuseRepeatCheckout: &pcsim.CheckoutRefusal{Status: http.StatusNotFound}}))
	lost.create("checkout-unknown", withApproved())

	o.eventually("awaiting-approval", wait).Should(And(havePhase(pcv1alpha1.PhaseAwaitingApproval),
		haveCondition(pcv1alpha1.ApprovedCondition, metav1.ConditionFalse, pcv1alpha1.WaitingForApprovalReason)))
	o.eventually("price-limit", wait).Should(And(havePhase(pcv1alpha1.PhaseAwaitingApproval),
		haveCondition(pcv1alpha1.ApprovedCondition, metav1.ConditionFalse, pcv1alpha1.PriceLimitExceededReason)))
	o.eventually("completed", wait).Should(And(havePhase(pcv1alpha1.PhaseCompleted),
		haveCondition(pcv1alpha1.ReadyCondition, metav1.ConditionTrue, pcv1alpha1.SucceededReason)))
	o.eventually("line-item-errors", wait).Should(And(havePhase(pcv1alpha1.PhaseFailed),
		haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.LineItemErrorsReason)))
	slow.eventually("provisioning", wait).Should(And(havePhase(pcv1alpha1.PhaseProvisioning),
		haveCondition(pcv1alpha1.ReconcilingCondition, metav1.ConditionTrue, pcv1alpha1.OrdersProvisioningReason)))
	lost.eventually("checkout-unknown", wait).Should(And(havePhase(pcv1alpha1.PhaseCheckingOut),
		haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutOutcomeUnknownReason)))

	out["created"] = read(quiet, "created")
	for _, name := range []string{"awaiting-approval", "price-limit", "completed", "line-item-errors"} {
		out[name] = read(o.ns, name)
	}
	out["provisioning"] = read(slow.ns, "provisioning")
	out["checkout-unknown"] = read(lost.ns, "checkout-unknown")
	for name, obj := range captureWaitingStates(t, read, o, slow) {
		out[name] = obj
	}
	return out
}
