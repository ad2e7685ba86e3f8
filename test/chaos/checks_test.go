package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/harness"
	"github.com/partnercart/partnercart-operator/internal/pcsim"
)

// collect is a fail function that keeps the failures.
func collect() (*[]string, func(string, ...any)) {
	var got []string
	return &got, func(format string, args ...any) { got = append(got, fmt.Sprintf(format, args...)) }
}

func TestCheckCheckoutIntentsCountsHistory(t *testing.T) {
	refused := harness.NewCart("ns", "a")
	refused.Status.CheckoutHistory = []pcv1alpha1.CheckoutStatus{{CartID: "c1", Outcome: pcv1alpha1.CheckoutRefused}}
	idx := indexCarts([]pcv1alpha1.PartnerCart{*refused})
	stats := &pcsim.Stats{CheckoutsExecuted: map[string]int{"c1": 1, "c2": 1}}
	got, fail := collect()
	checkCheckoutIntents(stats, idx.anyIntent, fail)
	if len(*got) != 1 || !strings.Contains((*got)[0], "c2") {
		t.Errorf("failures %v, want one for c2 (c1 is a refused intent in history)", *got)
	}
}

func TestExpectOutcome(t *testing.T) {
	stalled := func(reason string) *pcv1alpha1.PartnerCart {
		c := harness.NewCart("ns", "a")
		c.UID = "u2"
		c.Status.Phase = pcv1alpha1.PhaseFailed
		meta.SetStatusCondition(&c.Status.Conditions, metav1.Condition{
			Type: pcv1alpha1.StalledCondition, Status: metav1.ConditionTrue, Reason: reason, Message: "why", LastTransitionTime: metav1.Now(),
		})
		return c
	}
	g := newGitops()
	g.reapplied["ns/a"] = "u2"
	r := &chaosRun{}
	if msg := r.expectOutcome(stalled(pcv1alpha1.PreviouslyPurchasedReason), harness.Stalled, kindSimple, g); msg != "" {
		t.Errorf("a re-applied cart stopped PreviouslyPurchased: %q", msg)
	}
	if msg := r.expectOutcome(stalled(pcv1alpha1.CheckoutFailedReason), harness.Stalled, kindSimple, g); msg == "" {
		t.Error("a re-applied cart stalled for another reason passed")
	}
	bought := stalled(pcv1alpha1.PreviouslyPurchasedReason)
	bought.Status.Checkout = &pcv1alpha1.CheckoutStatus{CartID: "c2"}
	if msg := r.expectOutcome(bought, harness.Stalled, kindSimple, g); msg == "" {
		t.Error("a re-applied cart with a checkout passed")
	}

	revokedEarly := harness.NewCart("ns", "b")
	revokedEarly.UID = "u3"
	g.revoked["u3"] = harness.Revocation{At: time.Now()}
	if msg := r.expectOutcome(revokedEarly, harness.Completed, kindSimple, g); msg == "" {
		t.Error("a cart revoked before any intent that completed passed")
	}
	if msg := r.expectOutcome(revokedEarly, harness.AwaitingApproval, kindSimple, g); msg != "" {
		t.Errorf("a cart revoked before any intent, awaiting approval: %q", msg)
	}
	g.revoked["u3"] = harness.Revocation{At: time.Now(), IntentSeen: true, LastIntent: 1}
	if msg := r.expectOutcome(revokedEarly, harness.Completed, kindSimple, g); msg != "" {
		t.Errorf("a cart revoked after its intent that completed: %q", msg)
	}
}
