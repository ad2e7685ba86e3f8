package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/yaml"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

const hash = "sha256:1111111111111111111111111111111111111111111111111111111111111111"

var created = time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)

// awaiting is a cart the operator quoted and is waiting for approval.
func awaiting() *pcv1alpha1.PartnerCart {
	return &pcv1alpha1.PartnerCart{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "contoso-m365", Generation: 2, CreationTimestamp: metav1.NewTime(created)},
		Spec: pcv1alpha1.PartnerCartSpec{
			CustomerID: "cust-1",
			LineItems: []pcv1alpha1.CartLineItem{
				{
					LineItemFields: pcv1alpha1.LineItemFields{ID: 1, CatalogItemID: "CFQ7TTC0LH18:0001:CFQ7TTC0K59J", Quantity: 10,
						BillingCycle: pcv1alpha1.BillingCycleMonthly, TermDuration: "P1Y", FriendlyName: "Microsoft 365 E3"},
					AddonItems: []pcv1alpha1.CartAddonItem{{LineItemFields: pcv1alpha1.LineItemFields{ID: 2, CatalogItemID: "CFQ7TTC0LHSV:0001:CFQ7TTC0K5DT",
						Quantity: 10, BillingCycle: pcv1alpha1.BillingCycleMonthly, TermDuration: "P1Y"}}},
				},
				{LineItemFields: pcv1alpha1.LineItemFields{ID: 3, CatalogItemID: "DZH318Z0BQ3Q:0007:DZH318Z0BMQR", Quantity: 1,
					BillingCycle: pcv1alpha1.BillingCycleOneTime}},
			},
			Approval: pcv1alpha1.Approval{RequestedBy: "alice"},
		},
		Status: pcv1alpha1.PartnerCartStatus{
			ObservedGeneration: 2,
			Phase:              pcv1alpha1.PhaseAwaitingApproval,
			SpecHash:           hash,
			Cart: &pcv1alpha1.CartStatus{ID: "cart-9", Status: "Active", SyncedSpecHash: hash, QuotedTotal: "4680.00", CurrencyCode: "USD",
				LineItems: []pcv1alpha1.CartLineItemStatus{
					{ID: 1, CurrencyCode: "USD", Price: "36.00", ExtendedPrice: "4320.00"},
					{ID: 2, CurrencyCode: "USD", Price: "2.00", ExtendedPrice: "240.00"},
					{ID: 3, CurrencyCode: "USD", Price: "120.00", ExtendedPrice: "120.00"},
				}},
			LineItemErrors: []pcv1alpha1.LineItemError{{LineItemID: 3, ErrorCode: 800037, ErrorDescription: "seat limit",
				AdditionalInformation: map[string]string{"max": "5", "current": "4"}}},
			Total: "4680.00 USD", // displayTotal writes the quoted total before checkout
			Conditions: []metav1.Condition{{Type: pcv1alpha1.ApprovedCondition, Status: metav1.ConditionFalse,
				Reason: pcv1alpha1.WaitingForApprovalReason, Message: "set spec.approval.approved"}},
		},
	}
}

// completed is a cart that bought two orders.
func completed() *pcv1alpha1.PartnerCart {
	c := awaiting()
	c.Name = "fabrikam"
	c.Spec.Approval = pcv1alpha1.Approval{Approved: true, SpecHash: hash, ApprovedBy: "bob", RequestedBy: "alice"}
	c.Status.Phase = pcv1alpha1.PhaseCompleted
	c.Status.LineItemErrors = nil
	c.Status.Checkout = &pcv1alpha1.CheckoutStatus{RequestID: "req-1", Outcome: pcv1alpha1.CheckoutSucceeded}
	c.Status.Orders = []pcv1alpha1.OrderStatus{{ID: "ord-1", Status: "completed", TotalPrice: "4560.00", CurrencyCode: "USD"},
		{ID: "ord-2", Status: "completed", TotalPrice: "120.00", CurrencyCode: "USD"}}
	c.Status.OrderCount, c.Status.Total = 2, "4680.00 USD" // as displayTotal writes it
	return c
}

// unknown is a cart whose checkout outcome is Unknown.
func unknown() *pcv1alpha1.PartnerCart {
	c := completed()
	c.Name = "woodgrove"
	c.Status.Phase = pcv1alpha1.PhaseCheckingOut
	c.Status.Checkout.Outcome = pcv1alpha1.CheckoutUnknown
	c.Status.Orders, c.Status.OrderCount = nil, 0
	c.Status.Conditions = append(c.Status.Conditions, metav1.Condition{Type: pcv1alpha1.StalledCondition, Status: metav1.ConditionTrue,
		Reason: pcv1alpha1.CheckoutOutcomeUnknownReason, Message: "The checkout call timed out;\nlook the orders up"})
	return c
}

// deniedCart is a cart an approver denied: the operator shows it Failed with reason Denied.
func deniedCart() *pcv1alpha1.PartnerCart {
	c := awaiting()
	c.Name = "northwind"
	c.Spec.Approval = pcv1alpha1.Approval{Denied: true, Reason: "over budget", ApprovedBy: "carol", ApprovedAt: "2026-12-01T09:00:00Z", RequestedBy: "alice"}
	c.Status.Phase = pcv1alpha1.PhaseFailed
	c.Status.LineItemErrors = nil
	c.Status.Conditions = []metav1.Condition{
		{Type: pcv1alpha1.ReadyCondition, Status: metav1.ConditionFalse, Reason: pcv1alpha1.DeniedReason, Message: "Denied by carol: over budget"},
		{Type: pcv1alpha1.StalledCondition, Status: metav1.ConditionTrue, Reason: pcv1alpha1.DeniedReason, Message: "Denied by carol: over budget"},
	}
	return c
}

// pausedCart carries the paused annotation; the operator shows Ready=False reason Paused.
func pausedCart() *pcv1alpha1.PartnerCart {
	c := awaiting()
	c.Name = "tailspin"
	c.Annotations = map[string]string{pcv1alpha1.PausedAnnotation: "true"}
	c.Spec.AccountRef = &pcv1alpha1.AccountReference{Name: "contoso-partner"}
	c.Status.LineItemErrors = nil
	c.Status.Conditions = []metav1.Condition{{Type: pcv1alpha1.ReadyCondition, Status: metav1.ConditionFalse, Reason: pcv1alpha1.PausedReason,
		Message: "Paused by the annotation partnercenter.partnercart.dev/paused"}}
	return c
}

func newEnv(t *testing.T, objs ...client.Object) (*env, client.Client, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	c := fake.NewClientBuilder().WithScheme(newScheme()).WithObjects(objs...).
		WithStatusSubresource(&pcv1alpha1.PartnerCart{}).Build()
	var out, errOut bytes.Buffer
	now = func() time.Time { return created.Add(50 * time.Hour) }
	t.Cleanup(func() { now = time.Now })
	return &env{out: &out, errOut: &errOut, newClient: func(o *options) (client.Client, string, error) {
		ns := o.namespace
		if ns == "" {
			ns = "team-a"
		}
		return c, ns, nil
	}}, c, &out, &errOut
}

func run(t *testing.T, e *env, args ...string) error {
	t.Helper()
	return e.run(context.Background(), args)
}

func lines(s string) []string { return strings.Split(strings.TrimRight(s, "\n"), "\n") }

func TestGet(t *testing.T) {
	e, _, out, _ := newEnv(t, awaiting(), completed(), unknown(), deniedCart(), pausedCart())
	for _, tc := range []struct{ golden, format string }{
		{"get.txt", ""}, {"get-wide.txt", "wide"}, {"get.json", "json"}, {"get.yaml", "yaml"},
	} {
		out.Reset()
		args := []string{"get"}
		if tc.format != "" {
			args = append(args, "-o", tc.format)
		}
		if err := run(t, e, args...); err != nil {
			t.Fatal(err)
		}
		golden(t, tc.golden, out.String())
	}

	for _, args := range [][]string{{"get", "-n", "other"}, {"-n", "other", "get"}, {"--namespace=other", "get"}} {
		out.Reset()
		if err := run(t, e, args...); err != nil {
			t.Fatal(err)
		}
		if got := out.String(); got != "No PartnerCarts found in namespace other.\n" {
			t.Errorf("%v: %q", args, got)
		}
	}
	out.Reset()
	if err := run(t, e, "get", "-n", "other", "-o", "json"); err != nil {
		t.Fatal(err)
	}
	if want := "{\n    \"apiVersion\": \"v1\",\n    \"items\": [],\n    \"kind\": \"List\",\n    \"metadata\": {\n        \"resourceVersion\": \"\"\n    }\n}\n"; out.String() != want {
		t.Errorf("empty list as json:\n%s", out)
	}

	out.Reset()
	if err := run(t, e, "get", "fabrikam", "-A"); err != nil {
		t.Fatal(err)
	}
	if l := lines(out.String()); len(l) != 2 || !strings.HasPrefix(l[0], "NAMESPACE") || !strings.HasPrefix(l[1], "team-a") {
		t.Errorf("get -A NAME:\n%s", out)
	}
	// One NAME prints the object itself.
	out.Reset()
	if err := run(t, e, "get", "northwind", "-o", "yaml"); err != nil {
		t.Fatal(err)
	}
	var one pcv1alpha1.PartnerCart
	if err := yaml.UnmarshalStrict(out.Bytes(), &one); err != nil || one.Kind != "PartnerCart" || one.Spec.Approval.Reason != "over budget" {
		t.Errorf("get NAME -o yaml: %v\n%s", err, out)
	}
	if err := run(t, e, "get", "-o", "name"); err == nil || !strings.Contains(err.Error(), `-o "name" is not one of wide, json, yaml`) {
		t.Errorf("get -o name: %v", err)
	}
}

func TestApprovalSummary(t *testing.T) {
	c := awaiting()
	c.Spec.Approval.Approved = true
	if got := approvalSummary(c); got != "yes (unpinned)" {
		t.Errorf("unpinned: %q", got)
	}
	c.Spec.Approval.SpecHash = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
	c.Spec.Approval.MaxTotalPrice = "5000"
	if got := approvalSummary(c); got != "yes (stale pin) max 5000" {
		t.Errorf("stale pin: %q", got)
	}
	if got := approvalSummary(deniedCart()); got != "denied by carol" {
		t.Errorf("denied: %q", got)
	}
}

func TestQuote(t *testing.T) {
	e, _, out, _ := newEnv(t, awaiting())
	if err := run(t, e, "quote", "contoso-m365"); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"PartnerCart:          team-a/contoso-m365\n",
		"Partner Center cart:  cart-9 (Active)\n",
		"Spec hash:            " + hash + "\n",
		"Quote:                for the current spec\n",
		"Approval:             not approved; requested by alice\n",
		"Approved:             False WaitingForApproval: set spec.approval.approved\n",
		"  line 3: error 800037: seat limit [current=4, max=5]\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("quote lacks %q:\n%s", want, got)
		}
	}
	table := []string{
		"ID  CATALOG ITEM                    NAME              QTY  BILLING   TERM  UNIT PRICE  EXTENDED PRICE  CURRENCY",
		"1   CFQ7TTC0LH18:0001:CFQ7TTC0K59J  Microsoft 365 E3   10  monthly   P1Y        36.00         4320.00  USD",
		"+2  CFQ7TTC0LHSV:0001:CFQ7TTC0K5DT  (add-on of 1)      10  monthly   P1Y         2.00          240.00  USD",
		"3   DZH318Z0BQ3Q:0007:DZH318Z0BMQR  -                   1  one_time  -         120.00          120.00  USD",
		"                                                                                TOTAL         4680.00  USD",
	}
	for _, want := range table {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("quote table lacks line\n%q\nin\n%s", want, got)
		}
	}
}

func TestQuoteStaleAndOrders(t *testing.T) {
	stale := awaiting()
	stale.Generation = 3
	if got := quoteFreshness(stale); !strings.HasPrefix(got, "stale: the spec changed (generation 3)") {
		t.Errorf("stale generation: %q", got)
	}
	resynced := awaiting()
	resynced.Status.Cart.SyncedSpecHash = "sha256:old"
	if got := quoteFreshness(resynced); !strings.HasPrefix(got, "stale: the quote is for an earlier spec") {
		t.Errorf("stale hash: %q", got)
	}
	none := awaiting()
	none.Status.Cart = nil
	if got := quoteFreshness(none); !strings.HasPrefix(got, "none yet") {
		t.Errorf("no quote: %q", got)
	}
	var out bytes.Buffer
	printQuote(&out, completed())
	for _, want := range []string{"Approval:             approved by bob; pinned to the current spec hash; requested by alice\n",
		"Orders (total 4680.00 USD):\n  ord-1  completed  4560.00 USD\n  ord-2  completed  120.00 USD\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("quote of completed cart lacks %q:\n%s", want, out.String())
		}
	}
}

func TestApprovePinned(t *testing.T) {
	e, c, out, errOut := newEnv(t, awaiting())
	if err := run(t, e, "approve", "contoso-m365", "--max-total", "5000.00"); err != nil {
		t.Fatal(err)
	}
	var got pcv1alpha1.PartnerCart
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "team-a", Name: "contoso-m365"}, &got); err != nil {
		t.Fatal(err)
	}
	want := pcv1alpha1.Approval{Approved: true, SpecHash: hash, MaxTotalPrice: "5000.00", RequestedBy: "alice"}
	if got.Spec.Approval != want {
		t.Errorf("approval = %+v, want %+v", got.Spec.Approval, want)
	}
	if s := out.String(); s != "partnercart team-a/contoso-m365 approved (pinned to "+hash+", quoted 4680.00 USD, max total 5000.00)\n" {
		t.Errorf("output %q", s)
	}
	if errOut.Len() != 0 {
		t.Errorf("warnings for a fresh quote: %s", errOut)
	}
}

// TestApproveRefusesAboveTheLimit: an approval whose price limit is below the quote would not
// buy; the approver is told so at once (the operator would wait with PriceLimitExceeded), and
// --force approves all the same.
func TestApproveRefusesAboveTheLimit(t *testing.T) {
	for _, tc := range []struct {
		name, cartLimit, flag, refusal string
	}{
		{name: "flag below the quote", flag: "4000", refusal: "--max-total 4000 is below the quoted total 4680.00 USD"},
		{name: "cart's limit below the quote", cartLimit: "2500.00", refusal: "the cart's spec.approval.maxTotalPrice 2500.00 is below the quoted total 4680.00 USD"},
		{name: "flag raises the cart's limit", cartLimit: "2500.00", flag: "4680.00"},
		{name: "flag equal to the quote, other digits", flag: "4680"},
		{name: "no limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cart := awaiting()
			cart.Spec.Approval.MaxTotalPrice = tc.cartLimit
			e, c, _, errOut := newEnv(t, cart)
			args := []string{"approve", "contoso-m365"}
			if tc.flag != "" {
				args = append(args, "--max-total", tc.flag)
			}
			err := run(t, e, args...)
			if tc.refusal == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.refusal) || !strings.Contains(err.Error(), "add --force") {
				t.Fatalf("refusal %v, want %q", err, tc.refusal)
			}
			if approval(t, c, "contoso-m365").Approved {
				t.Fatal("a refused approval was applied")
			}
			if err := run(t, e, append(args, "--force")...); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(errOut.String(), "warning: "+tc.refusal) || !approval(t, c, "contoso-m365").Approved {
				t.Errorf("--force: approved %v, warnings %q", approval(t, c, "contoso-m365").Approved, errOut)
			}
		})
	}
}

// approval reads the stored spec.approval of a cart of team-a.
func approval(t *testing.T, c client.Client, name string) pcv1alpha1.Approval {
	t.Helper()
	var got pcv1alpha1.PartnerCart
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "team-a", Name: name}, &got); err != nil {
		t.Fatal(err)
	}
	return got.Spec.Approval
}

func TestApprovalPatch(t *testing.T) {
	cart := awaiting()
	p, err := approvalPatch(cart, approveOptions{pin: true}, "42")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(p)
	if want := `{"metadata":{"resourceVersion":"42"},"spec":{"approval":{"approved":true,"denied":false,"specHash":"` + hash + `"}}}`; string(b) != want {
		t.Errorf("pinned patch %s, want %s", b, want)
	}
	// Unpinned: an earlier pin is removed, so that it cannot block the approval.
	cart.Spec.Approval.SpecHash = "sha256:old"
	p, _ = approvalPatch(cart, approveOptions{}, "")
	b, _ = json.Marshal(p)
	if want := `{"spec":{"approval":{"approved":true,"denied":false,"specHash":null}}}`; string(b) != want {
		t.Errorf("unpinned patch %s, want %s", b, want)
	}
	// After a denial: the denial's reason goes, or the approver's replaces it.
	p, _ = approvalPatch(deniedCart(), approveOptions{pin: true}, "")
	b, _ = json.Marshal(p)
	if want := `{"spec":{"approval":{"approved":true,"denied":false,"reason":null,"specHash":"` + hash + `"}}}`; string(b) != want {
		t.Errorf("patch clearing a denial %s, want %s", b, want)
	}
	p, _ = approvalPatch(deniedCart(), approveOptions{pin: true, reason: "budget raised"}, "")
	b, _ = json.Marshal(p)
	if want := `{"spec":{"approval":{"approved":true,"denied":false,"reason":"budget raised","specHash":"` + hash + `"}}}`; string(b) != want {
		t.Errorf("patch with a reason %s, want %s", b, want)
	}
	if _, err := approvalPatch(cart, approveOptions{maxTotal: "-5"}, ""); err == nil || !strings.Contains(err.Error(), "not a positive decimal") {
		t.Errorf("negative max total: %v", err)
	}
	cart.Status.SpecHash = ""
	if _, err := approvalPatch(cart, approveOptions{pin: true}, ""); err == nil || !strings.Contains(err.Error(), "--pin=false") {
		t.Errorf("pin without a hash: %v", err)
	}
}

func TestApproveConflict(t *testing.T) {
	// The patch carries the resourceVersion that was read: an object changed since is not approved.
	e, c, _, _ := newEnv(t, awaiting())
	var cart pcv1alpha1.PartnerCart
	ctx := context.Background()
	if err := c.Get(ctx, client.ObjectKey{Namespace: "team-a", Name: "contoso-m365"}, &cart); err != nil {
		t.Fatal(err)
	}
	e.newClient = func(*options) (client.Client, string, error) {
		return &changingClient{Client: c}, "team-a", nil
	}
	err := run(t, e, "approve", "contoso-m365")
	if err == nil || !strings.Contains(err.Error(), "changed while approving") {
		t.Fatalf("approve of a changed cart: %v", err)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "team-a", Name: "contoso-m365"}, &cart); err != nil {
		t.Fatal(err)
	}
	if cart.Spec.Approval.Approved {
		t.Error("a cart changed after it was read was approved")
	}
}

// changingClient changes the cart between the plugin's read and its patch.
type changingClient struct{ client.Client }

func (c *changingClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if err := c.Client.Get(ctx, key, obj, opts...); err != nil {
		return err
	}
	var fresh pcv1alpha1.PartnerCart
	if err := c.Client.Get(ctx, key, &fresh); err != nil {
		return err
	}
	fresh.Spec.LineItems[0].Quantity = 500
	return c.Update(ctx, &fresh)
}

func TestApproveRefusesCheckedOut(t *testing.T) {
	e, _, _, _ := newEnv(t, completed())
	if err := run(t, e, "approve", "fabrikam"); err == nil || !strings.Contains(err.Error(), "nothing to approve") {
		t.Errorf("approve of a completed cart: %v", err)
	}
}

func TestApprovePrintPatch(t *testing.T) {
	e, c, out, _ := newEnv(t, awaiting())
	if err := run(t, e, "approve", "--print-patch", "contoso-m365", "--max-total=5000"); err != nil {
		t.Fatal(err)
	}
	want := `# Approve PartnerCart team-a/contoso-m365 (quoted 4680.00 USD).
# approvedBy and approvedAt are stamped by the API server when this is applied.
apiVersion: partnercenter.partnercart.dev/v1alpha1
kind: PartnerCart
metadata:
  name: contoso-m365
  namespace: team-a
spec:
  approval:
    approved: true
    denied: false
    maxTotalPrice: "5000"
    specHash: ` + hash + "\n"
	if out.String() != want {
		t.Errorf("print-patch:\n%s\nwant:\n%s", out, want)
	}
	var doc pcv1alpha1.PartnerCart
	if err := yaml.UnmarshalStrict(out.Bytes(), &doc); err != nil {
		t.Errorf("printed patch is not a PartnerCart: %v", err)
	}
	var stored pcv1alpha1.PartnerCart
	_ = c.Get(context.Background(), client.ObjectKey{Namespace: "team-a", Name: "contoso-m365"}, &stored)
	if stored.Spec.Approval.Approved {
		t.Error("--print-patch applied the approval")
	}
}

func TestResolve(t *testing.T) {
	e, c, out, _ := newEnv(t, unknown(), completed())
	if err := run(t, e, "resolve", "woodgrove", "--orders", "ord-7, ord-8"); err != nil {
		t.Fatal(err)
	}
	var got pcv1alpha1.PartnerCart
	_ = c.Get(context.Background(), client.ObjectKey{Namespace: "team-a", Name: "woodgrove"}, &got)
	if v := got.Annotations[pcv1alpha1.CheckoutResolutionAnnotation]; v != "req-1/orders=ord-7,ord-8" {
		t.Errorf("annotation %q", v)
	}
	if !strings.Contains(out.String(), "annotated partnercenter.partnercart.dev/checkout-resolution=req-1/orders=ord-7,ord-8") {
		t.Errorf("output %q", out)
	}
	if err := run(t, e, "resolve", "woodgrove"); err == nil || !strings.Contains(err.Error(), "exactly one of") {
		t.Errorf("resolve without a flag: %v", err)
	}
	if err := run(t, e, "resolve", "fabrikam", "--nothing-bought"); err == nil || !strings.Contains(err.Error(), "outcome: Succeeded") {
		t.Errorf("resolve of a succeeded checkout: %v", err)
	}
	if r, _ := resolution(unknown(), resolveOptions{nothingBought: true, notOurs: "o-7, o-8"}); r != "req-1/nothing-bought;not-ours=o-7,o-8" {
		t.Errorf("nothing-bought resolution naming candidates %q", r)
	}
	if _, err := resolution(unknown(), resolveOptions{orders: "o-1", notOurs: "o-7"}); err == nil {
		t.Error("--not-ours without --nothing-bought is accepted")
	}
	r, _ := resolution(unknown(), resolveOptions{nothingBought: true})
	if r != "req-1/nothing-bought" {
		t.Errorf("nothing-bought resolution %q", r)
	}
}

func TestReceipts(t *testing.T) {
	receipt := func(ns, name, cart, customer string) *corev1.ConfigMap {
		body, _ := json.Marshal(map[string]any{"partnerCart": cart, "customerId": customer, "outcome": "Succeeded",
			"checkoutCompletedAt": "2026-11-30T10:00:00Z",
			"orders":              []map[string]string{{"id": "ord-1", "totalPrice": "10.00", "currencyCode": "EUR"}}})
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: defaultReceiptNamespace, Name: ns + "." + name,
			Labels: map[string]string{receiptLabel: "true", pcv1alpha1.ReceiptCartNamespaceLabel: ns}},
			Data: map[string]string{"customerId": customer, "receipt.json": string(body)}}
	}
	other := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "not-a-receipt"}}
	// A tenant's ConfigMap with the receipt label is not a receipt: receipts live in the
	// operator's namespace.
	forged := receipt("team-a", "forged-receipt-00000000", "a", "cust-1")
	forged.Namespace = "team-a"
	e, _, out, _ := newEnv(t, receipt("team-a", "a-receipt-1234abcd", "a", "cust-1"), receipt("team-a", "b-receipt-5678abcd", "b", "cust-2"),
		receipt("team-b", "c-receipt-9999abcd", "c", "cust-1"), other, forged)
	if err := run(t, e, "receipts", "--customer", "cust-1"); err != nil {
		t.Fatal(err)
	}
	want := "RECEIPT                    CART  CUSTOMER  OUTCOME    ORDERS  TOTALS     COMPLETED\n" +
		"team-a.a-receipt-1234abcd  a     cust-1    Succeeded  ord-1   10.00 EUR  2026-11-30T10:00:00Z\n"
	if out.String() != want {
		t.Errorf("receipts:\n%s\nwant:\n%s", out, want)
	}
	out.Reset()
	if err := run(t, e, "receipts", "-A", "--customer", "cust-1"); err != nil {
		t.Fatal(err)
	}
	if n := len(lines(out.String())); n != 3 {
		t.Errorf("receipts -A: %d lines:\n%s", n, out)
	}
	out.Reset()
	if err := run(t, e, "receipts", "--cart", "zzz"); err != nil || out.String() != "No receipts found.\n" {
		t.Errorf("no receipts: %v %q", err, out)
	}
}

// TestMigrateReceipts: receipts an earlier release wrote in tenant namespaces are copied into
// the receipt namespace under the names and labels the operator reads, once; a second run
// finds them present; what cannot be the operator's is skipped, and a copy that would differ
// from what is there is reported, never overwritten.
func TestMigrateReceipts(t *testing.T) {
	old := func(ns, cart, uid, orders string) *corev1.ConfigMap {
		body, _ := json.Marshal(map[string]any{"namespace": ns, "partnerCart": cart, "partnerCartUID": uid})
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: cart + "-receipt-" + uid[:8],
			Labels: map[string]string{receiptLabel: "true", pcv1alpha1.ReceiptCartLabel: cart, pcv1alpha1.ReceiptCartUIDLabel: uid}},
			Data: map[string]string{"orderIds": orders, "receipt.json": string(body)}}
	}
	bought := old("team-a", "seats", "0f6c1b8e-4c9e-4f7e-9a1d-3c5b7d9e1f23", "o-1")
	claimsOther := old("team-b", "x", "1f6c1b8e-4c9e-4f7e-9a1d-3c5b7d9e1f23", "o-2")
	claimsOther.Data["receipt.json"] = `{"namespace":"team-a","partnerCart":"x","partnerCartUID":"1f6c1b8e"}`
	e, c, out, _ := newEnv(t, bought, claimsOther)

	if err := run(t, e, "migrate-receipts", "--dry-run"); err != nil {
		t.Fatal(err)
	}
	var none corev1.ConfigMapList
	if err := c.List(t.Context(), &none, client.InNamespace(defaultReceiptNamespace)); err != nil || len(none.Items) != 0 {
		t.Fatalf("--dry-run copied: %v %d", err, len(none.Items))
	}
	out.Reset()
	if err := run(t, e, "migrate-receipts"); err != nil {
		t.Fatal(err)
	}
	name := pcv1alpha1.ReceiptName("team-a", "seats", "0f6c1b8e-4c9e-4f7e-9a1d-3c5b7d9e1f23")
	copied := &corev1.ConfigMap{}
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: defaultReceiptNamespace, Name: name}, copied); err != nil {
		t.Fatalf("not copied: %v\n%s", err, out)
	}
	if copied.Labels[pcv1alpha1.ReceiptCartNamespaceLabel] != "team-a" || copied.Data["orderIds"] != "o-1" ||
		copied.Annotations[MigratedFromAnnotation] != "team-a/"+bought.Name || copied.Immutable == nil || !*copied.Immutable {
		t.Errorf("copy: %+v", copied)
	}
	if !strings.Contains(out.String(), "skipped  team-b/") || !strings.Contains(out.String(), "1 receipts copied, 0 already present, 1 skipped") {
		t.Errorf("output:\n%s", out)
	}
	out.Reset()
	if err := run(t, e, "migrate-receipts"); err != nil || !strings.Contains(out.String(), "0 receipts copied, 1 already present") {
		t.Errorf("second run: %v\n%s", err, out)
	}

	// A receipt already there that records other orders is reported, not overwritten.
	changed := bought.DeepCopy()
	changed.Data["orderIds"] = "o-9"
	if err := c.Update(t.Context(), changed); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(t, e, "migrate-receipts"); err != nil || !strings.Contains(out.String(), "CONFLICT team-a/") {
		t.Errorf("conflict: %v\n%s", err, out)
	}
	if err := c.Get(t.Context(), client.ObjectKeyFromObject(copied), copied); err != nil || copied.Data["orderIds"] != "o-1" {
		t.Errorf("the receipt was changed: %v %v", err, copied.Data)
	}
}
