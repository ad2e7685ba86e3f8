package main

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

// sequenceClient answers the n-th read of a cart with the n-th state (the last one after
// that), so that a wait sees the cart change at known reads, without sleeping.
type sequenceClient struct {
	client.Client
	states []*pcv1alpha1.PartnerCart
	reads  int
}

func (s *sequenceClient) Get(_ context.Context, _ client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	st := s.states[min(s.reads, len(s.states)-1)]
	s.reads++
	st.DeepCopyInto(obj.(*pcv1alpha1.PartnerCart))
	return nil
}

func withPhase(c *pcv1alpha1.PartnerCart, p pcv1alpha1.Phase) *pcv1alpha1.PartnerCart {
	c.Status.Phase = p
	return c
}

func waitEnv(t *testing.T, states ...*pcv1alpha1.PartnerCart) (*env, *sequenceClient, *strings.Builder, *strings.Builder) {
	t.Helper()
	old := pollInterval
	pollInterval = time.Millisecond
	t.Cleanup(func() { pollInterval = old })
	sc := &sequenceClient{states: states}
	var out, errOut strings.Builder
	return &env{out: &out, errOut: &errOut, newClient: func(*options) (client.Client, string, error) { return sc, "team-a", nil }}, sc, &out, &errOut
}

func TestWaitSucceeds(t *testing.T) {
	pending := withPhase(awaiting(), pcv1alpha1.PhasePending)
	// A phase of an older generation does not count: the operator has not seen the spec.
	oldCompleted := withPhase(completed(), pcv1alpha1.PhaseCompleted)
	oldCompleted.Generation = 3
	e, sc, out, _ := waitEnv(t, pending, withPhase(awaiting(), pcv1alpha1.PhaseCheckingOut), oldCompleted, completed())
	if err := run(t, e, "wait", "contoso-m365", "--timeout", "1m"); err != nil {
		t.Fatal(err)
	}
	if out.String() != "partnercart team-a/contoso-m365 condition met (phase Completed)\n" || sc.reads != 4 {
		t.Errorf("output %q after %d reads", out, sc.reads)
	}

	ready := completed()
	ready.Status.Conditions = append(ready.Status.Conditions, metav1.Condition{Type: pcv1alpha1.ReadyCondition, Status: metav1.ConditionTrue,
		Reason: pcv1alpha1.SucceededReason, ObservedGeneration: 2})
	for _, tc := range []struct {
		forText, want string
	}{
		{"condition=Ready", "condition Ready=True"},
		{"condition=ready=true", "condition ready=true"},
		{"condition=Approved=False", "condition Approved=False"},
		{"awaitingapproval", "phase AwaitingApproval"},
	} {
		state := ready
		if tc.forText == "awaitingapproval" || tc.forText == "condition=Approved=False" {
			state = awaiting()
		}
		e, _, out, _ := waitEnv(t, state)
		if err := run(t, e, "wait", "contoso-m365", "--for="+tc.forText, "--timeout=5s"); err != nil {
			t.Fatalf("--for=%s: %v", tc.forText, err)
		}
		if want := "partnercart team-a/contoso-m365 condition met (" + tc.want + ")\n"; out.String() != want {
			t.Errorf("--for=%s: %q, want %q", tc.forText, out, want)
		}
	}
	// Waiting for Failed is met by a stalled, failed cart.
	e, _, out, _ = waitEnv(t, deniedCart())
	if err := run(t, e, "wait", "northwind", "--for", "Failed", "--timeout=5s"); err != nil || !strings.Contains(out.String(), "condition met (phase Failed)") {
		t.Errorf("--for=Failed: %v %q", err, out)
	}
}

func TestWaitFailsOnStall(t *testing.T) {
	e, sc, out, _ := waitEnv(t, awaiting(), deniedCart())
	err := run(t, e, "wait", "contoso-m365", "--timeout=5s")
	if err == nil || err.Error() != "PartnerCart team-a/contoso-m365 stalled while waiting for phase Completed: Denied: Denied by carol: over budget" {
		t.Fatalf("wait on a stall: %v", err)
	}
	if out.Len() != 0 || sc.reads != 2 {
		t.Errorf("output %q after %d reads", out, sc.reads)
	}
	// A stall the operator reported for an older generation is not this spec's.
	oldStall := deniedCart()
	oldStall.Generation = 3
	e, _, _, _ = waitEnv(t, oldStall, withPhase(deniedCart(), pcv1alpha1.PhaseFailed))
	if err := run(t, e, "wait", "northwind", "--for=condition=Ready=False", "--timeout=5s"); err != nil {
		t.Errorf("wait for Ready=False: %v", err)
	}
}

func TestWaitTimesOut(t *testing.T) {
	e, sc, _, errOut := waitEnv(t, pausedCart())
	err := run(t, e, "wait", "tailspin", "--timeout", "30ms")
	want := "timed out after 30ms waiting for PartnerCart team-a/tailspin to reach phase Completed: phase AwaitingApproval (paused), Ready=False Paused: Paused by the annotation partnercenter.partnercart.dev/paused"
	if err == nil || err.Error() != want {
		t.Fatalf("timeout: %v\nwant: %s", err, want)
	}
	if sc.reads < 2 {
		t.Errorf("read %d times", sc.reads)
	}
	if strings.Count(errOut.String(), "is paused") != 1 {
		t.Errorf("paused note: %q", errOut)
	}
	e, _, _, _ = newEnv(t)
	if err := run(t, e, "wait", "nope", "--timeout", "1s"); err == nil || err.Error() != "PartnerCart team-a/nope not found" {
		t.Errorf("wait for a missing cart: %v", err)
	}
}
