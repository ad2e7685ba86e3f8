package harness

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	"github.com/partnercart/partnercart-operator/internal/pcsim"
)

// BoughtLine is one line as bought (an order line) or as approved (a spec line): what the
// money checks compare.
type BoughtLine struct {
	Offer        string // the catalog item ID (an order line's offerId)
	Quantity     int
	BillingCycle string // lower case
	Term         string
}

func (l BoughtLine) String() string {
	return fmt.Sprintf("%s x%d %s %s", l.Offer, l.Quantity, l.BillingCycle, l.Term)
}

// Purchase is everything Partner Center sold from one upstream cart: all of its orders.
type Purchase struct {
	CartID string
	Orders []string
	Lines  []BoughtLine
}

// Purchases groups the orders pcsim created (records, from /_pcsim/orders) by upstream cart,
// with their lines (detailed, from the customers' order lists). An order whose lines are
// missing from detailed is an error: its content cannot be checked.
func Purchases(records []pcsim.OrderRecord, detailed []partnercenter.Order) ([]Purchase, error) {
	byID := make(map[string]*partnercenter.Order, len(detailed))
	for i := range detailed {
		byID[detailed[i].ID] = &detailed[i]
	}
	byCart := map[string]*Purchase{}
	var order []string
	var missing []string
	for _, r := range records {
		p := byCart[r.CartID]
		if p == nil {
			p = &Purchase{CartID: r.CartID}
			byCart[r.CartID] = p
			order = append(order, r.CartID)
		}
		p.Orders = append(p.Orders, r.OrderID)
		o := byID[r.OrderID]
		if o == nil {
			missing = append(missing, r.OrderID)
			continue
		}
		for _, li := range o.LineItems {
			p.Lines = append(p.Lines, BoughtLine{
				Offer: li.OfferID, Quantity: li.Quantity, BillingCycle: strings.ToLower(o.BillingCycle), Term: li.TermDuration,
			})
		}
	}
	out := make([]Purchase, 0, len(order))
	for _, id := range order {
		out = append(out, *byCart[id])
	}
	if len(missing) > 0 {
		return out, fmt.Errorf("the lines of orders %v are not in the customers' order lists", missing)
	}
	return out, nil
}

// ApprovedLines is what a spec approves to buy: each line and add-on.
func ApprovedLines(spec *pcv1alpha1.PartnerCartSpec) []BoughtLine {
	var out []BoughtLine
	add := func(f *pcv1alpha1.LineItemFields) {
		out = append(out, BoughtLine{
			Offer: f.CatalogItemID, Quantity: int(f.Quantity), BillingCycle: strings.ToLower(string(f.BillingCycle)), Term: f.TermDuration,
		})
	}
	for i := range spec.LineItems {
		add(&spec.LineItems[i].LineItemFields)
		for j := range spec.LineItems[i].AddonItems {
			add(&spec.LineItems[i].AddonItems[j].LineItemFields)
		}
	}
	return out
}

// ContentDiff says how bought differs from approved, or "" when every bought line is an
// approved line (each approved line bought at most once). Buying fewer lines than approved
// is not a difference: an order group may fail at checkout.
func ContentDiff(approved, bought []BoughtLine) string {
	left := slices.Clone(approved)
	var extra []string
	for _, b := range bought {
		i := slices.Index(left, b)
		if i < 0 {
			extra = append(extra, b.String())
			continue
		}
		left = slices.Delete(left, i, i+1)
	}
	if len(extra) == 0 {
		return ""
	}
	want := make([]string, 0, len(approved))
	for _, a := range approved {
		want = append(want, a.String())
	}
	return fmt.Sprintf("bought %s, which the approved spec [%s] does not hold", strings.Join(extra, ", "), strings.Join(want, "; "))
}

// Revocation is a revoke of spec.approval.approved that the API server acknowledged.
type Revocation struct {
	// At is when the API server's answer arrived: the revoke took effect no later.
	At time.Time
	// ResourceVersion is the object's resourceVersion in that answer.
	ResourceVersion string
	// IntentSeen: the object in that answer already had status.checkout, an intent persisted
	// while approved, which may complete.
	IntentSeen bool
	// LastIntent is the highest intent number in that answer's status (checkout and history),
	// 0 for none: an intent numbered above it was persisted after the revoke.
	LastIntent int32
}

// RevocationOf describes a revoke from the object the API server returned for it.
func RevocationOf(stored *pcv1alpha1.PartnerCart, at time.Time) Revocation {
	r := Revocation{At: at, ResourceVersion: stored.ResourceVersion, IntentSeen: stored.Status.Checkout != nil}
	for _, co := range intentsOf(stored) {
		r.LastIntent = max(r.LastIntent, intentNumber(co))
	}
	return r
}

// Audit is what the money checks read once a run is over.
type Audit struct {
	// Objects is every PartnerCart object of the run, live or deleted, in its last state.
	Objects []pcv1alpha1.PartnerCart
	// Approved is the spec the harness approved, by namespace/name.
	Approved map[string]*pcv1alpha1.PartnerCartSpec
	// Revoked is the acknowledged approval revoke of an object, by UID.
	Revoked map[types.UID]Revocation
	// Receipts are the receipt ConfigMaps.
	Receipts []corev1.ConfigMap
	// Purchases is what Partner Center sold, per upstream cart.
	Purchases []Purchase
}

// intentRef is one checkout intent (current or in history) of one object.
type intentRef struct {
	obj *pcv1alpha1.PartnerCart
	co  *pcv1alpha1.CheckoutStatus
}

func (r intentRef) key() string { return r.obj.Namespace + "/" + r.obj.Name }

func intentsOf(c *pcv1alpha1.PartnerCart) []*pcv1alpha1.CheckoutStatus {
	var out []*pcv1alpha1.CheckoutStatus
	if c.Status.Checkout != nil {
		out = append(out, c.Status.Checkout)
	}
	for i := range c.Status.CheckoutHistory {
		out = append(out, &c.Status.CheckoutHistory[i])
	}
	return out
}

func intentNumber(co *pcv1alpha1.CheckoutStatus) int32 { return max(co.Intent, 1) }

// intentsByCart indexes every recorded intent by the upstream cart it checks out. An object
// naming one cart in several intents counts once.
func (a *Audit) intentsByCart() map[string][]intentRef {
	out := map[string][]intentRef{}
	for i := range a.Objects {
		obj := &a.Objects[i]
		seen := map[string]bool{}
		for _, co := range intentsOf(obj) {
			if !seen[co.CartID] {
				seen[co.CartID] = true
				out[co.CartID] = append(out[co.CartID], intentRef{obj, co})
			}
		}
	}
	return out
}

// UnapprovedPurchases lists, one message each, the purchases nobody approved: content that
// is not in the spec the harness approved, an intent started after the acknowledged revoke
// of its object's approval (or numbered above what the revoke saw), or no intent recorded by
// any object at all.
func (a *Audit) UnapprovedPurchases() []string {
	intents := a.intentsByCart()
	var out []string
	for _, p := range a.Purchases {
		if len(p.Orders) == 0 {
			continue
		}
		owners := intents[p.CartID]
		var why []string
		if len(owners) == 0 {
			why = append(why, "no PartnerCart recorded a checkout intent for it")
		}
		for _, o := range owners {
			why = append(why, a.unapprovedBy(o, &p)...)
		}
		if len(why) > 0 {
			out = append(out, fmt.Sprintf("upstream cart %s (orders %v): %s", p.CartID, p.Orders, strings.Join(why, "; ")))
		}
	}
	return out
}

// unapprovedBy says why the purchase p, made through intent o, was not approved, if it was not.
func (a *Audit) unapprovedBy(o intentRef, p *Purchase) []string {
	var why []string
	spec := a.Approved[o.key()]
	if spec == nil {
		why = append(why, fmt.Sprintf("the harness approved no spec for %s", o.key()))
	} else if d := ContentDiff(ApprovedLines(spec), p.Lines); d != "" {
		why = append(why, fmt.Sprintf("%s %s", o.key(), d))
	}
	if rev, ok := a.Revoked[o.obj.UID]; ok {
		why = append(why, afterRevoke(o, rev)...)
	}
	return why
}

// afterRevoke says how intent o comes after the acknowledged revoke rev of its object.
func afterRevoke(o intentRef, rev Revocation) []string {
	var why []string
	if o.co.StartedAt.After(rev.At) {
		why = append(why, fmt.Sprintf("%s intent %d started at %s, after its approval was revoked (acknowledged at %s, resourceVersion %s)",
			o.key(), intentNumber(o.co), o.co.StartedAt.UTC().Format(time.RFC3339), rev.At.UTC().Format(time.RFC3339Nano), rev.ResourceVersion))
	}
	if n := intentNumber(o.co); n > rev.LastIntent {
		why = append(why, fmt.Sprintf("%s intent %d was persisted after its approval was revoked (the revoke, resourceVersion %s, saw %s)",
			o.key(), n, rev.ResourceVersion, seenIntents(rev)))
	}
	return why
}

func seenIntents(rev Revocation) string {
	if rev.LastIntent == 0 {
		return "no intent"
	}
	return fmt.Sprintf("intents up to %d", rev.LastIntent)
}

// IntentsAfterRevoke lists the checkout intents, bought or not, persisted after their
// object's approval was revoked: each is a checkout call made without approval.
func (a *Audit) IntentsAfterRevoke() []string {
	var out []string
	for i := range a.Objects {
		obj := &a.Objects[i]
		rev, ok := a.Revoked[obj.UID]
		if !ok {
			continue
		}
		for _, co := range intentsOf(obj) {
			for _, w := range afterRevoke(intentRef{obj, co}, rev) {
				out = append(out, fmt.Sprintf("%s (cart %s, outcome %s)", w, co.CartID, co.Outcome))
			}
		}
	}
	return out
}

// Repurchases lists, one message per namespace/name, the names bought from more than one
// upstream cart, and returns how many purchases are repeats (a name bought from n carts
// counts n-1). A purchase belongs to the names of the objects whose intents name its cart and
// of the receipts that record it, so a deleted object's purchase still counts.
func (a *Audit) Repurchases() (int, []string) {
	intents := a.intentsByCart()
	receiptNames := map[string][]string{}
	for _, r := range a.Receipts {
		// The cart's namespace, not the receipt's (receipts live in the receipt namespace).
		receiptNames[r.Data["cartId"]] = append(receiptNames[r.Data["cartId"]], r.Labels[ReceiptCartNamespaceLabel]+"/"+receiptCartName(&r))
	}
	carts := map[string]map[string]bool{} // namespace/name -> upstream carts with orders
	for _, p := range a.Purchases {
		if len(p.Orders) == 0 {
			continue
		}
		names := slices.Clone(receiptNames[p.CartID])
		for _, o := range intents[p.CartID] {
			names = append(names, o.key())
		}
		for _, n := range names {
			if carts[n] == nil {
				carts[n] = map[string]bool{}
			}
			carts[n][p.CartID] = true
		}
	}
	count := 0
	var out []string
	for name, set := range carts {
		if len(set) < 2 {
			continue
		}
		count += len(set) - 1
		ids := make([]string, 0, len(set))
		for id := range set {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		out = append(out, fmt.Sprintf("%s was bought %d times, from upstream carts %v", name, len(set), ids))
	}
	sort.Strings(out)
	return count, out
}

// receiptCartName is the PartnerCart name a receipt records (its label may be a hash).
func receiptCartName(r *corev1.ConfigMap) string {
	var rec struct {
		PartnerCart string `json:"partnerCart"`
	}
	if err := json.Unmarshal([]byte(r.Data["receipt.json"]), &rec); err == nil && rec.PartnerCart != "" {
		return rec.PartnerCart
	}
	return r.Labels["partnercenter.partnercart.dev/cart"]
}
