package controller

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/eventrec"
)

// Purchase metrics: what no generic operator knows, the money. They are served with
// controller-runtime's metrics on the manager's metrics endpoint.
var (
	checkoutsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "partnercart_checkouts_total",
		Help: "Checkout outcomes recorded, by result (succeeded, partially_failed, refused, unknown) and PartnerCenterAccount (empty for a namespace Secret).",
	}, []string{"result", "account"})
	ordersTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "partnercart_orders_created_total",
		Help: "Orders created by checkouts.",
	})
	spendTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "partnercart_spend_total",
		Help: "Sum of the totalPrice of orders created, by currency and PartnerCenterAccount (empty for a namespace Secret). Negative and non-finite totals are left out (see partnercart_spend_skipped_total).",
	}, []string{"currency", "account"})
	spendSkippedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "partnercart_spend_skipped_total",
		Help: "Orders whose totalPrice was left out of partnercart_spend_total, by currency and reason (negative: a refund or credit; not_finite; unparsable).",
	}, []string{"currency", "reason"})
	checkoutSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "partnercart_checkout_duration_seconds",
		Help:    "Time from the persisted checkout intent to the recorded result.",
		Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
	})
	admissionPoliciesInForce = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "partnercart_admission_policies_in_force",
		Help: "1 while the manager finds the approval admission policies installed and enforced; 0 while no checkout may start.",
	})
	cancellationsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "partnercart_cancellations_total",
		Help: "Subscriptions whose cancellation ended, by result (cancelled, refused) and PartnerCenterAccount (empty for a namespace Secret).",
	}, []string{"result", "account"})
	refundsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "partnercart_refunds_total",
		Help: "Sum of the Full refunds of cancelled subscriptions (the line's price as ordered), by currency and PartnerCenterAccount. Partial refunds are Partner Center's to prorate and are not counted.",
	}, []string{"currency", "account"})
	eventsDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "partnercart_events_dropped_total",
		Help: "Kubernetes Events not sent: the recorder's queue was full, or the API server refused them after retries. Status and receipts keep the record either way.",
	})
)

func init() {
	metrics.Registry.MustRegister(checkoutsTotal, ordersTotal, spendTotal, spendSkippedTotal, checkoutSeconds, eventsDropped, admissionPoliciesInForce,
		cancellationsTotal, refundsTotal)
}

// NewEventRecorder returns the recorder of the operator's Events, added to mgr so that it
// sends while the manager runs. It keeps no Event once sent (package eventrec says why).
func NewEventRecorder(mgr ctrl.Manager, controllerName string) (*eventrec.Recorder, error) {
	rec := eventrec.New(mgr.GetClient(), mgr.GetScheme(), controllerName,
		eventrec.Options{Dropped: eventsDropped, Log: mgr.GetLogger().WithName("events")})
	if err := mgr.Add(rec); err != nil {
		return nil, fmt.Errorf("add the event recorder: %w", err)
	}
	return rec, nil
}

// countCheckoutMetrics records a checkout result in the purchase metrics.
func countCheckoutMetrics(cart *pcv1alpha1.PartnerCart, result string, now time.Time) {
	account := ""
	co := cart.Status.Checkout
	if co != nil {
		account = co.Account
		checkoutSeconds.Observe(now.Sub(co.StartedAt.Time).Seconds())
	}
	checkoutsTotal.WithLabelValues(result, account).Inc()
	for _, o := range cart.Status.Orders {
		ordersTotal.Inc()
		addSpend(account, o.CurrencyCode, o.TotalPrice)
	}
}

// countCancellationMetrics records a completed cancellation: each subscription's result, and
// the Full refunds by currency.
func countCancellationMetrics(cart *pcv1alpha1.PartnerCart) {
	account := ""
	if co := cart.Status.Checkout; co != nil {
		account = co.Account
	}
	c := cart.Status.Cancellation
	if c == nil {
		return
	}
	for _, t := range c.Subscriptions {
		result := "refused"
		if t.Outcome == pcv1alpha1.CancellationCancelled {
			result = "cancelled"
		}
		cancellationsTotal.WithLabelValues(result, account).Inc()
		if t.Refund != nil && t.Refund.Amount != "" {
			if f, err := strconv.ParseFloat(t.Refund.Amount, 64); err == nil && f > 0 && !math.IsInf(f, 0) {
				refundsTotal.WithLabelValues(t.Refund.Currency, account).Add(f)
			}
		}
	}
}

// Reasons of partnercart_spend_skipped_total.
const (
	spendSkippedNegative   = "negative"
	spendSkippedNotFinite  = "not_finite"
	spendSkippedUnparsable = "unparsable"
)

// addSpend adds an order's totalPrice to partnercart_spend_total. It never panics: a counter
// only goes up (Add panics on a negative value), so a negative total (a refund or credit)
// is counted in partnercart_spend_skipped_total instead, and so are totals that are not
// finite or not numbers. An empty total is an order without a price and is not counted.
func addSpend(account, currency, totalPrice string) {
	if totalPrice == "" {
		return
	}
	f, err := strconv.ParseFloat(totalPrice, 64)
	switch {
	case err != nil && !errors.Is(err, strconv.ErrRange):
		spendSkippedTotal.WithLabelValues(currency, spendSkippedUnparsable).Inc()
	case math.IsInf(f, 0) || math.IsNaN(f):
		spendSkippedTotal.WithLabelValues(currency, spendSkippedNotFinite).Inc()
	case f < 0:
		spendSkippedTotal.WithLabelValues(currency, spendSkippedNegative).Inc()
	default:
		spendTotal.WithLabelValues(currency, account).Add(f)
	}
}

// PhaseCollector reports, from the manager's cache at scrape time and without copying objects,
// the state of the PartnerCarts that alerts need:
//   - partnercart_carts{phase}: how many carts are in each phase;
//   - partnercart_carts_stalled{reason}: carts whose Stalled condition is True, by its reason
//     (CheckoutOutcomeUnknown pages someone); reasons are the operator's own constants, so the
//     label is bounded; a reason no cart has is not reported;
//   - partnercart_awaiting_approval_oldest_timestamp_seconds: when the longest wait for approval
//     began (the creation of that cart's Partner Center cart, which expires 7 days later; the
//     object's creation while it has no upstream cart yet); not reported when no cart waits;
//   - partnercart_checkout_pending_oldest_timestamp_seconds: when the oldest checkout still in
//     flight (outcome Pending) started; not reported when none is.
type PhaseCollector struct {
	Reader client.Reader
}

var (
	cartsDesc   = prometheus.NewDesc("partnercart_carts", "PartnerCarts by phase.", []string{"phase"}, nil)
	stalledDesc = prometheus.NewDesc("partnercart_carts_stalled",
		"PartnerCarts that need a person (condition Stalled=True), by the condition's reason.", []string{"reason"}, nil)
	approvalWaitDesc = prometheus.NewDesc("partnercart_awaiting_approval_oldest_timestamp_seconds",
		"Unix time at which the longest wait for approval began: the creation of the Partner Center cart (it expires 7 days later) "+
			"of the oldest PartnerCart in phase AwaitingApproval. Absent when no cart awaits approval.", nil, nil)
	cancellationWindowDesc = prometheus.NewDesc("partnercart_cancellation_unapproved_window_end_timestamp_seconds",
		"Unix time at which the earliest cancellation window closes among PartnerCarts whose requested cancellation waits for approval. Absent when none waits.", nil, nil)
	checkoutPendingDesc = prometheus.NewDesc("partnercart_checkout_pending_oldest_timestamp_seconds",
		"Unix time at which the oldest checkout still in flight (status.checkout.outcome Pending) started. Absent when none is.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *PhaseCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- cartsDesc
	ch <- stalledDesc
	ch <- approvalWaitDesc
	ch <- checkoutPendingDesc
	ch <- cancellationWindowDesc
}

// cachedCarts returns the carts the Reader holds, read-only. From the manager's cache it reads
// the informer's store itself: a List, even without deep copies, copies every cart into a new
// slice, and at 10 000 carts each scrape made megabytes of garbage.
func (c *PhaseCollector) cachedCarts(ctx context.Context) ([]*pcv1alpha1.PartnerCart, error) {
	if informers, ok := c.Reader.(cache.Informers); ok {
		inf, err := informers.GetInformer(ctx, &pcv1alpha1.PartnerCart{}, cache.BlockUntilSynced(false))
		if err != nil {
			return nil, err
		}
		if s, ok := inf.(interface{ GetStore() toolscache.Store }); ok {
			objs := s.GetStore().List()
			carts := make([]*pcv1alpha1.PartnerCart, 0, len(objs))
			for _, o := range objs {
				if cart, ok := o.(*pcv1alpha1.PartnerCart); ok {
					carts = append(carts, cart)
				}
			}
			return carts, nil
		}
	}
	var list pcv1alpha1.PartnerCartList
	if err := c.Reader.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	carts := make([]*pcv1alpha1.PartnerCart, len(list.Items))
	for i := range list.Items {
		carts[i] = &list.Items[i]
	}
	return carts, nil
}

// Collect implements prometheus.Collector.
func (c *PhaseCollector) Collect(ch chan<- prometheus.Metric) {
	carts, err := c.cachedCarts(context.Background())
	if err != nil {
		ch <- prometheus.NewInvalidMetric(cartsDesc, err)
		return
	}
	counts := map[pcv1alpha1.Phase]int{}
	for _, p := range []pcv1alpha1.Phase{pcv1alpha1.PhasePending, pcv1alpha1.PhaseAwaitingApproval, pcv1alpha1.PhaseCheckingOut,
		pcv1alpha1.PhaseProvisioning, pcv1alpha1.PhaseCompleted, pcv1alpha1.PhaseFailed,
		pcv1alpha1.PhaseCancelling, pcv1alpha1.PhaseCancelled, pcv1alpha1.PhasePartiallyCancelled} {
		counts[p] = 0
	}
	stalled := map[string]int{}
	var oldestWait, oldestCheckout, windowEnd time.Time
	for _, cart := range carts {
		phase := cart.Status.Phase
		if phase == "" {
			phase = pcv1alpha1.PhasePending // not reconciled yet
		}
		counts[phase]++
		if cond := meta.FindStatusCondition(cart.Status.Conditions, pcv1alpha1.StalledCondition); cond != nil && cond.Status == metav1.ConditionTrue {
			stalled[cond.Reason]++
		}
		if co := cart.Status.Checkout; co != nil && co.Outcome == pcv1alpha1.CheckoutPending && !co.StartedAt.IsZero() {
			oldestCheckout = earliest(oldestCheckout, co.StartedAt.Time)
		}
		if until, ok := unapprovedWindowEnd(cart); ok {
			windowEnd = earliest(windowEnd, until)
		}
		if phase == pcv1alpha1.PhaseAwaitingApproval {
			if since := approvalWaitStart(cart); !since.IsZero() && (oldestWait.IsZero() || since.Before(oldestWait)) {
				oldestWait = since
			}
		}
	}
	for phase, n := range counts {
		ch <- prometheus.MustNewConstMetric(cartsDesc, prometheus.GaugeValue, float64(n), string(phase))
	}
	for reason, n := range stalled {
		ch <- prometheus.MustNewConstMetric(stalledDesc, prometheus.GaugeValue, float64(n), reason)
	}
	if !oldestWait.IsZero() {
		ch <- prometheus.MustNewConstMetric(approvalWaitDesc, prometheus.GaugeValue, float64(oldestWait.Unix()))
	}
	if !oldestCheckout.IsZero() {
		ch <- prometheus.MustNewConstMetric(checkoutPendingDesc, prometheus.GaugeValue, float64(oldestCheckout.Unix()))
	}
	if !windowEnd.IsZero() {
		ch <- prometheus.MustNewConstMetric(cancellationWindowDesc, prometheus.GaugeValue, float64(windowEnd.Unix()))
	}
}

// earliest is the earlier of a (zero: none yet) and b.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// unapprovedWindowEnd is the end of the cancellation window of a cart whose requested
// cancellation waits for an approver.
func unapprovedWindowEnd(cart *pcv1alpha1.PartnerCart) (time.Time, bool) {
	until := cart.Status.CancellableUntil
	if until == nil || cart.Status.Cancellation != nil {
		return time.Time{}, false
	}
	cond := meta.FindStatusCondition(cart.Status.Conditions, pcv1alpha1.CancelledCondition)
	return until.Time, cond != nil && cond.Reason == pcv1alpha1.CancellationAwaitingApprovalReason
}

// approvalWaitStart is when a cart awaiting approval began to wait: the creation of its Partner
// Center cart, whose expiry (7 days later) makes waiting costly, or the object's creation when
// Partner Center reported no creation time.
func approvalWaitStart(cart *pcv1alpha1.PartnerCart) time.Time {
	if c := cart.Status.Cart; c != nil && c.CreationTimestamp != nil && !c.CreationTimestamp.IsZero() {
		return c.CreationTimestamp.Time
	}
	return cart.CreationTimestamp.Time
}
