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

// cancellation reads the stored spec.cancellation of a cart of team-a.
func cancellation(t *testing.T, c client.Client, name string) *pcv1alpha1.Cancellation {
	t.Helper()
	var got pcv1alpha1.PartnerCart
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "team-a", Name: name}, &got); err != nil {
		t.Fatal(err)
	}
	return got.Spec.Cancellation
}

// TestCancelRefusals: each reason not to ask for a cancellation is refused with why, nothing
// is written, and --force asks anyway with the reasons as warnings.
func TestCancelRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		cart func() *pcv1alpha1.PartnerCart
		args []string
		want string
	}{
		{"not bought", func() *pcv1alpha1.PartnerCart { c := awaiting(); c.Name = "fabrikam"; return c }, nil, "the cart was not bought"},
		{"unknown line", completed, []string{"--lines", "9"}, "line 9 not in the spec"},
		{"window passed", func() *pcv1alpha1.PartnerCart {
			c := completed()
			until := metav1.NewTime(created.Add(48 * time.Hour)) // the env's clock reads created+50h
			c.Status.CancellableUntil = &until
			return c
		}, nil, "the cancellation window has passed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, c, _, errOut := newEnv(t, tc.cart())
			args := append([]string{"cancel", "fabrikam", "--reason", "mistake"}, tc.args...)
			err := run(t, e, args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "add --force") {
				t.Fatalf("refusal = %v, want it to say %q", err, tc.want)
			}
			if cancellation(t, c, "fabrikam") != nil {
				t.Fatal("a refused request was written")
			}
			if err := run(t, e, append(args, "--force")...); err != nil {
				t.Fatal(err)
			}
			if got := cancellation(t, c, "fabrikam"); got == nil || !got.Requested || got.Reason != "mistake" || got.Approved {
				t.Errorf("--force wrote %+v", got)
			}
			if !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("--force does not warn %q:\n%s", tc.want, errOut)
			}
		})
	}
}

// TestCancelThenApproveCancellation: a request on a bought cart, then its approval; approve
// --cancellation refuses without a request, and both refuse once the operator has started.
func TestCancelThenApproveCancellation(t *testing.T) {
	cart := completed()
	until := metav1.NewTime(created.Add(120 * time.Hour))
	cart.Status.CancellableUntil = &until
	e, c, out, _ := newEnv(t, cart)
	if err := run(t, e, "approve", "--cancellation", "fabrikam"); err == nil {
		t.Fatal("approved a cancellation nobody requested")
	}
	if err := run(t, e, "cancel", "fabrikam", "--lines", "1"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "cancellable until") {
		t.Errorf("cancel does not show the window:\n%s", out)
	}
	got := cancellation(t, c, "fabrikam")
	if got == nil || !got.Requested || len(got.LineItems) != 1 || got.LineItems[0] != 1 {
		t.Fatalf("cancel wrote %+v", got)
	}
	if err := run(t, e, "approve", "--cancellation", "fabrikam"); err != nil {
		t.Fatal(err)
	}
	if got := cancellation(t, c, "fabrikam"); !got.Approved {
		t.Fatal("approve --cancellation did not approve")
	}

	var stored pcv1alpha1.PartnerCart
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "team-a", Name: "fabrikam"}, &stored); err != nil {
		t.Fatal(err)
	}
	stored.Status.Cancellation = &pcv1alpha1.CancellationStatus{RequestedBy: "alice", ApprovedBy: "bob", StartedAt: metav1.NewTime(now())}
	if err := c.Status().Update(context.Background(), &stored); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"cancel", "fabrikam"}, {"approve", "--cancellation", "fabrikam", "--force"}} {
		if err := run(t, e, args...); err == nil || !strings.Contains(err.Error(), "started its cancellation") {
			t.Errorf("%v after the start: %v", args, err)
		}
	}
}
