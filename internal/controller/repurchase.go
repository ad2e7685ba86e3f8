package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
)

// The re-purchase guard (design 3.7). GitOps prune and re-sync, `kubectl replace --force`,
// restores (status is not restored) and clusters rebuilt from Git all create a new object with
// an empty status for something that was already bought. Before a first intent the operator
// looks for that earlier purchase, first in the receipts of the same namespace and name, then
// (receipts are lost with their namespace or cluster) in the customer's recent orders, and
// stops instead of buying again unless a person names the earlier purchase in the
// repurchase-of annotation.

// repurchaseGuard reports whether the cart must stop because it was bought before, or because
// the guard could not look yet; res then says when to look again (a throttled or unreadable
// order list is retried like any other upstream step, never left waiting for a watch event).
// Both looks run: a person who named the earlier receipt has seen that purchase, not an
// unrecorded one of the same lines.
func (r *PartnerCartReconciler) repurchaseGuard(ctx context.Context, s *scope) (stop bool, res ctrl.Result, err error) {
	if stop, err := r.previouslyPurchased(ctx, s); stop || err != nil {
		return true, ctrl.Result{}, err
	}
	return r.identicalRecentPurchase(ctx, s)
}

// repurchaseOverride returns what the repurchase-of annotation names: receipts or orders.
func repurchaseOverride(cart *pcv1alpha1.PartnerCart) []string {
	return pcv1alpha1.SplitOrderIDs(cart.Annotations[pcv1alpha1.RepurchaseOfAnnotation])
}

// previouslyPurchased looks for a receipt with orders of an earlier object of the same
// namespace and name (any UID). Only the newest such receipt, named in the repurchase-of
// annotation, lets the cart buy again: an annotation kept in Git (or carried over by
// `kubectl replace --force`) names a receipt that the purchase it allowed has since made
// old, so it allows exactly one purchase.
func (r *PartnerCartReconciler) previouslyPurchased(ctx context.Context, s *scope) (stop bool, err error) {
	cart := s.cart
	receipts, err := r.earlierReceipts(ctx, s)
	if err != nil {
		return true, err
	}
	var newest *receiptRecord
	newestName := ""
	for i := range receipts {
		cm := &receipts[i]
		rec, err := decodeReceipt(cm)
		if err != nil || rec.PartnerCart != cart.Name || rec.PartnerCartUID == string(cart.UID) || len(rec.Orders) == 0 {
			continue
		}
		if newest == nil || rec.StartedAt > newest.StartedAt || (rec.StartedAt == newest.StartedAt && cm.Name > newestName) {
			newest, newestName = rec, cm.Name
		}
	}
	if newest == nil || slices.Contains(repurchaseOverride(cart), newestName) {
		return false, nil
	}
	msg := fmt.Sprintf("An earlier PartnerCart %s/%s already bought this (receipt %s: orders %s, checked out %s); nothing is bought again. "+
		"To buy again on purpose, annotate the object with %s=%s",
		cart.Namespace, cart.Name, newestName, orderIDs(newest.Orders), newest.StartedAt, pcv1alpha1.RepurchaseOfAnnotation, newestName)
	_, err = r.stall(s, pcv1alpha1.PreviouslyPurchasedReason, msg)
	return true, err
}

// identicalRecentPurchase looks, when no receipt exists, for orders of the customer created
// within the window (the New-Commerce cancellation window by default) whose lines are exactly
// the cart's: offer, quantity, term, billing cycle and, where the spec names it, friendly
// name. Naming lines lets two intended purchases of the same seats be told apart.
func (r *PartnerCartReconciler) identicalRecentPurchase(ctx context.Context, s *scope) (bool, ctrl.Result, error) {
	window := r.Options.IdenticalPurchaseWindow
	if window <= 0 {
		return false, ctrl.Result{}, nil
	}
	cart := s.cart
	pc, err := s.partnerCenter(ctx)
	if err != nil {
		res, err := r.upstreamError(s, "list the customer's orders", err)
		return true, res, err
	}
	orders, err := r.recentOrders.list(ctx, pc, cart, s.now)
	if err != nil {
		if partnercenter.Classify(err) == partnercenter.ClassUndecodable {
			// The list cannot be read (too many orders for one answer): this secondary guard
			// cannot run; the receipt guard and the request IDs still hold.
			ctrl.LoggerFrom(ctx).Info("Cannot read the customer's orders to look for an identical recent purchase", "error", err.Error())
			return false, ctrl.Result{}, nil
		}
		res, err := r.upstreamError(s, "list the customer's orders", err)
		return true, res, err
	}
	matched, err := r.unrecordedMatches(ctx, orders, cart.Spec.LineItems, s.now.Add(-window))
	if err != nil || len(matched) == 0 {
		return err != nil, ctrl.Result{}, err
	}
	if slices.ContainsFunc(matched, func(id string) bool { return slices.Contains(repurchaseOverride(cart), id) }) {
		return false, ctrl.Result{}, nil
	}
	msg := fmt.Sprintf("Customer %s bought exactly these lines within the last %s (orders %s), and no receipt here says by whom; nothing is bought again. "+
		"To buy again on purpose, annotate the object with %s=%s",
		cart.Spec.CustomerID, window, strings.Join(matched, ", "), pcv1alpha1.RepurchaseOfAnnotation, matched[0])
	res, err := r.stall(s, pcv1alpha1.IdenticalRecentPurchaseReason, msg)
	return true, res, err
}

// unrecordedMatches returns the orders matching the cart's lines that no receipt records: an
// order another PartnerCart bought knowingly (its receipt, written before its status, names
// it) says nothing about this one.
func (r *PartnerCartReconciler) unrecordedMatches(ctx context.Context, orders []partnercenter.Order, lines []pcv1alpha1.CartLineItem, since time.Time) ([]string, error) {
	for {
		matched := matchingOrders(orders, lines, since)
		recorded := ""
		for _, id := range matched {
			key, ok := orderLabelKey(id)
			if !ok {
				continue
			}
			var receipts metav1.PartialObjectMetadataList
			receipts.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMapList"))
			if err := r.APIReader.List(ctx, &receipts, client.HasLabels{key}, client.Limit(1)); err != nil {
				return nil, fmt.Errorf("look for the receipt of order %s: %w", id, err)
			}
			if len(receipts.Items) > 0 {
				recorded = id
				break
			}
		}
		if recorded == "" {
			return matched, nil
		}
		orders = slices.DeleteFunc(orders, func(o partnercenter.Order) bool { return o.ID == recorded })
	}
}

// matchingOrders returns the IDs of orders created since `since` that together hold exactly
// the cart's lines: Partner Center makes one order per billing cycle, so each billing cycle's
// lines must be one order's lines. Friendly names count when the spec names every line of the
// group. It returns nil unless every group is matched.
func matchingOrders(orders []partnercenter.Order, lines []pcv1alpha1.CartLineItem, since time.Time) []string {
	groups := map[string][]pcv1alpha1.LineItemFields{} // billing cycle -> lines and add-ons
	for _, l := range lines {
		cycle := strings.ToLower(string(l.BillingCycle))
		groups[cycle] = append(groups[cycle], l.LineItemFields)
		for _, a := range l.AddonItems {
			groups[cycle] = append(groups[cycle], a.LineItemFields)
		}
	}
	var ids []string
	for cycle, group := range groups {
		named := !slices.ContainsFunc(group, func(f pcv1alpha1.LineItemFields) bool { return f.FriendlyName == "" })
		want := make([]string, 0, len(group))
		for _, f := range group {
			want = append(want, orderLineKey(f.CatalogItemID, int(f.Quantity), f.TermDuration, f.FriendlyName, named))
		}
		slices.Sort(want)
		found := ""
		for _, o := range orders {
			created := parseTime(o.CreationDate)
			if created == nil || created.Before(&metav1.Time{Time: since}) || strings.ToLower(o.BillingCycle) != cycle || len(o.LineItems) != len(want) {
				continue
			}
			got := make([]string, 0, len(o.LineItems))
			for _, ol := range o.LineItems {
				got = append(got, orderLineKey(ol.OfferID, ol.Quantity, ol.TermDuration, ol.FriendlyName, named))
			}
			slices.Sort(got)
			if slices.Equal(got, want) {
				found = o.ID
				break
			}
		}
		if found == "" {
			return nil
		}
		ids = append(ids, found)
	}
	slices.Sort(ids)
	return ids
}

func orderLineKey(offer string, quantity int, term, name string, withName bool) string {
	key := fmt.Sprintf("%s x%d %s", strings.ToLower(offer), quantity, strings.ToUpper(term))
	if withName {
		key += " named " + name
	}
	return key
}

// ordersCache shares one ListOrders answer among the first checkouts of a customer's carts
// (with the same credentials): the guard looks for purchases made before the object existed,
// and every answer fetched after the object's creation holds them all. One call per burst of
// carts instead of one per cart, where each answer grows with the customer's orders.
//
// An answer can hold thousands of orders (megabytes of JSON), so the cache keeps only what the
// guard compares (slimOrders), and a cart whose guard finds a fetch in flight that started
// after the cart was created waits for it instead of fetching the same list again: at scale,
// concurrent copies of that list were the manager's largest allocations.
type ordersCache struct {
	mu       sync.Mutex
	entries  map[string]cachedOrders
	inFlight map[string]*ordersFetch
}

type cachedOrders struct {
	fetchedAt time.Time
	orders    []partnercenter.Order
	// err is an answer that cannot be read (more orders than one answer may hold): a list
	// fetched later only grows, so it is shared like a list.
	err error
}

// ordersFetch is a ListOrders call in flight; done is closed when orders and err are set.
type ordersFetch struct {
	startedAt time.Time
	done      chan struct{}
	orders    []partnercenter.Order
	err       error
}

// The cache serves bursts: at most maxCachedCustomers answers, each for ordersCacheTTL.
const (
	maxCachedCustomers = 100
	ordersCacheTTL     = 5 * time.Minute
)

func (c *ordersCache) list(ctx context.Context, pc partnercenter.Client, cart *pcv1alpha1.PartnerCart, now time.Time) ([]partnercenter.Order, error) {
	// One partner's orders for one customer: the account, or the namespace's Secret.
	src := credentialSourceOf(cart)
	key := "secret/" + src.secret.String() + "/" + strings.ToLower(cart.Spec.CustomerID)
	if src.account != "" {
		key = "account/" + src.account + "/" + strings.ToLower(cart.Spec.CustomerID)
	}
	// A second of margin: the object's creationTimestamp has second precision. An answer (or a
	// fetch) counts for the cart only if it started after that.
	createdBefore := cart.CreationTimestamp.Add(time.Second)
	c.mu.Lock()
	if e, ok := c.entries[key]; ok && e.fetchedAt.After(createdBefore) && now.Sub(e.fetchedAt) < ordersCacheTTL {
		c.mu.Unlock()
		return e.orders, e.err
	}
	if f, ok := c.inFlight[key]; ok && f.startedAt.After(createdBefore) {
		c.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if f.err == nil || shareableOrdersError(f.err) {
			return f.orders, f.err
		}
		return c.fetch(ctx, pc, cart, key, now) // its error may be its own context's
	}
	c.mu.Unlock()
	return c.fetch(ctx, pc, cart, key, now)
}

// fetch calls ListOrders, announcing the call so that carts created before `now` can share it.
func (c *ordersCache) fetch(ctx context.Context, pc partnercenter.Client, cart *pcv1alpha1.PartnerCart, key string, now time.Time) ([]partnercenter.Order, error) {
	f := &ordersFetch{startedAt: now, done: make(chan struct{})}
	c.mu.Lock()
	if c.inFlight == nil {
		c.inFlight = map[string]*ordersFetch{}
	}
	if cur, ok := c.inFlight[key]; !ok || cur.startedAt.Before(now) {
		c.inFlight[key] = f
	}
	c.mu.Unlock()

	orders, err := pc.ListOrders(ctx, cart.Spec.CustomerID)
	if err == nil {
		orders = slimOrders(orders)
	}
	f.orders, f.err = orders, err

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inFlight[key] == f {
		delete(c.inFlight, key)
	}
	close(f.done)
	if err != nil && !shareableOrdersError(err) {
		return nil, err
	}
	if c.entries == nil || len(c.entries) >= maxCachedCustomers {
		c.entries = map[string]cachedOrders{}
	}
	if e, ok := c.entries[key]; !ok || e.fetchedAt.Before(now) {
		c.entries[key] = cachedOrders{fetchedAt: now, orders: orders, err: err}
	}
	return orders, err
}

// shareableOrdersError: an answer too large (or otherwise unreadable) is the customer's list,
// not this call's bad luck; asking again for every cart read megabytes each time to the same
// end (at 10 000 orders, half the carts of a burst did).
func shareableOrdersError(err error) bool {
	return partnercenter.Classify(err) == partnercenter.ClassUndecodable
}

// slimOrders keeps of each order what the identical-purchase guard compares: its ID, creation
// date and billing cycle, and its lines' offer, quantity, term and friendly name.
func slimOrders(orders []partnercenter.Order) []partnercenter.Order {
	out := make([]partnercenter.Order, len(orders))
	for i, o := range orders {
		lines := make([]partnercenter.OrderLineItem, len(o.LineItems))
		for j, l := range o.LineItems {
			lines[j] = partnercenter.OrderLineItem{OfferID: l.OfferID, Quantity: l.Quantity, TermDuration: l.TermDuration, FriendlyName: l.FriendlyName}
		}
		out[i] = partnercenter.Order{ID: o.ID, CreationDate: o.CreationDate, BillingCycle: o.BillingCycle, LineItems: lines}
	}
	return out
}
