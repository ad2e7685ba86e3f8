package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

// now is the clock of AGE columns; tests fix it.
var now = time.Now

func getCommand() *command {
	return &command{
		name:     "get",
		synopsis: []string{"[NAME...] [-A] [-o wide|json|yaml]"},
		short:    "carts with quote, approval, checkout, orders, and why a cart stopped",
		long: `Lists the PartnerCarts of the namespace (all namespaces with -A), or the carts named, one
line each: phase (marked "(paused)" while the paused annotation is set), quoted total,
approval, checkout outcome, orders, total and, for a Failed or stalled cart, the reason
(-o wide adds the account, the end of the cancellation window, status.cancellableUntil,
marked "(passed)" once over, and the reason's message). A cancelled cart shows the phase
Cancelling, Cancelled or PartiallyCancelled; 'kubectl partnercart quote NAME' shows its
cancellation in detail. -o json and -o yaml print the objects (a v1 List unless one
NAME is given).`,
		setup: func(fs *flag.FlagSet, o *options) func(context.Context, *env, []string) error {
			o.addAllNamespaces(fs)
			o.addOutput(fs, outputWide, outputJSON, outputYAML)
			return func(ctx context.Context, e *env, names []string) error {
				if err := checkOutput("get", o.output, outputWide, outputJSON, outputYAML); err != nil {
					return err
				}
				return e.withClient(o, func(c client.Client, ns string) error {
					return cmdGet(ctx, c, ns, o.allNamespaces, names, o.output, e.out)
				})
			}
		},
	}
}

func cmdGet(ctx context.Context, c client.Client, ns string, all bool, names []string, format string, out io.Writer) error {
	var carts []pcv1alpha1.PartnerCart
	if len(names) > 0 {
		for _, n := range names {
			var cart pcv1alpha1.PartnerCart
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: n}, &cart); err != nil {
				return err
			}
			carts = append(carts, cart)
		}
	} else {
		var list pcv1alpha1.PartnerCartList
		var opts []client.ListOption
		if !all {
			opts = append(opts, client.InNamespace(ns))
		}
		if err := c.List(ctx, &list, opts...); err != nil {
			return err
		}
		carts = list.Items
	}
	if format == outputJSON || format == outputYAML {
		objs := make([]client.Object, len(carts))
		for i := range carts {
			objs[i] = &carts[i]
		}
		return printObjects(out, format, objs, len(names) == 1)
	}
	if len(carts) == 0 {
		if all {
			printLine(out, "No PartnerCarts found.")
		} else {
			printf(out, "No PartnerCarts found in namespace %s.\n", ns)
		}
		return nil
	}
	printCarts(out, carts, all, format == outputWide)
	return nil
}

// printCarts writes one line per cart: what it quotes, whether and how it is approved, how
// the checkout went, what it bought and, when it stopped, why; wide adds the account and
// the message of that reason.
func printCarts(out io.Writer, carts []pcv1alpha1.PartnerCart, withNamespace, wide bool) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	if withNamespace {
		printText(tw, "NAMESPACE\t")
	}
	printText(tw, "NAME\tCUSTOMER\tPHASE\tQUOTE\tAPPROVAL\tCHECKOUT\tORDERS\tTOTAL\tREASON\tAGE")
	if wide {
		printText(tw, "\tACCOUNT\tCANCELLABLE-UNTIL\tMESSAGE")
	}
	printLine(tw)
	for i := range carts {
		cart := &carts[i]
		if withNamespace {
			printf(tw, "%s\t", cart.Namespace)
		}
		reason, message := stopReason(cart)
		printf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s",
			cart.Name, cart.Spec.CustomerID, phaseColumn(cart), dash(quote(cart)), approvalSummary(cart),
			dash(checkoutOutcome(cart)), orders(cart), dash(total(cart)), dash(reason), age(cart))
		if wide {
			account := ""
			if cart.Spec.AccountRef != nil {
				account = cart.Spec.AccountRef.Name
			}
			printf(tw, "\t%s\t%s\t%s", dash(account), cancellableUntilColumn(cart), dash(oneLine(message)))
		}
		printLine(tw)
	}
	_ = tw.Flush()
}

// paused reports whether the cart carries the paused annotation.
func paused(cart *pcv1alpha1.PartnerCart) bool {
	return cart.Annotations[pcv1alpha1.PausedAnnotation] == "true"
}

// phaseColumn is the phase, marked when the cart is paused.
func phaseColumn(cart *pcv1alpha1.PartnerCart) string {
	p := dash(phase(cart))
	if paused(cart) {
		p += " (paused)"
	}
	return p
}

// stopReason says why a cart stopped: the Stalled condition's reason and message when it is
// True, else, for a Failed cart, the Ready condition's, else the Cancelled condition's while
// it is not True (a cancellation waiting for approval, under way or refused). A cart that
// did not stop has none.
func stopReason(cart *pcv1alpha1.PartnerCart) (reason, message string) {
	if c := apimeta.FindStatusCondition(cart.Status.Conditions, pcv1alpha1.StalledCondition); c != nil && c.Status == metav1.ConditionTrue {
		return c.Reason, c.Message
	}
	if cart.Status.Phase == pcv1alpha1.PhaseFailed {
		if c := apimeta.FindStatusCondition(cart.Status.Conditions, pcv1alpha1.ReadyCondition); c != nil {
			return c.Reason, c.Message
		}
	}
	// A cancellation waiting for its approver, under way or refused in part or whole.
	if c := apimeta.FindStatusCondition(cart.Status.Conditions, pcv1alpha1.CancelledCondition); c != nil && c.Status != metav1.ConditionTrue {
		return c.Reason, c.Message
	}
	return "", ""
}

// oneLine replaces control characters (newlines, tabs, escapes) with spaces, so that free
// text from Partner Center cannot break a table or the terminal.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func phase(cart *pcv1alpha1.PartnerCart) string {
	return string(cart.Status.Phase)
}

// quote is the quoted total with its currency, or "" before Partner Center priced the cart.
func quote(cart *pcv1alpha1.PartnerCart) string {
	st := cart.Status.Cart
	if st == nil || st.QuotedTotal == "" {
		return ""
	}
	return strings.TrimSpace(st.QuotedTotal + " " + st.CurrencyCode)
}

// approvalSummary says whether the cart is approved and whether that approval covers the spec
// the operator hashed: "no", "yes (pinned)", "yes (unpinned)", "yes (stale pin)", with the
// approver when the admission policy recorded one; "denied" (by whom) after a denial.
func approvalSummary(cart *pcv1alpha1.PartnerCart) string {
	a := cart.Spec.Approval
	if a.Denied {
		s := "denied"
		if a.ApprovedBy != "" {
			s += " by " + a.ApprovedBy
		}
		return s
	}
	if !a.Approved {
		return "no"
	}
	s := "yes"
	switch {
	case a.SpecHash == "":
		s += " (unpinned)"
	case cart.Status.SpecHash != "" && a.SpecHash != cart.Status.SpecHash:
		s += " (stale pin)"
	default:
		s += " (pinned)"
	}
	if a.ApprovedBy != "" {
		s += " by " + a.ApprovedBy
	}
	if a.MaxTotalPrice != "" {
		s += " max " + a.MaxTotalPrice
	}
	return s
}

// checkoutOutcome is the current checkout's outcome; Unknown is flagged, as it needs a person.
func checkoutOutcome(cart *pcv1alpha1.PartnerCart) string {
	co := cart.Status.Checkout
	if co == nil {
		return ""
	}
	if co.Outcome == pcv1alpha1.CheckoutUnknown {
		return "Unknown (resolve)"
	}
	return string(co.Outcome)
}

// orders is the number of orders and their IDs, at most three of them.
func orders(cart *pcv1alpha1.PartnerCart) string {
	n := len(cart.Status.Orders)
	if n == 0 {
		return "0"
	}
	ids := make([]string, 0, 3)
	for i, o := range cart.Status.Orders {
		if i == 3 {
			ids = append(ids, "...")
			break
		}
		ids = append(ids, o.ID)
	}
	return fmt.Sprintf("%d (%s)", n, strings.Join(ids, ","))
}

// total is what the orders cost, with the currency of the first order.
func total(cart *pcv1alpha1.PartnerCart) string {
	if cart.Status.Total == "" {
		return ""
	}
	if strings.Contains(cart.Status.Total, " ") {
		return cart.Status.Total // the operator writes "<amount> <currency>"
	}
	cur := ""
	if len(cart.Status.Orders) > 0 {
		cur = cart.Status.Orders[0].CurrencyCode
	}
	return strings.TrimSpace(cart.Status.Total + " " + cur)
}

func age(cart *pcv1alpha1.PartnerCart) string {
	if cart.CreationTimestamp.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now().Sub(cart.CreationTimestamp.Time))
}

// condition returns "Status Reason: message" of a condition, or "".
func condition(cart *pcv1alpha1.PartnerCart, typ string) string {
	c := apimeta.FindStatusCondition(cart.Status.Conditions, typ)
	if c == nil {
		return ""
	}
	s := string(c.Status)
	if c.Reason != "" {
		s += " " + c.Reason
	}
	if c.Message != "" {
		s += ": " + c.Message
	}
	return s
}
