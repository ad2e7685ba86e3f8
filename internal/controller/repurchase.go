package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
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
func (r *PartnerCartReconciler) repurchaseGuard(ctx context.Context, s *scope) phaseResult {
	if other, err := r.identicalInFlight(ctx, s); err != nil {
		return retryOn(err)
	} else if other != "" {
		// Neither a receipt nor the order list can show that purchase yet (an order is listed
		// up to 15 minutes after it is made; an Unknown outcome has no receipt).
		return retryAfter(pcv1alpha1.IdenticalPurchaseInFlightReason, fmt.Sprintf(
			"PartnerCart %s/%s, being deleted, checked out exactly this content and is still recording it; nothing is bought until it is gone (see its status), then its receipt decides",
			s.cart.Namespace, other), time.Minute)
	}
	if res := r.previouslyPurchased(ctx, s); res.stops() {
		return res
	}
	return r.identicalRecentPurchase(ctx, s)
}

// repurchaseOverride returns what the repurchase-of annotation names: receipts or orders. An
// annotation the API server did not stamp names nothing.
func (r *PartnerCartReconciler) repurchaseOverride(ctx context.Context, cart *pcv1alpha1.PartnerCart) []string {
	value, _, _ := r.decision(ctx, cart, pcv1alpha1.RepurchaseOfAnnotation)
	return pcv1alpha1.SplitOrderIDs(value)
}

// overriddenOrders returns the orders a person confirmed buying again: those the
// repurchase-of annotation names, and those recorded by the receipts it names.
func (r *PartnerCartReconciler) overriddenOrders(ctx context.Context, cart *pcv1alpha1.PartnerCart) ([]string, error) {
	named := r.repurchaseOverride(ctx, cart)
	orders := slices.Clone(named)
	for _, name := range named {
		cm := &corev1.ConfigMap{}
		if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: r.Options.ReceiptNamespace, Name: name}, cm); err != nil {
			if apierrors.IsNotFound(err) || len(validation.IsDNS1123Subdomain(name)) > 0 {
				continue // an order ID, or no such receipt
			}
			return nil, fmt.Errorf("read receipt %s named by %s: %w", name, pcv1alpha1.RepurchaseOfAnnotation, err)
		}
		// Only a receipt of the cart's own namespace: a tenant cannot vouch for another's purchase.
		if cm.Labels[pcv1alpha1.ReceiptLabel] == "true" && cm.Labels[pcv1alpha1.ReceiptCartNamespaceLabel] == cart.Namespace {
			orders = append(orders, pcv1alpha1.SplitOrderIDs(cm.Data["orderIds"])...)
		}
	}
	return orders, nil
}

// previouslyPurchased looks for a receipt with orders of an earlier object of the same
// namespace and name (any UID). Only the newest such receipt, named in the repurchase-of
// annotation, lets the cart buy again: an annotation kept in Git (or carried over by
// `kubectl replace --force`) names a receipt that the purchase it allowed has since made
// old, so it allows exactly one purchase.
func (r *PartnerCartReconciler) previouslyPurchased(ctx context.Context, s *scope) phaseResult {
	cart := s.cart
	receipts, err := r.earlierReceipts(ctx, s)
	if err != nil {
		return retryOn(err)
	}
	var newest *receiptRecord
	newestName := ""
	usedBy := map[string]string{} // receipt a purchase was allowed over -> the receipt of that purchase
	for i := range receipts {
		cm := &receipts[i]
		rec, err := decodeReceipt(cm)
		if err != nil || rec.Namespace != cart.Namespace || rec.PartnerCartUID == string(cart.UID) || len(rec.Orders) == 0 {
			continue
		}
		for _, over := range pcv1alpha1.SplitOrderIDs(rec.RepurchaseOf) {
			usedBy[over] = cm.Name
		}
		if rec.PartnerCart != cart.Name {
			// The same content bought in this namespace under another name, by an object that
			// is gone (a rename in Git deletes the object that bought), counts within the
			// identical-purchase window. One that still exists is another intended purchase.
			if !r.withinIdenticalWindow(rec.StartedAt, s.now) {
				continue
			}
			if live, err := r.cartLive(ctx, cart.Namespace, rec.PartnerCart, rec.PartnerCartUID); err != nil {
				return retryOn(err)
			} else if live {
				continue
			}
		}
		if newest == nil || rec.StartedAt > newest.StartedAt || (rec.StartedAt == newest.StartedAt && cm.Name > newestName) {
			newest, newestName = rec, cm.Name
		}
	}
	named := slices.Contains(r.repurchaseOverride(ctx, cart), newestName)
	if newest == nil || (named && usedBy[newestName] == "") {
		return next()
	}
	msg := fmt.Sprintf("An earlier PartnerCart %s/%s already bought this (receipt %s: orders %s, checked out %s); nothing is bought again. "+
		"To buy again on purpose, annotate the object with %s=%s",
		cart.Namespace, newest.PartnerCart, newestName, orderIDs(newest.Orders), newest.StartedAt, pcv1alpha1.RepurchaseOfAnnotation, newestName)
	if named {
		// An override allows one purchase: the one that used it (under another name, say, the
		// annotation kept in Git across a rename) is recorded in its receipt.
		msg = fmt.Sprintf("The annotation %s=%s was used already, by the purchase that receipt %s records; nothing is bought again. %s",
			pcv1alpha1.RepurchaseOfAnnotation, newestName, usedBy[newestName], msg)
	}
	return stall(pcv1alpha1.PreviouslyPurchasedReason, msg)
}

// identicalRecentPurchase looks, when no receipt exists, for orders of the customer created
// within the window (the New-Commerce cancellation window by default) whose lines are exactly
// the cart's: offer, quantity, term, billing cycle and, where the spec names it, friendly
// name. Naming lines lets two intended purchases of the same seats be told apart.
func (r *PartnerCartReconciler) identicalRecentPurchase(ctx context.Context, s *scope) phaseResult {
	window := r.Options.IdenticalPurchaseWindow
	if window <= 0 {
		return next()
	}
	cart := s.cart
	pc, res := r.upstream(ctx, s, "list the customer's orders")
	if res.stops() {
		return res
	}
	orders, err := r.recentOrders.list(ctx, pc, cart, s.now)
	if err != nil {
		if partnercenter.Classify(err) == partnercenter.ClassUndecodable {
			// The list answered but cannot be read whole (more pages or bytes than the client
			// reads, or a broken answer). The guard fails closed: without a receipt it is the
			// only thing between a re-created object and a second purchase, and the orders it
			// cannot see are exactly the ones it is for. The list is read again after the
			// shared answer expires, in case the fault passes.
			msg := fmt.Sprintf("The customer's order list could not be read (%s), so the operator cannot check that customer %s "+
				"did not buy exactly these lines within the last %s; nothing is bought until it can. The list is read again every %s. "+
				"If Partner Center shows no such recent purchase, an administrator can run the manager with --identical-purchase-window "+
				"set negative, which turns this check off for every PartnerCart",
				err.Error(), cart.Spec.CustomerID, window, ordersCacheTTL)
			return stall(pcv1alpha1.OrdersUnreadableReason, msg).requeueAfter(ordersCacheTTL)
		}
		return upstreamError(s, "list the customer's orders", err)
	}
	matched, err := r.unrecordedMatches(ctx, orders, cart.Spec.LineItems, s.now.Add(-window))
	if err != nil {
		return retryOn(err)
	} else if len(matched) == 0 {
		return next()
	}
	confirmed, err := r.overriddenOrders(ctx, cart)
	if err != nil {
		return retryOn(err)
	}
	if slices.ContainsFunc(matched, func(id string) bool { return slices.Contains(confirmed, id) }) {
		return next()
	}
	msg := fmt.Sprintf("Customer %s bought exactly these lines within the last %s (orders %s), and no receipt here says by whom; nothing is bought again. "+
		"To buy again on purpose, annotate the object with %s=%s",
		cart.Spec.CustomerID, window, strings.Join(matched, ", "), pcv1alpha1.RepurchaseOfAnnotation, matched[0])
	return stall(pcv1alpha1.IdenticalRecentPurchaseReason, msg)
}

// unrecordedMatches returns the orders matching the cart's lines that no receipt of a live
// PartnerCart records: an order another existing PartnerCart bought knowingly (its receipt,
// written before its status, names it) says nothing about this one. A recorded order is taken out and the match made again
// without it, since the cart's lines may still be covered by other orders; each order's
// receipts are looked up once.
func (r *PartnerCartReconciler) unrecordedMatches(ctx context.Context, orders []partnercenter.Order, lines []pcv1alpha1.CartLineItem, since time.Time) ([]string, error) {
	unrecorded := map[string]bool{} // order ID -> no receipt names it
	for {
		matched := matchingOrders(orders, lines, since)
		recorded := map[string]bool{}
		for _, id := range matched {
			if unrecorded[id] {
				continue
			}
			key, ok := orderLabelKey(id)
			if !ok {
				unrecorded[id] = true
				continue
			}
			var receipts metav1.PartialObjectMetadataList
			receipts.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMapList"))
			// Receipts in the receipt namespace only: a ConfigMap with that label anywhere
			// else is not the manager's record (a tenant can label its own ConfigMaps).
			if err := r.APIReader.List(ctx, &receipts, client.InNamespace(r.Options.ReceiptNamespace), client.HasLabels{key}); err != nil {
				return nil, fmt.Errorf("look for the receipt of order %s: %w", id, err)
			}
			live, err := r.recordedByLiveCart(ctx, receipts.Items)
			if err != nil {
				return nil, err
			}
			if live {
				recorded[id] = true
			} else {
				unrecorded[id] = true
			}
		}
		if len(recorded) == 0 {
			return matched, nil
		}
		orders = slices.DeleteFunc(slices.Clone(orders), func(o partnercenter.Order) bool { return recorded[o.ID] })
	}
}

// identicalInFlight returns the name of another PartnerCart of the namespace (from the cache),
// being deleted (as a rename in Git deletes the old name), whose checkout of exactly this
// content is not settled or bought, or "". Once it is gone its receipt decides; a sibling
// that stays is another intended purchase.
func (r *PartnerCartReconciler) identicalInFlight(ctx context.Context, s *scope) (string, error) {
	var carts pcv1alpha1.PartnerCartList
	if err := r.Client.List(ctx, &carts, client.InNamespace(s.cart.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return "", fmt.Errorf("list the PartnerCarts of namespace %s: %w", s.cart.Namespace, err)
	}
	for _, c := range carts.Items {
		co := c.Status.Checkout
		if c.UID == s.cart.UID || c.DeletionTimestamp.IsZero() || co == nil || co.SpecHash != s.cart.Status.SpecHash {
			continue
		}
		if !co.Outcome.Final() || len(c.Status.Orders) > 0 {
			// Unsettled, or bought with its receipt perhaps not written yet: until it goes,
			// nothing else shows that purchase for certain.
			return c.Name, nil
		}
	}
	return "", nil
}

// cartLive reports whether the PartnerCart of that namespace, name and UID exists and is not
// being deleted (read from the cache).
func (r *PartnerCartReconciler) cartLive(ctx context.Context, namespace, name, uid string) (bool, error) {
	var c pcv1alpha1.PartnerCart
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &c); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return string(c.UID) == uid && c.DeletionTimestamp.IsZero(), nil
}

// withinIdenticalWindow reports whether a checkout started at startedAt (RFC 3339) lies within
// the identical-purchase window before now; one that cannot be read does.
func (r *PartnerCartReconciler) withinIdenticalWindow(startedAt string, now time.Time) bool {
	window := r.Options.IdenticalPurchaseWindow
	if window <= 0 {
		return false
	}
	t, err := time.Parse(time.RFC3339, startedAt)
	return err != nil || !t.Before(now.Add(-window))
}

// recordedByLiveCart reports whether one of receipts records its order for a PartnerCart that
// still exists: that cart bought it knowingly, and it says nothing about this one. An order
// whose buyer is gone (deleted, or renamed in Git, which deletes it and creates this one) may
// be this cart's own earlier purchase, and counts as one.
func (r *PartnerCartReconciler) recordedByLiveCart(ctx context.Context, receipts []metav1.PartialObjectMetadata) (bool, error) {
	live := map[string]map[string]bool{} // namespace -> UIDs of its PartnerCarts not being deleted, listed once
	for _, m := range receipts {
		ns := m.Labels[pcv1alpha1.ReceiptCartNamespaceLabel]
		if ns == "" {
			continue
		}
		uids, ok := live[ns]
		if !ok {
			var carts pcv1alpha1.PartnerCartList
			if err := r.Client.List(ctx, &carts, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
				return false, fmt.Errorf("list the PartnerCarts of namespace %s: %w", ns, err)
			}
			uids = map[string]bool{}
			for _, c := range carts.Items {
				uids[string(c.UID)] = c.DeletionTimestamp.IsZero()
			}
			live[ns] = uids
		}
		if uids[m.Labels[pcv1alpha1.ReceiptCartUIDLabel]] {
			return true, nil
		}
	}
	return false, nil
}

// cartLineKeys counts the cart's lines (add-ons included) by the key orders are matched on;
// named: every line has a friendly name, so names count.
func cartLineKeys(lines []pcv1alpha1.CartLineItem) (want map[string]int, total int, named bool) {
	named = true
	for _, l := range lines {
		named = named && l.FriendlyName != ""
		for _, a := range l.AddonItems {
			named = named && a.FriendlyName != ""
		}
	}
	want = map[string]int{} // line key -> how many of the cart's lines have it
	for _, l := range lines {
		cycle := string(l.BillingCycle)
		want[orderLineKey(cycle, l.CatalogItemID, int(l.Quantity), l.TermDuration, l.FriendlyName, named)]++
		for _, a := range l.AddonItems {
			want[orderLineKey(cycle, a.CatalogItemID, int(a.Quantity), a.TermDuration, a.FriendlyName, named)]++
		}
		total += 1 + len(l.AddonItems)
	}
	return want, total, named
}

// matchingOrders returns the IDs of a set of orders created since `since` whose lines, all
// together, are exactly the cart's lines (add-ons included), or nil if there is none.
//
// Partner Center makes one order per order group, and which lines share a group is its
// choice: lines of different billing cycles or product types land in different orders, and
// lines of the same billing cycle may too (its published multi-type checkout splits an Azure
// plan, reservations and software into four groups). So a purchase of the cart is any set
// of orders, each used whole, whose lines make up the cart's lines: the same multiset of
// billing cycle x offer x quantity x term, and x friendly name when the spec names every
// line (naming lines lets two intended purchases of the same seats be told apart). An
// order's billing cycle is its lines'; an add-on is bought in its parent's order.
//
// Only orders every line of which is one of the cart's lines (no more often than the cart
// has it) can be part of such a set; they are few (a customer's orders of one week that
// buy nothing but this cart's lines), and the exact cover among them is found by a search
// that tries newest orders first, so the set named is the most recent purchase. The search
// is bounded; should the bound ever be reached, every candidate is returned, so that the
// cart stops for a person rather than buy on an unfinished search.
func matchingOrders(orders []partnercenter.Order, lines []pcv1alpha1.CartLineItem, since time.Time) []string {
	want, total, named := cartLineKeys(lines)
	if total == 0 {
		return nil
	}

	var candidates []coverOrder
	for _, o := range orders {
		created := parseTime(o.CreationDate)
		if o.ID == "" || len(o.LineItems) == 0 || created == nil || created.Time.Before(since) {
			continue
		}
		c := coverOrder{id: o.ID, created: created.Time, lines: map[string]int{}}
		fits := true
		for _, ol := range o.LineItems {
			k := orderLineKey(o.BillingCycle, ol.OfferID, ol.Quantity, ol.TermDuration, ol.FriendlyName, named)
			c.lines[k]++
			if c.lines[k] > want[k] {
				fits = false // a line the cart does not have (or has fewer of): not this purchase
				break
			}
		}
		if fits {
			c.size = len(o.LineItems)
			candidates = append(candidates, c)
		}
	}
	slices.SortFunc(candidates, func(a, b coverOrder) int {
		if c := b.created.Compare(a.created); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})

	search := coverSearch{candidates: candidates, used: make([]bool, len(candidates)), budget: maxCoverSteps}
	var ids []string
	switch found := search.cover(want, total); {
	case found:
		for i, c := range candidates {
			if search.used[i] {
				ids = append(ids, c.id)
			}
		}
	case search.budget < 0:
		for _, c := range candidates {
			ids = append(ids, c.id)
		}
	}
	slices.Sort(ids)
	return ids
}

// maxCoverSteps bounds the cover search; a real customer's week of orders needs a handful.
const maxCoverSteps = 100_000

// coverOrder is a candidate order: its lines' keys, counted.
type coverOrder struct {
	id      string
	created time.Time
	lines   map[string]int
	size    int
}

// coverSearch finds candidates whose lines together are exactly the wanted lines.
type coverSearch struct {
	candidates []coverOrder
	used       []bool
	budget     int
}

// cover reports whether unused candidates cover want (left lines in all) exactly, marking
// them used. It branches on one wanted line at a time: some order must hold it.
func (s *coverSearch) cover(want map[string]int, left int) bool {
	if left == 0 {
		return true
	}
	if s.budget--; s.budget < 0 {
		return false
	}
	next := ""
	for k, n := range want {
		if n > 0 && (next == "" || k < next) {
			next = k
		}
	}
	for i, c := range s.candidates {
		if s.used[i] || c.lines[next] == 0 || !fitsIn(c.lines, want) {
			continue
		}
		s.used[i] = true
		for k, n := range c.lines {
			want[k] -= n
		}
		if s.cover(want, left-c.size) {
			return true
		}
		for k, n := range c.lines {
			want[k] += n
		}
		s.used[i] = false
		if s.budget < 0 {
			return false
		}
	}
	return false
}

func fitsIn(lines, want map[string]int) bool {
	for k, n := range lines {
		if want[k] < n {
			return false
		}
	}
	return true
}

// orderLineKey is what identifies a bought line. Billing cycles are compared in any
// spelling ("one_time", "OneTime"), offers in any case, terms in upper case.
func orderLineKey(cycle, offer string, quantity int, term, name string, withName bool) string {
	cycle = strings.NewReplacer("_", "", "-", "", " ", "").Replace(strings.ToLower(cycle))
	key := fmt.Sprintf("%s %s x%d %s", cycle, strings.ToLower(offer), quantity, strings.ToUpper(term))
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
