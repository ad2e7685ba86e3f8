package controller

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/testenv"
)

// Each case uses its own currency label, so that the package-level counters do not mix
// cases (or other tests of the package).
func TestSpendNeverPanicsAndCountsOnlyNonNegativeFiniteTotals(t *testing.T) {
	tests := []struct {
		name        string
		currency    string
		totals      []string
		wantSpend   float64
		wantSkipped map[string]float64 // by reason
	}{
		{name: "positive totals add up", currency: "T01", totals: []string{"1425.00", "0.50", "0"}, wantSpend: 1425.5},
		{name: "no price is not counted", currency: "T02", totals: []string{"", "12"}, wantSpend: 12},
		{name: "negative total is a refund, not spend", currency: "T03", totals: []string{"-30.40", "10"}, wantSpend: 10,
			wantSkipped: map[string]float64{spendSkippedNegative: 1}},
		{name: "negative zero", currency: "T04", totals: []string{"-0"}, wantSpend: 0},
		{name: "too large for a float", currency: "T05", totals: []string{"1e400", "-1e400"},
			wantSkipped: map[string]float64{spendSkippedNotFinite: 2}},
		{name: "not finite", currency: "T06", totals: []string{"NaN", "Inf", "-Inf"},
			wantSkipped: map[string]float64{spendSkippedNotFinite: 3}},
		{name: "not a number", currency: "T07", totals: []string{"twelve", "1/0"},
			wantSkipped: map[string]float64{spendSkippedUnparsable: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)

			for _, total := range tt.totals {
				g.Expect(func() { addSpend("", tt.currency, total) }).NotTo(Panic(), "totalPrice %q", total)
			}

			g.Expect(testutil.ToFloat64(spendTotal.WithLabelValues(tt.currency, ""))).To(BeNumerically("~", tt.wantSpend, 1e-9))
			for _, reason := range []string{spendSkippedNegative, spendSkippedNotFinite, spendSkippedUnparsable} {
				g.Expect(testutil.ToFloat64(spendSkippedTotal.WithLabelValues(tt.currency, reason))).
					To(Equal(tt.wantSkipped[reason]), "skipped, reason %s", reason)
			}
		})
	}
}

func TestMetricsSpendCountersFollowPrometheusNaming(t *testing.T) {
	g := NewWithT(t)
	addSpend("", "L01", "1")
	addSpend("", "L01", "-1")

	g.Expect(testutil.CollectAndLint(spendTotal)).To(BeEmpty())
	g.Expect(testutil.CollectAndLint(spendSkippedTotal)).To(BeEmpty())
}

// TestPhaseCollectorReportsStallsAndTheLongestApprovalWait: stalled carts are counted by the
// Stalled condition's reason (not Stalled=False ones); the approval wait starts at the oldest
// upstream cart among carts awaiting approval (the object's creation when the upstream cart has
// no timestamp), and older carts in other phases do not count; the oldest checkout in flight is
// the earliest start of an intent whose outcome is Pending (not Unknown, not settled).
func TestPhaseCollectorReportsStallsAndTheLongestApprovalWait(t *testing.T) {
	base := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	cart := func(name string, phase pcv1alpha1.Phase, created time.Time, upstreamCreated *time.Time, stalled metav1.ConditionStatus, reason string) *pcv1alpha1.PartnerCart {
		c := newCart("ns", name)
		c.CreationTimestamp = metav1.NewTime(created)
		c.Status.Phase = phase
		c.Status.Cart = &pcv1alpha1.CartStatus{ID: "cart-" + name}
		if upstreamCreated != nil {
			c.Status.Cart.CreationTimestamp = &metav1.Time{Time: *upstreamCreated}
		}
		if stalled != "" {
			c.Status.Conditions = []metav1.Condition{{Type: pcv1alpha1.StalledCondition, Status: stalled, Reason: reason,
				LastTransitionTime: metav1.NewTime(created)}}
		}
		return c
	}
	at := func(d time.Duration) *time.Time { t := base.Add(d); return &t }
	checkout := func(c *pcv1alpha1.PartnerCart, outcome pcv1alpha1.CheckoutOutcome, started time.Time) *pcv1alpha1.PartnerCart {
		c.Status.Checkout = &pcv1alpha1.CheckoutStatus{CartID: c.Status.Cart.ID, Outcome: outcome, StartedAt: metav1.NewTime(started)}
		return c
	}
	tests := []struct {
		name  string
		carts []client.Object
		want  string
	}{{
		name: "the oldest upstream cart of the waiting ones",
		carts: []client.Object{
			cart("waiting-new", pcv1alpha1.PhaseAwaitingApproval, base, at(2*time.Hour), "", ""),
			cart("waiting-old", pcv1alpha1.PhaseAwaitingApproval, base.Add(time.Hour), at(90*time.Minute), "", ""),
			cart("completed-older", pcv1alpha1.PhaseCompleted, base.Add(-48*time.Hour), at(-48*time.Hour), "", ""),
			checkout(cart("unknown", pcv1alpha1.PhaseCheckingOut, base, at(0), metav1.ConditionTrue, pcv1alpha1.CheckoutOutcomeUnknownReason),
				pcv1alpha1.CheckoutUnknown, base.Add(-5*time.Hour)),
			checkout(cart("bought", pcv1alpha1.PhaseCompleted, base, at(0), "", ""), pcv1alpha1.CheckoutSucceeded, base.Add(-10*time.Hour)),
			checkout(cart("in-flight-new", pcv1alpha1.PhaseCheckingOut, base, at(0), "", ""), pcv1alpha1.CheckoutPending, base.Add(45*time.Minute)),
			checkout(cart("in-flight-old", pcv1alpha1.PhaseCheckingOut, base, at(0), "", ""), pcv1alpha1.CheckoutPending, base.Add(30*time.Minute)),
			cart("guard-1", pcv1alpha1.PhaseFailed, base, at(0), metav1.ConditionTrue, pcv1alpha1.PreviouslyPurchasedReason),
			cart("guard-2", pcv1alpha1.PhaseFailed, base, at(0), metav1.ConditionTrue, pcv1alpha1.PreviouslyPurchasedReason),
			cart("no-longer-stalled", pcv1alpha1.PhasePending, base, at(0), metav1.ConditionFalse, pcv1alpha1.LineItemErrorsReason),
		},
		want: `
# HELP partnercart_awaiting_approval_oldest_timestamp_seconds Unix time at which the longest wait for approval began: the creation of the Partner Center cart (it expires 7 days later) of the oldest PartnerCart in phase AwaitingApproval. Absent when no cart awaits approval.
# TYPE partnercart_awaiting_approval_oldest_timestamp_seconds gauge
partnercart_awaiting_approval_oldest_timestamp_seconds 1.795167e+09
# HELP partnercart_carts_stalled PartnerCarts that need a person (condition Stalled=True), by the condition's reason.
# TYPE partnercart_carts_stalled gauge
partnercart_carts_stalled{reason="CheckoutOutcomeUnknown"} 1
partnercart_carts_stalled{reason="PreviouslyPurchased"} 2
# HELP partnercart_checkout_pending_oldest_timestamp_seconds Unix time at which the oldest checkout still in flight (status.checkout.outcome Pending) started. Absent when none is.
# TYPE partnercart_checkout_pending_oldest_timestamp_seconds gauge
partnercart_checkout_pending_oldest_timestamp_seconds 1.7951634e+09
`,
	}, {
		name: "no upstream timestamp: the object's creation",
		carts: []client.Object{
			cart("no-timestamp", pcv1alpha1.PhaseAwaitingApproval, base.Add(-time.Hour), nil, "", ""),
			cart("upstream", pcv1alpha1.PhaseAwaitingApproval, base.Add(-2*time.Hour), at(0), "", ""),
		},
		want: `
# HELP partnercart_awaiting_approval_oldest_timestamp_seconds Unix time at which the longest wait for approval began: the creation of the Partner Center cart (it expires 7 days later) of the oldest PartnerCart in phase AwaitingApproval. Absent when no cart awaits approval.
# TYPE partnercart_awaiting_approval_oldest_timestamp_seconds gauge
partnercart_awaiting_approval_oldest_timestamp_seconds 1.795158e+09
`,
	}, {
		name:  "nothing waits, is stalled or in flight: none is reported",
		carts: []client.Object{cart("done", pcv1alpha1.PhaseCompleted, base, at(0), "", "")},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			k8s := fake.NewClientBuilder().WithScheme(testenv.NewScheme()).WithStatusSubresource(&pcv1alpha1.PartnerCart{}).
				WithObjects(tt.carts...).Build()
			c := &PhaseCollector{Reader: k8s}

			g.Expect(testutil.CollectAndCompare(c, strings.NewReader(tt.want),
				"partnercart_carts_stalled", "partnercart_awaiting_approval_oldest_timestamp_seconds",
				"partnercart_checkout_pending_oldest_timestamp_seconds")).To(Succeed())
			g.Expect(testutil.CollectAndLint(c)).To(BeEmpty())
		})
	}
}

// TestPhaseCollectorReadsTheCacheStore: from the manager's cache the collector reads the
// informer's store (no copy of every cart per scrape) and reports exactly what a List from
// the API server reports.
func TestPhaseCollectorReadsTheCacheStore(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	for i, phase := range []pcv1alpha1.Phase{pcv1alpha1.PhaseAwaitingApproval, pcv1alpha1.PhaseCompleted, pcv1alpha1.PhaseCompleted} {
		c := newCart(ns, fmt.Sprintf("c%d", i))
		c.Labels = map[string]string{"test": ns}
		g.Expect(env.Client.Create(t.Context(), c)).To(Succeed())
		c.Status.Phase = phase
		g.Expect(env.Client.Status().Update(t.Context(), c)).To(Succeed())
	}
	// The manager's cache options, cluster-wide as the manager's cache is (a namespaced cache
	// wraps its informers), selecting this test's carts by label.
	c, err := cache.New(env.Config, CacheOptions(cache.Options{Scheme: env.Scheme, DefaultLabelSelector: labels.SelectorFromSet(labels.Set{"test": ns})}, Options{ReceiptNamespace: ns}))
	g.Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = c.Start(ctx) }()
	inf, err := c.GetInformer(ctx, &pcv1alpha1.PartnerCart{})
	g.Expect(err).NotTo(HaveOccurred())
	_, hasStore := inf.(interface{ GetStore() toolscache.Store })
	g.Expect(hasStore).To(BeTrue(), "the store path is the one taken")
	g.Eventually(func() int {
		var list pcv1alpha1.PartnerCartList
		_ = c.List(ctx, &list)
		completed := 0
		for _, item := range list.Items {
			if item.Status.Phase == pcv1alpha1.PhaseCompleted {
				completed++
			}
		}
		return completed
	}).Should(Equal(2))

	want := `
# HELP partnercart_carts PartnerCarts by phase.
# TYPE partnercart_carts gauge
partnercart_carts{phase="AwaitingApproval"} 1
partnercart_carts{phase="Cancelled"} 0
partnercart_carts{phase="Cancelling"} 0
partnercart_carts{phase="CheckingOut"} 0
partnercart_carts{phase="Completed"} 2
partnercart_carts{phase="Failed"} 0
partnercart_carts{phase="PartiallyCancelled"} 0
partnercart_carts{phase="Pending"} 0
partnercart_carts{phase="Provisioning"} 0
`
	g.Expect(testutil.CollectAndCompare(&PhaseCollector{Reader: c}, strings.NewReader(want), "partnercart_carts")).To(Succeed())
	fromAPI := &PhaseCollector{Reader: client.NewNamespacedClient(env.Client, ns)}
	g.Expect(testutil.CollectAndCompare(fromAPI, strings.NewReader(want), "partnercart_carts")).To(Succeed(), "the List path agrees")
}
