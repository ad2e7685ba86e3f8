package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/harness"
	"github.com/partnercart/partnercart-operator/internal/testenv"
)

// floorWritesPerCart are the writes of one purchase that no operator can avoid, besides the
// user's create: the finalizer, the intent, the result, the receipt and the completion
// (the order is pending when checkout answers, since pcsim completes it later).
const floorWritesPerCart = 5

// floorRun is one run of the minimal writer at one concurrency.
type floorRun struct {
	workers int
	wall    time.Duration // first create to last completion write
	writes  int           // writes besides the creates
	// apiCPU is the CPU kube-apiserver and etcd used over wall: on a machine the API server
	// saturates, the steadier comparison of the two sides' work.
	apiCPU time.Duration
}

// apiServerCPU sums the CPU of kube-apiserver and etcd between two ChildrenCPU readings.
func apiServerCPU(before, after map[string]time.Duration) time.Duration {
	return after["kube-apiserver"] - before["kube-apiserver"] + after["etcd"] - before["etcd"]
}

// floorPhase runs the minimal API writer for N objects at each concurrency of
// cfg.floorWorkers, before the manager starts, and returns the fastest run.
func (bm *benchmark) floorPhase(ctx context.Context, cp *harness.ControlPlane) (*floorRun, error) {
	var runs []*floorRun
	var best *floorRun
	for _, w := range bm.cfg.floorWorkers {
		fr, err := bm.floorRun(ctx, cp, fmt.Sprintf("floor-%d", w), w)
		if err != nil {
			return nil, err
		}
		runs = append(runs, fr)
		if best == nil || fr.wall < best.wall {
			best = fr
		}
	}
	var tried string
	for i, r := range runs {
		if i > 0 {
			tried += ", "
		}
		tried += fmt.Sprintf("%d writers %s", r.workers, fmtDur(r.wall))
	}
	bm.add("API floor (minimal writer, same run)", fmtDur(best.wall),
		fmt.Sprintf("%d objects: create (32 concurrent, as in the operator phase), then per object finalizer, intent, result, receipt ConfigMap, completion (%.2f writes per object besides the create) with the manager's client settings (--kube-api-qps %s, a token bucket per resource type), watched by the bench as the operator phase is; each run, like the operator phase, on a freshly restarted kube-apiserver; no Partner Center calls, no waiting for the order; before the operator phase, best of %s",
			bm.cfg.n, float64(best.writes)/float64(bm.cfg.n), kubeQPSString(bm.cfg.kubeQPS), tried))
	return best, nil
}

// floorRun is one run of the minimal writer with `workers` writers in namespace ns, which it
// creates and empties afterwards, so that the manager never sees its objects.
func (bm *benchmark) floorRun(ctx context.Context, cp *harness.ControlPlane, ns string, workers int) (*floorRun, error) {
	if err := freshAPIServer(ctx, cp, ns); err != nil {
		return nil, err
	}
	if err := harness.CreateNamespaces(ctx, cp.Client, ns); err != nil {
		return nil, err
	}
	logf("API floor (%s): %d objects, %d writers", ns, bm.cfg.n, workers)
	g0 := logAPIServerGo(ctx, cp, "before "+ns, nil)
	fr, err := bm.floorWriter(ctx, cp, ns, workers)
	logAPIServerGo(ctx, cp, "after "+ns, g0)
	if err != nil {
		return nil, fmt.Errorf("API floor with %d writers: %w", workers, err)
	}
	logf("API floor (%s) with %d writers: %s", ns, workers, fr.wall.Round(time.Millisecond))
	return fr, emptyFloorNamespace(ctx, cp, ns)
}

// writerConfig is the manager's Kubernetes client settings: --kube-api-qps (default 200)
// and burst twice that.
func (bm *benchmark) writerConfig(cp *harness.ControlPlane) *rest.Config {
	cfg := rest.CopyConfig(cp.Config)
	cfg.QPS, cfg.Burst = 200, 400
	if bm.cfg.kubeQPS > 0 {
		cfg.QPS, cfg.Burst = float32(bm.cfg.kubeQPS), int(2*bm.cfg.kubeQPS)
	}
	cfg.RateLimiter = nil
	return cfg
}

// floorWriter creates N carts in ns as the operator phase does, and has `workers`
// goroutines make each one's minimal writes as soon as it exists.
func (bm *benchmark) floorWriter(ctx context.Context, cp *harness.ControlPlane, ns string, workers int) (*floorRun, error) {
	n := bm.cfg.n
	wc, err := client.New(bm.writerConfig(cp), client.Options{Scheme: testenv.NewScheme()})
	if err != nil {
		return nil, err
	}
	// The operator phase carries the bench's own watch of the carts (how it sees them Ready);
	// the floor carries the same watch, so that the API server serves the same observer in
	// both and the ratio compares the operator's work only.
	observer, err := client.NewWithWatch(cp.Config, client.Options{Scheme: testenv.NewScheme()})
	if err != nil {
		return nil, err
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go newTracker(n).watch(watchCtx, observer, ns)
	created := make(chan *pcv1alpha1.PartnerCart, n)
	var mu sync.Mutex
	var firstErr error
	var last time.Time
	writes := 0
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range created {
				k, err := floorPurchase(ctx, wc, c)
				if err != nil {
					fail(fmt.Errorf("%s: %w", c.Name, err))
					continue
				}
				now := time.Now()
				mu.Lock()
				writes += k
				if now.After(last) {
					last = now
				}
				mu.Unlock()
			}
		}()
	}
	profiles := bm.startCPUProfiles(ctx, cp, nil, fmt.Sprintf("%s-n%d", ns, n))
	defer profiles.wait()
	cpu0 := harness.ChildrenCPU()
	first := time.Now()
	carts := make([]*pcv1alpha1.PartnerCart, n)
	for i := range carts {
		carts[i] = harness.NewCart(ns, fmt.Sprintf("cart-%05d", i))
	}
	if err := harness.CreateAll(ctx, cp.Client, carts, 32, func(c *pcv1alpha1.PartnerCart) { created <- c }); err != nil {
		fail(err)
	}
	close(created)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return &floorRun{workers: workers, wall: last.Sub(first), writes: writes, apiCPU: apiServerCPU(cpu0, harness.ChildrenCPU())}, nil
}

// floorPurchase makes the unavoidable writes of one purchase, each a merge patch of what
// the operator records at that step, and returns how many it made. The content is what the
// operator's API contract puts in status and in the receipt (docs/api.md): the cart with its
// priced lines and quote, the approval and checkout record, the orders with their lines and
// subscriptions, the four conditions; the same size as the operator's, so that the ratio
// compares how the operator works, not how much it records.
func floorPurchase(ctx context.Context, c client.Client, cart *pcv1alpha1.PartnerCart) (int, error) {
	base := cart.DeepCopy()
	controllerutil.AddFinalizer(cart, pcv1alpha1.Finalizer)
	if err := c.Patch(ctx, cart, client.MergeFrom(base)); err != nil {
		return 0, fmt.Errorf("finalizer: %w", err)
	}
	now := metav1.Now()
	expires := metav1.NewTime(now.Add(7 * 24 * time.Hour))
	cartID, orderID := uuid.NewString(), strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
	hash := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(cart.UID)))
	approver := cart.Spec.Approval.ApprovedBy
	base = cart.DeepCopy()
	st := &cart.Status
	st.ObservedGeneration, st.Phase, st.SpecHash = cart.Generation, pcv1alpha1.PhaseCheckingOut, hash
	st.Cart = &pcv1alpha1.CartStatus{ID: cartID, Status: "Active", CreationTimestamp: &now, ExpirationTimestamp: &expires,
		LastModifiedTimestamp: &now, LastModifiedUser: uuid.NewString(), SyncedSpecHash: hash, QuotedTotal: "17100.00", CurrencyCode: "USD"}
	for _, l := range cart.Spec.LineItems {
		st.Cart.LineItems = append(st.Cart.LineItems, pcv1alpha1.CartLineItemStatus{ID: l.ID, OrderGroup: "0", CurrencyCode: "USD", Price: "57.00", ExtendedPrice: "17100.00"})
	}
	st.Checkout = &pcv1alpha1.CheckoutStatus{RequestID: uuid.NewString(), CartID: cartID, CustomerID: cart.Spec.CustomerID,
		SpecHash: hash, Intent: 1, Attempts: 1, Generation: cart.Generation, Outcome: pcv1alpha1.CheckoutPending, StartedAt: now,
		RequestedBy: cart.Spec.Approval.RequestedBy, ApprovedBy: approver, ApprovedAt: cart.Spec.Approval.ApprovedAt}
	setCondition(cart, pcv1alpha1.CartSyncedCondition, metav1.ConditionTrue, pcv1alpha1.CartSyncedReason, fmt.Sprintf("Cart %s matches spec %s", cartID, hash))
	setCondition(cart, pcv1alpha1.ApprovedCondition, metav1.ConditionTrue, pcv1alpha1.ApprovedReason,
		fmt.Sprintf("Approved for purchase content %s by %s at %s", hash, approver, now.UTC().Format(time.RFC3339)))
	setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionUnknown, pcv1alpha1.CheckoutInProgressReason, "Checking out cart "+cartID)
	setCondition(cart, pcv1alpha1.ReadyCondition, metav1.ConditionFalse, pcv1alpha1.CheckoutInProgressReason, "Checking out cart "+cartID)
	if err := c.Status().Patch(ctx, cart, client.MergeFrom(base)); err != nil {
		return 1, fmt.Errorf("intent: %w", err)
	}
	base = cart.DeepCopy()
	st.Phase, st.Cart.Status, st.Total, st.OrderCount = pcv1alpha1.PhaseProvisioning, "Ordered", "17100.00 USD", 1
	st.Checkout.Outcome, st.Checkout.CompletedAt = pcv1alpha1.CheckoutSucceeded, &now
	order := pcv1alpha1.OrderStatus{ID: orderID, AlternateID: orderID, Status: "pending", CreationDate: &now, CurrencyCode: "USD",
		TotalPrice: "17100.00", BillingCycle: "monthly", TransactionType: "UserPurchase"}
	for _, l := range cart.Spec.LineItems {
		order.LineItems = append(order.LineItems, pcv1alpha1.OrderLineItemStatus{LineItemNumber: l.ID, OfferID: l.CatalogItemID,
			SubscriptionID: uuid.NewString(), Quantity: l.Quantity, FriendlyName: l.FriendlyName, TermDuration: l.TermDuration,
			TransactionType: "New", Price: "57.00"})
	}
	st.Orders = []pcv1alpha1.OrderStatus{order}
	st.ReceiptName = pcv1alpha1.ReceiptName(cart.Namespace, cart.Name, string(cart.UID))
	setCondition(cart, pcv1alpha1.CartSyncedCondition, metav1.ConditionTrue, pcv1alpha1.CartFrozenReason, "Cart "+cartID+" was checked out; its content is frozen")
	setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutSucceededReason, "Created orders "+orderID)
	setCondition(cart, pcv1alpha1.ReadyCondition, metav1.ConditionFalse, pcv1alpha1.OrdersProvisioningReason, "Waiting for 1 of 1 orders to complete")
	receiptJSON, err := json.MarshalIndent(map[string]any{"partnerCart": cart.Name, "partnerCartUid": cart.UID, "customerId": cart.Spec.CustomerID,
		"cartId": cartID, "checkoutRequestId": st.Checkout.RequestID, "specHash": hash, "startedAt": now, "approvedBy": approver,
		"lineItems": cart.Spec.LineItems, "orders": st.Orders}, "", "  ")
	if err != nil {
		return 1, err
	}
	receipt := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: harness.ReceiptNamespace, Name: st.ReceiptName, Labels: map[string]string{
			harness.ReceiptLabel: "true", pcv1alpha1.ReceiptCartNamespaceLabel: cart.Namespace, pcv1alpha1.ReceiptCartLabel: cart.Name,
			pcv1alpha1.ReceiptCartUIDLabel: string(cart.UID)}},
		Immutable: ptr.To(true),
		Data: map[string]string{"cartId": cartID, "orderIds": orderID, "customerId": cart.Spec.CustomerID, "checkoutRequestId": st.Checkout.RequestID,
			"specHash": hash, "checkoutStartedAt": now.UTC().Format(time.RFC3339), "approvedBy": approver, "receipt.json": string(receiptJSON)},
	}
	if err := c.Create(ctx, receipt); err != nil {
		return 2, fmt.Errorf("receipt: %w", err)
	}
	if err := c.Status().Patch(ctx, cart, client.MergeFrom(base)); err != nil {
		return 3, fmt.Errorf("result: %w", err)
	}
	base = cart.DeepCopy()
	st.Phase, st.Orders[0].Status = pcv1alpha1.PhaseCompleted, "completed"
	setCondition(cart, pcv1alpha1.ReadyCondition, metav1.ConditionTrue, pcv1alpha1.SucceededReason, "Orders "+orderID+" completed")
	if err := c.Status().Patch(ctx, cart, client.MergeFrom(base)); err != nil {
		return 4, fmt.Errorf("completion: %w", err)
	}
	return floorWritesPerCart, nil
}

func setCondition(c *pcv1alpha1.PartnerCart, typ string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&c.Status.Conditions, metav1.Condition{Type: typ, Status: status,
		Reason: reason, Message: msg, ObservedGeneration: c.Generation})
}

// emptyFloorNamespace removes the writer's carts (finalizers first) and receipts with an
// unthrottled client; it is not timed.
func emptyFloorNamespace(ctx context.Context, cp *harness.ControlPlane, ns string) error {
	cfg := rest.CopyConfig(cp.Config)
	cfg.QPS, cfg.Burst, cfg.RateLimiter = -1, 0, nil
	c, err := client.New(cfg, client.Options{Scheme: testenv.NewScheme()})
	if err != nil {
		return err
	}
	list := &pcv1alpha1.PartnerCartList{}
	if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
		return err
	}
	work := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range work {
				obj := &pcv1alpha1.PartnerCart{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
				err := c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`)))
				if err == nil {
					err = client.IgnoreNotFound(c.Delete(ctx, obj))
				}
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
			}
		}()
	}
	for i := range list.Items {
		work <- list.Items[i].Name
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return fmt.Errorf("empty %s: %w", ns, firstErr)
	}
	return c.DeleteAllOf(ctx, &corev1.ConfigMap{}, client.InNamespace(harness.ReceiptNamespace),
		client.MatchingLabels{harness.ReceiptLabel: "true", harness.ReceiptCartNamespaceLabel: ns})
}

// addAPIFloorRows: the operator against the API floor, and per cart what it writes beyond it.
// The floor is the mean of its best run before the operator phase and its run after it (with
// the same writers): the machine is shared, and its load drifts over the minutes of a run; a
// floor measured on both sides of the operator cancels a steady drift instead of charging it
// to either side.
func (bm *benchmark) addAPIFloorRows(lr *loadRun, sc *loadScrape, before, after *floorRun, n float64) {
	wall := (before.wall + after.wall) / 2
	apiCPU := (before.apiCPU + after.apiCPU) / 2
	bm.add("API floor after the operator phase", fmtDur(after.wall),
		fmt.Sprintf("the same writer with %d writers, run again once the operator phase and the restart are over (manager stopped, the carts deleted, kube-apiserver restarted); the floor below is the mean of the two runs, %s", after.workers, fmtDur(wall)))
	ratio := lr.wall.Seconds() / wall.Seconds()
	bm.target(fmt.Sprintf("Wall time within 1.5× of the API floor (same run, N=%d)", bm.cfg.n),
		fmt.Sprintf("%s = %.2f× the %s API floor (mean of %s before and %s after)", fmtDur(lr.wall), ratio, fmtDur(wall), fmtDur(before.wall), fmtDur(after.wall)), ratio <= 1.5)
	bm.add("Operator / API floor", fmt.Sprintf("%.2f×", ratio),
		fmt.Sprintf("%s / %s (target ≤ 1.5×); the API floor does not wait for the order (%s), the operator must", fmtDur(lr.wall), fmtDur(wall), bm.cfg.orderCompleteAfter))
	opCPU := apiServerCPU(lr.cpu0, lr.cpu1)
	bm.add("API-server CPU per cart, operator / API floor", fmt.Sprintf("%.1f ms / %.1f ms = %.2f×", opCPU.Seconds()*1000/n, apiCPU.Seconds()*1000/n, opCPU.Seconds()/apiCPU.Seconds()),
		fmt.Sprintf("kube-apiserver + etcd CPU over each side's wall time (the floor: mean of %.1f ms before and %.1f ms after): the work each side asks of the API server, steadier than wall time on a busy machine",
			before.apiCPU.Seconds()*1000/n, after.apiCPU.Seconds()*1000/n))
	writes, _ := apiWrites(sc.metrics)
	events := float64(len(sc.events.Items))
	patches := sc.metrics.Sum("rest_client_requests_total", func(l map[string]string) bool { return l["method"] == "PATCH" || l["method"] == "PUT" })
	posts := sc.metrics.Sum("rest_client_requests_total", func(l map[string]string) bool { return l["method"] == "POST" })
	mods := 0
	lr.tr.mu.Lock()
	for _, m := range lr.tr.modified {
		mods += m
	}
	lr.tr.mu.Unlock()
	beyond := writes/n - floorWritesPerCart
	bm.add("Operator writes beyond the API floor, per cart", fmt.Sprintf("%.2f (%.2f without Events)", beyond, beyond-events/n),
		fmt.Sprintf("operator %.2f writes per cart against the floor's %d (finalizer, intent, result, receipt, completion): Events %.2f (floor 0); PATCH/PUT %.2f (floor 4); POST other than Events %.2f (floor 1: the receipt); the watch saw %.2f changes per cart, so %.2f PATCHes per cart changed nothing",
			writes/n, floorWritesPerCart, events/n, patches/n, (posts-events)/n, float64(mods)/n, (patches-float64(mods))/n))
}
