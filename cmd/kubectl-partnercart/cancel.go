package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

type cancelOptions struct {
	lines      string
	reason     string
	force      bool
	printPatch bool
	file       string
}

func cancelCommand() *command {
	return &command{
		name: "cancel",
		synopsis: []string{
			"NAME [--lines 1,2] [--reason TEXT] [--force] [--print-patch]",
			"[NAME] --file FILE [--lines 1,2] [--reason TEXT] [--force]",
		},
		short: "request the cancellation of what the cart bought, within Partner Center's window",
		long: `Merge-patches spec.cancellation: requested true, lineItems the spec line item or add-on ids
of --lines (without --lines every subscription the cart bought), reason with --reason.
Nothing is cancelled until an approver runs 'kubectl partnercart approve --cancellation
NAME'; the API server stamps requestedBy and requestedAt. Changing a request withdraws its
approval. It prints until when Partner Center allows the cancellation
(status.cancellableUntil, the earliest end of the window among the cart's subscriptions).

It refuses, unless --force, a cart that was not bought (no status.checkout or no orders),
line ids that are not in the spec, and a cart whose window has passed. A cancellation the
operator has started (status.cancellation) is always refused: the request is history then.

With --file it edits the PartnerCart in a YAML manifest instead (for a GitOps pull request),
keeping comments, key order and the other documents; the checks are made against the live
cart when the cluster can be read. --print-patch prints the change as YAML instead of
applying it.`,
		setup: func(fs *flag.FlagSet, o *options) func(context.Context, *env, []string) error {
			c := cancelOptions{}
			fs.StringVar(&c.lines, "lines", "", "comma-separated `IDS` of the spec's line items or add-ons to cancel (default: everything the cart bought)")
			fs.StringVar(&c.reason, "reason", "", "why, `TEXT` kept in spec.cancellation.reason for the approver and the receipt")
			fs.BoolVar(&c.force, "force", false, "request despite a cart not bought, unknown line ids or a closed window")
			fs.BoolVar(&c.printPatch, "print-patch", false, "print the spec.cancellation change as YAML (for a GitOps pull request) instead of applying it")
			fs.StringVar(&c.file, "file", "", "edit the PartnerCart in this YAML `FILE` instead of the cluster")
			return func(ctx context.Context, e *env, args []string) error {
				ids, err := parseLineIDs(c.lines)
				if err != nil {
					return usageError("cancel", "%v", err)
				}
				if len(c.reason) > maxReasonLength {
					return usageError("cancel", "--reason is %d bytes long; at most %d are kept", len(c.reason), maxReasonLength)
				}
				if c.file != "" {
					if c.printPatch {
						return usageError("cancel", "--print-patch and --file do not go together")
					}
					if len(args) > 1 {
						return usageError("cancel", "takes at most one NAME with --file, got %d arguments", len(args))
					}
					return e.editCancellationFile(ctx, o, c.file, strings.Join(args, ""), "cancel", func(doc *manifestDoc, live *pcv1alpha1.PartnerCart) ([]approvalField, []string, string, error) {
						return cancelFileFields(doc, live, ids, c, e.errOut)
					})
				}
				name, err := oneName("cancel", args)
				if err != nil {
					return err
				}
				return e.withClient(o, func(cl client.Client, ns string) error {
					return cmdCancel(ctx, cl, ns, name, ids, c, e.out, e.errOut)
				})
			}
		},
	}
}

// parseLineIDs reads --lines: comma-separated line item ids, each once.
func parseLineIDs(s string) ([]int32, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var ids []int32
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(f), "+"))
		n, err := strconv.ParseInt(f, 10, 32)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("--lines %q: %q is not a line item id", s, f)
		}
		if !slices.Contains(ids, int32(n)) {
			ids = append(ids, int32(n))
		}
	}
	return ids, nil
}

// specLines is every line item and add-on of the spec by id.
func specLines(cart *pcv1alpha1.PartnerCart) map[int32]pcv1alpha1.LineItemFields {
	m := map[int32]pcv1alpha1.LineItemFields{}
	for _, l := range cart.Spec.LineItems {
		m[l.ID] = l.LineItemFields
		for _, a := range l.AddonItems {
			m[a.ID] = a.LineItemFields
		}
	}
	return m
}

// bought reports whether the cart checked out and recorded orders.
func bought(cart *pcv1alpha1.PartnerCart) bool {
	return cart.Status.Checkout != nil && len(cart.Status.Orders) > 0
}

// cancellationWindow is "cancellable until <time> (in 3d4h)", "cancellable until <time>
// (passed 2h ago)", or "" when the operator has not read the window.
func cancellationWindow(cart *pcv1alpha1.PartnerCart) string {
	until := cart.Status.CancellableUntil
	if until == nil {
		return ""
	}
	s := "cancellable until " + until.UTC().Format(time.RFC3339)
	if d := until.Sub(now()); d > 0 {
		s += " (in " + duration.HumanDuration(d) + ")"
	} else {
		s += " (passed " + duration.HumanDuration(-d) + " ago)"
	}
	return s
}

// windowPassed reports whether status.cancellableUntil is in the past.
func windowPassed(cart *pcv1alpha1.PartnerCart) bool {
	return cart.Status.CancellableUntil != nil && !now().Before(cart.Status.CancellableUntil.Time)
}

// cancelStarted refuses a cart whose cancellation the operator has taken on: the request
// cannot change any more.
func cancelStarted(cart *pcv1alpha1.PartnerCart, what string) error {
	st := cart.Status.Cancellation
	if st == nil {
		return nil
	}
	return fmt.Errorf("PartnerCart %s/%s: the operator started its cancellation at %s (phase %s): nothing to %s; the request is history now ('kubectl partnercart quote %s' shows each subscription's outcome)",
		cart.Namespace, cart.Name, st.StartedAt.UTC().Format(time.RFC3339), dash(phase(cart)), what, cart.Name)
}

// cancelProblems says why a cancellation of ids (none: everything) would not be carried out:
// the cart bought nothing, a line id is not in the spec, the window has passed.
func cancelProblems(cart *pcv1alpha1.PartnerCart, ids []int32) []string {
	var problems []string
	if !bought(cart) {
		problems = append(problems, fmt.Sprintf("the cart was not bought (no status.checkout or no orders, phase %s): there is nothing to cancel, and a requested cancellation keeps it from ever being bought",
			dash(phase(cart))))
	}
	lines := specLines(cart)
	var unknown []string
	for _, id := range ids {
		if _, ok := lines[id]; !ok {
			unknown = append(unknown, fmt.Sprint(id))
		}
	}
	if len(unknown) > 0 {
		known := make([]string, 0, len(lines))
		for _, id := range slices.Sorted(maps.Keys(lines)) {
			known = append(known, fmt.Sprint(id))
		}
		problems = append(problems, fmt.Sprintf("line %s not in the spec (its line items and add-ons are %s): the operator would mark the request CancellationInvalid",
			strings.Join(unknown, ", "), dash(strings.Join(known, ", "))))
	}
	if windowPassed(cart) {
		problems = append(problems, fmt.Sprintf("the cancellation window has passed: status.cancellableUntil is %s (%s ago); Partner Center refuses to cancel now",
			cart.Status.CancellableUntil.UTC().Format(time.RFC3339), duration.HumanDuration(now().Sub(cart.Status.CancellableUntil.Time))))
	}
	return problems
}

// refuseOrWarnTo refuses with every problem, or, with --force, warns of them; verbing names
// what is refused ("requesting the cancellation of").
func refuseOrWarnTo(cart *pcv1alpha1.PartnerCart, problems []string, force bool, errOut io.Writer, verbing, verb string) error {
	if len(problems) == 0 {
		return nil
	}
	if force {
		for _, p := range problems {
			printf(errOut, "warning: %s\n", p)
		}
		return nil
	}
	msg := fmt.Sprintf("not %s PartnerCart %s/%s:", verbing, cart.Namespace, cart.Name)
	for _, p := range problems {
		msg += "\n  - " + p
	}
	return fmt.Errorf("%s\nto %s anyway, add --force", msg, verb)
}

// linesText is what a request names: "lines 1, +2" or "every subscription".
func linesText(ids []int32) string {
	if len(ids) == 0 {
		return "every subscription the cart bought"
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	word := "line"
	if len(ids) > 1 {
		word = "lines"
	}
	return word + " " + strings.Join(s, ", ")
}

// cancellationPatch requests the cancellation: requested, the line ids (a null removes
// earlier ones: everything), the reason (a null removes an earlier one). The stamps are
// the API server's.
func cancellationPatch(cart *pcv1alpha1.PartnerCart, ids []int32, reason, resourceVersion string) map[string]any {
	c := map[string]any{"requested": true}
	old := cart.Spec.Cancellation
	if len(ids) > 0 {
		c["lineItems"] = ids
	} else if old != nil && len(old.LineItems) > 0 {
		c["lineItems"] = nil
	}
	if reason != "" {
		c["reason"] = reason
	} else if old != nil && old.Reason != "" {
		c["reason"] = nil
	}
	patch := map[string]any{"spec": map[string]any{"cancellation": c}}
	if resourceVersion != "" {
		patch["metadata"] = map[string]any{"resourceVersion": resourceVersion}
	}
	return patch
}

func cmdCancel(ctx context.Context, c client.Client, ns, name string, ids []int32, o cancelOptions, out, errOut io.Writer) error {
	var cart pcv1alpha1.PartnerCart
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &cart); err != nil {
		return err
	}
	if err := cancelStarted(&cart, "request"); err != nil {
		return err
	}
	if err := refuseOrWarnTo(&cart, cancelProblems(&cart, ids), o.force, errOut, "requesting the cancellation of", "request it"); err != nil {
		return err
	}
	if o.printPatch {
		return printCancellationPatch(&cart, cancellationPatch(&cart, ids, o.reason, ""), out,
			fmt.Sprintf("# Request the cancellation of %s of PartnerCart %s/%s", linesText(ids), cart.Namespace, cart.Name),
			"requestedBy and requestedAt are stamped by the API server when this is applied; an approver then approves it.")
	}
	wasApproved := cart.Spec.Cancellation != nil && cart.Spec.Cancellation.Approved
	if err := patchCart(ctx, c, &cart, cancellationPatch(&cart, ids, o.reason, cart.ResourceVersion), "requesting its cancellation"); err != nil {
		return err
	}
	details := []string{linesText(ids)}
	if o.reason != "" {
		details = append(details, "reason: "+oneLine(o.reason))
	}
	if cc := cart.Spec.Cancellation; cc != nil && cc.RequestedBy != "" {
		details = append(details, "by "+cc.RequestedBy)
	}
	msg := fmt.Sprintf("partnercart %s/%s cancellation requested (%s)", ns, name, strings.Join(details, ", "))
	if w := cancellationWindow(&cart); w != "" {
		msg += "; " + w
	}
	printLine(out, msg)
	if wasApproved {
		printLine(out, "The earlier approval of the cancellation is withdrawn by the change.")
	}
	printf(out, "Nothing is cancelled until an approver runs 'kubectl partnercart approve --cancellation %s'.\n", name)
	return nil
}

// patchCart merge-patches cart with p; a conflict says the cart changed since it was read.
func patchCart(ctx context.Context, c client.Client, cart *pcv1alpha1.PartnerCart, p map[string]any, doing string) error {
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if err := c.Patch(ctx, cart, client.RawPatch(types.MergePatchType, data)); err != nil {
		if apierrors.IsConflict(err) {
			return fmt.Errorf("PartnerCart %s/%s changed while %s; run the command again: %w", cart.Namespace, cart.Name, doing, err)
		}
		return err
	}
	return nil
}

// printCancellationPatch prints the spec.cancellation change for a GitOps pull request.
func printCancellationPatch(cart *pcv1alpha1.PartnerCart, p map[string]any, out io.Writer, head, stamps string) error {
	c := p["spec"].(map[string]any)["cancellation"].(map[string]any)
	var remove []string
	for _, k := range []string{"lineItems", "reason"} {
		if v, ok := c[k]; ok && v == nil {
			delete(c, k)
			remove = append(remove, "spec.cancellation."+k)
		}
	}
	body, err := yaml.Marshal(map[string]any{
		"apiVersion": pcv1alpha1.GroupVersion.String(),
		"kind":       "PartnerCart",
		"metadata":   map[string]any{"name": cart.Name, "namespace": cart.Namespace},
		"spec":       p["spec"],
	})
	if err != nil {
		return err
	}
	if w := cancellationWindow(cart); w != "" {
		head += " (" + w + ")"
	}
	head += ".\n"
	if len(remove) > 0 {
		head += "# Also remove " + strings.Join(remove, " and ") + " from the manifest.\n"
	}
	head += "# " + stamps + "\n"
	_, err = out.Write(append([]byte(head), body...))
	return err
}

// editCancellationFile edits spec.cancellation of the PartnerCart of a manifest: fields
// gives what to set and remove and a summary, after its checks against the live cart (nil
// when the cluster cannot be read).
func (e *env) editCancellationFile(ctx context.Context, o *options, file, name, verb string,
	fields func(doc *manifestDoc, live *pcv1alpha1.PartnerCart) (set []approvalField, remove []string, summary string, err error)) error {
	src, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	m, err := parseManifest(src)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	doc, err := m.find(name, o.namespace)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	live, _, ns, liveErr := e.readLive(ctx, o, &doc.cart)
	if live != nil {
		if err := cancelStarted(live, verb); err != nil {
			return err
		}
	} else {
		printf(e.errOut, "warning: PartnerCart %s/%s was not read from the cluster (%v): the checks against the live cart were not made\n", ns, doc.cart.Name, liveErr)
	}
	set, remove, summary, err := fields(doc, live)
	if err != nil {
		return err
	}
	edited, err := m.editSection(doc, "cancellation", set, remove)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if err := writeFileInPlace(file, edited); err != nil {
		return err
	}
	printLine(e.out, file+": PartnerCart "+ns+"/"+doc.cart.Name+" "+summary)
	return nil
}

// cancelFileFields are the spec.cancellation fields cancel --file sets and removes.
func cancelFileFields(doc *manifestDoc, live *pcv1alpha1.PartnerCart, ids []int32, o cancelOptions, errOut io.Writer) ([]approvalField, []string, string, error) {
	cart := &doc.cart
	if live != nil {
		cart = live
		if err := refuseOrWarnTo(live, cancelProblems(live, ids), o.force, errOut, "requesting the cancellation of", "request it"); err != nil {
			return nil, nil, "", err
		}
	} else if unknown := unknownLines(&doc.cart, ids); len(unknown) > 0 {
		// The manifest's spec is the one that will be applied: its line ids are checked.
		if err := refuseOrWarnTo(&doc.cart, unknown, o.force, errOut, "requesting the cancellation of", "request it"); err != nil {
			return nil, nil, "", err
		}
	}
	set := []approvalField{{key: "requested", text: "true", value: true}}
	var remove []string
	if len(ids) > 0 {
		texts, values := make([]string, len(ids)), make([]any, len(ids))
		for i, id := range ids {
			texts[i], values[i] = fmt.Sprint(id), int(id)
		}
		set = append(set, approvalField{key: "lineItems", text: "[" + strings.Join(texts, ", ") + "]", value: values})
	} else {
		remove = append(remove, "lineItems")
	}
	if o.reason != "" {
		set = append(set, approvalField{key: "reason", text: yamlString(o.reason), value: o.reason})
	} else {
		remove = append(remove, "reason")
	}
	if doc.hasSectionKey("cancellation", "approved") {
		set = append(set, approvalField{key: "approved", text: "false", value: false}) // a changed request needs a new approval
	}
	summary := "cancellation requested (" + linesText(ids)
	if o.reason != "" {
		summary += ", reason: " + oneLine(o.reason)
	}
	summary += ")"
	if w := cancellationWindow(cart); w != "" {
		summary += "; " + w
	}
	return set, remove, summary + "; the API server stamps requestedBy and requestedAt when the change is applied", nil
}

// unknownLines is the problem of line ids the cart's spec does not have.
func unknownLines(cart *pcv1alpha1.PartnerCart, ids []int32) []string {
	var problems []string
	for _, p := range cancelProblems(cart, ids) {
		if strings.HasPrefix(p, "line ") {
			problems = append(problems, p)
		}
	}
	return problems
}

// errNoCancellation: there is no requested cancellation to approve or withdraw.
func errNoCancellation(cart *pcv1alpha1.PartnerCart, what string) error {
	return fmt.Errorf("PartnerCart %s/%s has no requested cancellation (spec.cancellation.requested is not true): nothing to %s; 'kubectl partnercart cancel %s' requests one",
		cart.Namespace, cart.Name, what, cart.Name)
}
