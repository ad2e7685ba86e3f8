package harness

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	"github.com/partnercart/partnercart-operator/internal/pcsim"
)

var t0 = time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)

// bought is an object that checked out upstream cart cartID at startedAt as intent 1.
func bought(name string, uid types.UID, cartID string, startedAt time.Time) pcv1alpha1.PartnerCart {
	c := NewCart("ns", name, Line{Item: ItemE5, Quantity: 10, BillingCycle: pcv1alpha1.BillingCycleMonthly})
	c.UID = uid
	c.Status.Checkout = &pcv1alpha1.CheckoutStatus{
		CartID: cartID, Intent: 1, Outcome: pcv1alpha1.CheckoutSucceeded, StartedAt: metav1.NewTime(startedAt),
	}
	return *c
}

func e5(q int) BoughtLine {
	return BoughtLine{Offer: ItemE5, Quantity: q, BillingCycle: "monthly", Term: "P1Y"}
}

func approvedE5() map[string]*pcv1alpha1.PartnerCartSpec {
	spec := NewCart("ns", "a", Line{Item: ItemE5, Quantity: 10, BillingCycle: pcv1alpha1.BillingCycleMonthly}).Spec
	return map[string]*pcv1alpha1.PartnerCartSpec{"ns/a": &spec, "ns/b": &spec}
}

func TestPurchases(t *testing.T) {
	records := []pcsim.OrderRecord{{OrderID: "o1", CartID: "c1"}, {OrderID: "o2", CartID: "c1"}, {OrderID: "o3", CartID: "c2"}}
	detailed := []partnercenter.Order{
		{ID: "o1", BillingCycle: "monthly", LineItems: []partnercenter.OrderLineItem{{OfferID: ItemE5, Quantity: 10, TermDuration: "P1Y"}}},
		{ID: "o2", BillingCycle: "annual", LineItems: []partnercenter.OrderLineItem{{OfferID: ItemBasic, Quantity: 10, TermDuration: "P1Y"}}},
	}
	ps, err := Purchases(records, detailed)
	if err == nil || !strings.Contains(err.Error(), "o3") {
		t.Errorf("an order without lines must be an error naming it, got %v", err)
	}
	if len(ps) != 2 || ps[0].CartID != "c1" || len(ps[0].Orders) != 2 || len(ps[0].Lines) != 2 || ps[0].Lines[1].BillingCycle != "annual" {
		t.Errorf("purchases = %+v", ps)
	}
}

func TestContentDiff(t *testing.T) {
	approved := []BoughtLine{e5(10), {Offer: ItemBasic, Quantity: 10, BillingCycle: "annual", Term: "P1Y"}}
	for _, tc := range []struct {
		name   string
		bought []BoughtLine
		differ bool
	}{
		{"exactly the spec", approved, false},
		{"one order group failed", approved[:1], false},
		{"another quantity", []BoughtLine{e5(500)}, true},
		{"another offer", []BoughtLine{{Offer: ItemOrderError, Quantity: 10, BillingCycle: "monthly", Term: "P1Y"}}, true},
		{"another billing cycle", []BoughtLine{{Offer: ItemE5, Quantity: 10, BillingCycle: "annual", Term: "P1Y"}}, true},
		{"a line bought twice", []BoughtLine{e5(10), e5(10)}, true},
	} {
		if d := ContentDiff(approved, tc.bought); (d != "") != tc.differ {
			t.Errorf("%s: ContentDiff = %q, want a difference: %t", tc.name, d, tc.differ)
		}
	}
}

func TestUnapprovedPurchases(t *testing.T) {
	for _, tc := range []struct {
		name      string
		objects   []pcv1alpha1.PartnerCart
		revoked   map[types.UID]Revocation
		purchases []Purchase
		want      string // a substring of the only finding; "" for none
	}{
		{
			name:      "approved content, no revoke",
			objects:   []pcv1alpha1.PartnerCart{bought("a", "u1", "c1", t0)},
			purchases: []Purchase{{CartID: "c1", Orders: []string{"o1"}, Lines: []BoughtLine{e5(10)}}},
		},
		{
			name:      "content differs from the approved spec",
			objects:   []pcv1alpha1.PartnerCart{bought("a", "u1", "c1", t0)},
			purchases: []Purchase{{CartID: "c1", Orders: []string{"o1"}, Lines: []BoughtLine{e5(500)}}},
			want:      "does not hold",
		},
		{
			name:      "orders of a cart no object recorded an intent for",
			objects:   []pcv1alpha1.PartnerCart{bought("a", "u1", "c1", t0)},
			purchases: []Purchase{{CartID: "c9", Orders: []string{"o9"}, Lines: []BoughtLine{e5(10)}}},
			want:      "no PartnerCart recorded a checkout intent",
		},
		{
			name:      "intent started after the acknowledged revoke",
			objects:   []pcv1alpha1.PartnerCart{bought("a", "u1", "c1", t0.Add(2*time.Second))},
			revoked:   map[types.UID]Revocation{"u1": {At: t0, ResourceVersion: "42", IntentSeen: true, LastIntent: 1}},
			purchases: []Purchase{{CartID: "c1", Orders: []string{"o1"}, Lines: []BoughtLine{e5(10)}}},
			want:      "after its approval was revoked",
		},
		{
			name:      "intent persisted after a revoke that saw none, in the same second",
			objects:   []pcv1alpha1.PartnerCart{bought("a", "u1", "c1", t0)},
			revoked:   map[types.UID]Revocation{"u1": {At: t0.Add(300 * time.Millisecond), ResourceVersion: "42"}},
			purchases: []Purchase{{CartID: "c1", Orders: []string{"o1"}, Lines: []BoughtLine{e5(10)}}},
			want:      "saw no intent",
		},
		{
			name:      "intent persisted before the revoke may complete",
			objects:   []pcv1alpha1.PartnerCart{bought("a", "u1", "c1", t0)},
			revoked:   map[types.UID]Revocation{"u1": {At: t0.Add(time.Second), ResourceVersion: "42", IntentSeen: true, LastIntent: 1}},
			purchases: []Purchase{{CartID: "c1", Orders: []string{"o1"}, Lines: []BoughtLine{e5(10)}}},
		},
	} {
		a := &Audit{Objects: tc.objects, Approved: approvedE5(), Revoked: tc.revoked, Purchases: tc.purchases}
		got := a.UnapprovedPurchases()
		switch {
		case tc.want == "" && len(got) != 0:
			t.Errorf("%s: unapproved purchases %v, want none", tc.name, got)
		case tc.want != "" && (len(got) != 1 || !strings.Contains(got[0], tc.want)):
			t.Errorf("%s: unapproved purchases %v, want one saying %q", tc.name, got, tc.want)
		}
		if tc.revoked != nil && tc.want != "" && len(a.IntentsAfterRevoke()) == 0 {
			t.Errorf("%s: IntentsAfterRevoke found nothing", tc.name)
		}
	}
}

func TestRepurchases(t *testing.T) {
	one := []Purchase{{CartID: "c1", Orders: []string{"o1"}}}
	two := append(one, Purchase{CartID: "c2", Orders: []string{"o2"}})
	deletedFirst := bought("a", "u1", "c1", t0)
	reapplied := bought("a", "u2", "c2", t0.Add(time.Minute))
	receipt := corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ReceiptNamespace, Name: "ns.a-receipt-u1",
			Labels: map[string]string{ReceiptLabel: "true", ReceiptCartNamespaceLabel: "ns"}},
		Data: map[string]string{"cartId": "c1", "receipt.json": `{"partnerCart":"a"}`},
	}
	for _, tc := range []struct {
		name      string
		objects   []pcv1alpha1.PartnerCart
		receipts  []corev1.ConfigMap
		purchases []Purchase
		want      int
	}{
		{"one purchase", []pcv1alpha1.PartnerCart{deletedFirst}, nil, one, 0},
		{"a re-applied object bought again, both objects known", []pcv1alpha1.PartnerCart{deletedFirst, reapplied}, nil, two, 1},
		{"a re-applied object bought again, the first known by its receipt only", []pcv1alpha1.PartnerCart{reapplied}, []corev1.ConfigMap{receipt}, two, 1},
		{"two names, one purchase each", []pcv1alpha1.PartnerCart{deletedFirst, bought("b", "u3", "c2", t0)}, nil, two, 0},
		{"a cart without orders is no purchase", []pcv1alpha1.PartnerCart{deletedFirst, reapplied}, nil, append(one, Purchase{CartID: "c2"}), 0},
	} {
		a := &Audit{Objects: tc.objects, Approved: approvedE5(), Receipts: tc.receipts, Purchases: tc.purchases}
		if got, msgs := a.Repurchases(); got != tc.want || len(msgs) != min(got, 1) {
			t.Errorf("%s: Repurchases = %d %v, want %d", tc.name, got, msgs, tc.want)
		}
	}
}

func TestRevocationOf(t *testing.T) {
	c := bought("a", "u1", "c1", t0)
	c.ResourceVersion = "7"
	c.Status.CheckoutHistory = []pcv1alpha1.CheckoutStatus{{CartID: "c0", Intent: 2}}
	r := RevocationOf(&c, t0)
	if !r.IntentSeen || r.LastIntent != 2 || r.ResourceVersion != "7" {
		t.Errorf("RevocationOf = %+v", r)
	}
	c.Status.Checkout, c.Status.CheckoutHistory = nil, nil
	if r := RevocationOf(&c, t0); r.IntentSeen || r.LastIntent != 0 {
		t.Errorf("RevocationOf (no intent) = %+v", r)
	}
}
