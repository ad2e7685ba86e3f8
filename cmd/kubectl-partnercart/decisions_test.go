package main

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

// account is a PartnerCenterAccount capping each cart at 5000.
func account() *pcv1alpha1.PartnerCenterAccount {
	return &pcv1alpha1.PartnerCenterAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "contoso-partner"},
		Spec: pcv1alpha1.PartnerCenterAccountSpec{TenantID: "contoso.onmicrosoft.com", ClientID: "client-id-not-shown",
			Auth:                 pcv1alpha1.AccountAuth{ClientSecret: &pcv1alpha1.ClientSecretAuth{}},
			MaxTotalPricePerCart: "5000"},
	}
}

// TestApproveRefusals: each reason not to approve is refused with why and how to proceed,
// nothing is written, and --force approves with the reasons as warnings.
func TestApproveRefusals(t *testing.T) {
	withAccount := func(c *pcv1alpha1.PartnerCart) {
		c.Spec.AccountRef = &pcv1alpha1.AccountReference{Name: "contoso-partner"}
	}
	for _, tc := range []struct {
		name   string
		change func(*pcv1alpha1.PartnerCart)
		args   []string
		want   []string
	}{
		{name: "no quote", change: func(c *pcv1alpha1.PartnerCart) { c.Status.Cart = nil },
			want: []string{"Partner Center has not quoted this cart (no status.cart.quotedTotal): wait until 'kubectl partnercart quote contoso-m365' shows a total"}},
		{name: "empty quoted total", change: func(c *pcv1alpha1.PartnerCart) { c.Status.Cart.QuotedTotal = "" },
			want: []string{"Partner Center has not quoted this cart"}},
		{name: "quote of an earlier spec", change: func(c *pcv1alpha1.PartnerCart) { c.Status.Cart.SyncedSpecHash = "sha256:" + strings.Repeat("2", 64) },
			want: []string{"the quote is stale: it is for spec hash sha256:2222", "(status.cart.syncedSpecHash differs from status.specHash)"}},
		{name: "spec changed since the operator looked", change: func(c *pcv1alpha1.PartnerCart) { c.Generation = 3 },
			want: []string{"the quote is stale: the spec changed (generation 3) since the operator last looked (generation 2)"}},
		{name: "stalled", change: func(c *pcv1alpha1.PartnerCart) {
			c.Status.Conditions = append(c.Status.Conditions, metav1.Condition{Type: pcv1alpha1.StalledCondition, Status: metav1.ConditionTrue,
				Reason: pcv1alpha1.LineItemErrorsReason, Message: "line 3: seat limit"})
		}, want: []string{"the cart is stalled (Stalled=True, reason LineItemErrors: line 3: seat limit); an approval does not clear that"}},
		{name: "limit above the account's ceiling", change: withAccount, args: []string{"--max-total", "5000.01"},
			want: []string{"the price limit 5000.01 is above PartnerCenterAccount contoso-partner's maxTotalPricePerCart 5000: the operator would not buy; give --max-total at most 5000"}},
		{name: "quote above the account's ceiling", change: func(c *pcv1alpha1.PartnerCart) {
			withAccount(c)
			c.Status.Cart.QuotedTotal = "5000.0000001"
		}, want: []string{"the quoted total 5000.0000001 USD is above PartnerCenterAccount contoso-partner's maxTotalPricePerCart 5000"}},
		{name: "several at once", change: func(c *pcv1alpha1.PartnerCart) {
			withAccount(c)
			c.Status.Cart.SyncedSpecHash = ""
		}, args: []string{"--max-total", "4000"},
			want: []string{"the quote is stale", "--max-total 4000 is below the quoted total 4680.00 USD"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cart := awaiting()
			tc.change(cart)
			e, c, out, errOut := newEnv(t, cart, account())
			args := append([]string{"approve", "contoso-m365"}, tc.args...)
			err := run(t, e, args...)
			if err == nil {
				t.Fatal("approved")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("refusal lacks %q:\n%v", w, err)
				}
			}
			if !strings.HasPrefix(err.Error(), "not approving PartnerCart team-a/contoso-m365:\n  - ") || !strings.HasSuffix(err.Error(), "To approve anyway, add --force.") {
				t.Errorf("refusal:\n%v", err)
			}
			if approval(t, c, "contoso-m365").Approved || out.Len() != 0 {
				t.Fatalf("a refused approval was applied: %s", out)
			}
			if err := run(t, e, append(args, "--force")...); err != nil {
				t.Fatal(err)
			}
			if !approval(t, c, "contoso-m365").Approved {
				t.Error("--force did not approve")
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("--force does not warn %q:\n%s", w, errOut)
				}
			}
			if strings.Contains(out.String()+errOut.String(), "client-id-not-shown") {
				t.Error("the account's client ID is printed")
			}
		})
	}
}

// TestApproveWithinTheCeiling: a limit and a quote at the account's ceiling pass; an account
// the approver cannot read is a warning, not a refusal (the operator checks it).
func TestApproveWithinTheCeiling(t *testing.T) {
	cart := awaiting()
	cart.Spec.AccountRef = &pcv1alpha1.AccountReference{Name: "contoso-partner"}
	e, c, _, errOut := newEnv(t, cart, account())
	if err := run(t, e, "approve", "contoso-m365", "--max-total", "5000.00"); err != nil {
		t.Fatal(err)
	}
	if errOut.Len() != 0 || approval(t, c, "contoso-m365").MaxTotalPrice != "5000.00" {
		t.Errorf("warnings %q, approval %+v", errOut, approval(t, c, "contoso-m365"))
	}
	other := awaiting()
	other.Spec.AccountRef = &pcv1alpha1.AccountReference{Name: "gone"}
	e, c, _, errOut = newEnv(t, other)
	if err := run(t, e, "approve", "contoso-m365"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut.String(), "warning: could not read PartnerCenterAccount gone (NotFound): its maxTotalPricePerCart was not checked") ||
		!approval(t, c, "contoso-m365").Approved {
		t.Errorf("unreadable account: %q", errOut)
	}
}

func TestCompareDecimals(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"4680.00", "4680", 0}, {"0.1", ".10", 0}, {"5000.0000001", "5000", 1}, {"99999999999999999999.01", "99999999999999999999.02", -1},
		{"-1", "0", -1},
	} {
		if got, err := compareDecimals(tc.a, tc.b); err != nil || got != tc.want {
			t.Errorf("compare %s %s = %d %v, want %d", tc.a, tc.b, got, err, tc.want)
		}
	}
	for _, bad := range []string{"1e3", "1/3", "", "12,50", "0x10"} {
		if _, err := compareDecimals(bad, "1"); err == nil {
			t.Errorf("%q compared", bad)
		}
	}
}

// TestDenyAndApproveAgain: deny records the refusal (the operator then fails the cart); approve
// clears it. deny needs --reason, and refuses a cart whose checkout started.
func TestDenyAndApproveAgain(t *testing.T) {
	e, c, out, _ := newEnv(t, awaiting(), completed())
	if err := run(t, e, "deny", "contoso-m365", "--reason", "over budget\nfor Q4"); err != nil {
		t.Fatal(err)
	}
	want := pcv1alpha1.Approval{Denied: true, Reason: "over budget\nfor Q4", RequestedBy: "alice"}
	if got := approval(t, c, "contoso-m365"); got != want {
		t.Errorf("after deny %+v, want %+v", got, want)
	}
	if got := out.String(); got != "partnercart team-a/contoso-m365 denied (reason: over budget for Q4); 'kubectl partnercart approve contoso-m365' clears the denial\n" {
		t.Errorf("deny output %q", got)
	}
	// The operator shows the denial as a stall; approving clears it all the same.
	var cart pcv1alpha1.PartnerCart
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "team-a", Name: "contoso-m365"}, &cart); err != nil {
		t.Fatal(err)
	}
	cart.Status.Phase = pcv1alpha1.PhaseFailed
	cart.Status.Conditions = deniedCart().Status.Conditions
	if err := c.Status().Update(context.Background(), &cart); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(t, e, "approve", "contoso-m365", "--reason", "budget raised"); err != nil {
		t.Fatal(err)
	}
	want = pcv1alpha1.Approval{Approved: true, SpecHash: hash, Reason: "budget raised", RequestedBy: "alice"}
	if got := approval(t, c, "contoso-m365"); got != want {
		t.Errorf("after approve %+v, want %+v", got, want)
	}
	if !strings.Contains(out.String(), "denial cleared") {
		t.Errorf("approve output %q", out)
	}
	if err := run(t, e, "deny", "fabrikam", "--reason", "too late"); err == nil || !strings.Contains(err.Error(), "already checking out or checked out") {
		t.Errorf("deny of a checked-out cart: %v", err)
	}
	if approval(t, c, "fabrikam").Denied {
		t.Error("a checked-out cart was denied")
	}
}

// TestDenyRetriesAConflict: a status write between the read and the patch is read again.
func TestDenyRetriesAConflict(t *testing.T) {
	e, c, _, _ := newEnv(t, awaiting())
	cc := &conflictingClient{Client: c, conflicts: 1}
	e.newClient = func(*options) (client.Client, string, error) { return cc, "team-a", nil }
	if err := run(t, e, "deny", "contoso-m365", "--reason", "no"); err != nil {
		t.Fatal(err)
	}
	if !approval(t, c, "contoso-m365").Denied || cc.patches != 2 {
		t.Errorf("denied %v after %d patches", approval(t, c, "contoso-m365").Denied, cc.patches)
	}
}

// conflictingClient changes the cart's status before the first patches, as the operator does.
type conflictingClient struct {
	client.Client
	conflicts, patches int
}

func (c *conflictingClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	c.patches++
	if c.patches <= c.conflicts {
		var fresh pcv1alpha1.PartnerCart
		if err := c.Get(ctx, client.ObjectKeyFromObject(obj), &fresh); err != nil {
			return err
		}
		fresh.Status.Phase = pcv1alpha1.PhaseAwaitingApproval
		fresh.Status.ReceiptName = "touched"
		if err := c.Status().Update(ctx, &fresh); err != nil {
			return err
		}
	}
	return c.Client.Patch(ctx, obj, patch, opts...)
}

func TestPauseResume(t *testing.T) {
	e, c, out, _ := newEnv(t, awaiting())
	annotations := func() map[string]string {
		var cart pcv1alpha1.PartnerCart
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: "team-a", Name: "contoso-m365"}, &cart); err != nil {
			t.Fatal(err)
		}
		return cart.Annotations
	}
	for _, step := range []struct {
		args   []string
		output string
		paused bool
	}{
		{[]string{"pause", "contoso-m365"}, "partnercart team-a/contoso-m365 paused: the operator makes no Partner Center call for it until 'kubectl partnercart resume contoso-m365'\n", true},
		{[]string{"pause", "contoso-m365"}, "partnercart team-a/contoso-m365 is already paused\n", true},
		{[]string{"resume", "contoso-m365"}, "partnercart team-a/contoso-m365 resumed\n", false},
		{[]string{"resume", "contoso-m365"}, "partnercart team-a/contoso-m365 is not paused\n", false},
	} {
		out.Reset()
		if err := run(t, e, step.args...); err != nil {
			t.Fatal(err)
		}
		a := annotations()
		_, present := a[pcv1alpha1.PausedAnnotation]
		if out.String() != step.output || present != step.paused || (step.paused && a[pcv1alpha1.PausedAnnotation] != "true") {
			t.Errorf("%v: output %q, annotations %v", step.args, out, a)
		}
	}
	if err := run(t, e, "pause", "nope"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("pause of a missing cart: %v", err)
	}
}
