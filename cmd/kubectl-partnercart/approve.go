package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"regexp"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

type approveOptions struct {
	pin        bool
	maxTotal   string
	printPatch bool
	reason     string
	force      bool
	// file, with specHash when the cluster cannot be read: edit a manifest instead.
	file     string
	specHash string
	// cancellation approves the requested spec.cancellation instead of the purchase.
	cancellation bool
}

func approveCommand() *command {
	return &command{
		name: "approve",
		synopsis: []string{
			"NAME [--pin=false] [--max-total AMOUNT] [--reason TEXT] [--force] [--print-patch]",
			"[NAME] --file FILE [--spec-hash HASH] [--pin=false] [--max-total AMOUNT] [--reason TEXT] [--force]",
			"--cancellation NAME [--force] [--print-patch]",
			"--cancellation [NAME] --file FILE [--force]",
		},
		short: "approve the cart, pinned to the spec hash that was quoted (in the cluster or in a manifest)",
		long: `Merge-patches spec.approval: approved true, denied false (clearing a denial), specHash set to
status.specHash (--pin, the default: a later change of the line items needs a new approval),
maxTotalPrice with --max-total, reason with --reason. The patch carries the resourceVersion
that was read, so a cart changed in between is not approved. The API server stamps
approvedBy and approvedAt.

It refuses, unless --force, a cart without a quote, a stale quote (not of the current spec),
a stalled cart, a price limit below the quoted total, and a limit or quote above the
maxTotalPricePerCart of the cart's PartnerCenterAccount. Carts already checking out or
checked out are always refused.

With --file it edits the PartnerCart in a YAML manifest instead (for a GitOps pull request),
keeping comments, key order and the other documents: the specHash comes from the live cart
when the cluster can be read (the same checks then apply), or from --spec-hash.
--print-patch prints the change as YAML instead of applying it.

With --cancellation it approves the cart's requested cancellation instead (spec.cancellation,
see 'kubectl partnercart cancel'): it shows the lines and the subscriptions of
status.orders that will be cancelled and until when Partner Center allows it, then sets
spec.cancellation.approved. It refuses a cart without a requested cancellation and one
whose cancellation the operator has started, and, unless --force, a cart that was not
bought, line ids not in the spec and a window that has passed. Like the purchase approval
it needs the verb approve (or approve-own for one's own request) on partnercarts/approval;
the API server stamps approvedBy and approvedAt.`,
		setup: func(fs *flag.FlagSet, o *options) func(context.Context, *env, []string) error {
			a := approveOptions{}
			fs.BoolVar(&a.pin, "pin", true, "pin the approval to the spec hash in status (what was quoted); --pin=false approves whatever the spec becomes")
			fs.StringVar(&a.maxTotal, "max-total", "", "refuse the checkout if the fresh quote's total exceeds this decimal `AMOUNT`")
			fs.StringVar(&a.reason, "reason", "", "the approver's word on the decision, `TEXT` kept in spec.approval.reason")
			fs.BoolVar(&a.force, "force", false, "approve despite a missing or stale quote, a stall or a price limit the quote exceeds")
			fs.BoolVar(&a.printPatch, "print-patch", false, "print the spec.approval change as YAML (for a GitOps pull request) instead of applying it")
			fs.StringVar(&a.file, "file", "", "edit the PartnerCart in this YAML `FILE` instead of the cluster")
			fs.StringVar(&a.specHash, "spec-hash", "", "with --file: the `HASH` to pin to when the cluster cannot be read (kubectl partnercart quote shows it)")
			fs.BoolVar(&a.cancellation, "cancellation", false, "approve the requested cancellation (spec.cancellation) instead of the purchase")
			return func(ctx context.Context, e *env, args []string) error {
				if a.cancellation {
					return e.approveCancellation(ctx, fs, o, a, args)
				}
				if a.file != "" {
					if a.printPatch {
						return usageError("approve", "--print-patch and --file do not go together")
					}
					if len(args) > 1 {
						return usageError("approve", "takes at most one NAME with --file, got %d arguments", len(args))
					}
					return e.editFile(ctx, o, decision{approve: &a}, strings.Join(args, ""))
				}
				if a.specHash != "" {
					return usageError("approve", "--spec-hash goes with --file (in the cluster the pin is status.specHash)")
				}
				name, err := oneName("approve", args)
				if err != nil {
					return err
				}
				return e.withClient(o, func(c client.Client, ns string) error {
					return cmdApprove(ctx, c, ns, name, a, e.out, e.errOut)
				})
			}
		},
	}
}

// approveCancellation runs approve --cancellation: the purchase's flags do not apply.
func (e *env) approveCancellation(ctx context.Context, fs *flag.FlagSet, o *options, a approveOptions, args []string) error {
	var wrong []string
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "pin" || f.Name == "max-total" || f.Name == "spec-hash" || f.Name == "reason" {
			wrong = append(wrong, dashes(f.Name))
		}
	})
	if len(wrong) > 0 {
		return usageError("approve", "%s do(es) not go with --cancellation (spec.cancellation has only approved)", strings.Join(wrong, ", "))
	}
	if a.file != "" {
		if a.printPatch {
			return usageError("approve", "--print-patch and --file do not go together")
		}
		if len(args) > 1 {
			return usageError("approve", "takes at most one NAME with --file, got %d arguments", len(args))
		}
		return e.editCancellationFile(ctx, o, a.file, strings.Join(args, ""), "approve", func(doc *manifestDoc, live *pcv1alpha1.PartnerCart) ([]approvalField, []string, string, error) {
			return approveCancellationFileFields(doc, live, a.force, e.out, e.errOut)
		})
	}
	name, err := oneName("approve", args)
	if err != nil {
		return err
	}
	return e.withClient(o, func(c client.Client, ns string) error {
		return cmdApproveCancellation(ctx, c, ns, name, a, e.out, e.errOut)
	})
}

// maxTotalPattern is the CRD's pattern of spec.approval.maxTotalPrice: a positive decimal.
var maxTotalPattern = regexp.MustCompile(`^(0*[1-9][0-9]*(\.[0-9]+)?|0*\.[0-9]*[1-9][0-9]*)$`)

// specHashPattern is the CRD's pattern of spec.approval.specHash.
var specHashPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// maxReasonLength is the CRD's limit of spec.approval.reason.
const maxReasonLength = 1024

func (o approveOptions) validate() error {
	if o.maxTotal != "" && !maxTotalPattern.MatchString(o.maxTotal) {
		return fmt.Errorf("--max-total %q is not a positive decimal amount (e.g. 1250.00)", o.maxTotal)
	}
	if len(o.reason) > maxReasonLength {
		return fmt.Errorf("--reason is %d bytes long; at most %d are kept", len(o.reason), maxReasonLength)
	}
	if o.specHash != "" && !specHashPattern.MatchString(o.specHash) {
		return fmt.Errorf("--spec-hash %q is not sha256:<64 hex digits>", o.specHash)
	}
	return nil
}

// approvalPatch is the merge patch that approves cart: approved, denied cleared, the pinned
// spec hash (or none: a null removes an earlier pin), the price limit and the reason when
// given (a null removes the reason of an earlier decision). The approver and the time are
// not in it: the admission policy stamps them. With resourceVersion set, the API server
// applies it only to the object that was read, so the approval is for what was shown.
func approvalPatch(cart *pcv1alpha1.PartnerCart, o approveOptions, resourceVersion string) (map[string]any, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	approval := map[string]any{"approved": true, "denied": false}
	if o.pin {
		if cart.Status.SpecHash == "" {
			return nil, fmt.Errorf("PartnerCart %s has no status.specHash yet (the operator has not seen it): wait, or approve with --pin=false", cart.Name)
		}
		approval["specHash"] = cart.Status.SpecHash
	} else if cart.Spec.Approval.SpecHash != "" {
		approval["specHash"] = nil
	}
	if o.maxTotal != "" {
		approval["maxTotalPrice"] = o.maxTotal
	}
	if o.reason != "" {
		approval["reason"] = o.reason
	} else if cart.Spec.Approval.Reason != "" {
		approval["reason"] = nil
	}
	patch := map[string]any{"spec": map[string]any{"approval": approval}}
	if resourceVersion != "" {
		patch["metadata"] = map[string]any{"resourceVersion": resourceVersion}
	}
	return patch, nil
}

// printablePatch is the change for a GitOps pull request: the object's identity and the
// spec.approval fields to merge into its manifest (also usable as a kustomize patch).
func printablePatch(cart *pcv1alpha1.PartnerCart, o approveOptions) ([]byte, error) {
	p, err := approvalPatch(cart, o, "")
	if err != nil {
		return nil, err
	}
	approval := p["spec"].(map[string]any)["approval"].(map[string]any)
	var remove []string
	for _, k := range []string{"specHash", "reason"} {
		if v, ok := approval[k]; ok && v == nil {
			delete(approval, k)
			remove = append(remove, "spec.approval."+k)
		}
	}
	doc := map[string]any{
		"apiVersion": pcv1alpha1.GroupVersion.String(),
		"kind":       "PartnerCart",
		"metadata":   map[string]any{"name": cart.Name, "namespace": cart.Namespace},
		"spec":       p["spec"],
	}
	body, err := yaml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	head := fmt.Sprintf("# Approve PartnerCart %s/%s", cart.Namespace, cart.Name)
	if q := quote(cart); q != "" {
		head += " (quoted " + q + ")"
	}
	head += ".\n"
	if len(remove) > 0 {
		head += "# Also remove " + strings.Join(remove, " and ") + " from the manifest.\n"
	}
	head += "# approvedBy and approvedAt are stamped by the API server when this is applied.\n"
	return append([]byte(head), body...), nil
}

// decimalPattern is a decimal amount as Partner Center and the API write them.
var decimalPattern = regexp.MustCompile(`^-?([0-9]+(\.[0-9]*)?|\.[0-9]+)$`)

// compareDecimals compares two decimal amounts exactly (no floating point): -1, 0 or 1.
func compareDecimals(a, b string) (int, error) {
	x, y := new(big.Rat), new(big.Rat)
	if _, ok := x.SetString(a); !ok || !decimalPattern.MatchString(a) {
		return 0, fmt.Errorf("%q is not a decimal amount", a)
	}
	if _, ok := y.SetString(b); !ok || !decimalPattern.MatchString(b) {
		return 0, fmt.Errorf("%q is not a decimal amount", b)
	}
	return x.Cmp(y), nil
}

// checkedOut refuses a cart whose checkout started: the operator ignores approval changes then.
func checkedOut(cart *pcv1alpha1.PartnerCart, what string) error {
	if cart.Status.Checkout != nil || cart.Status.OrderCount > 0 {
		return fmt.Errorf("PartnerCart %s/%s is already checking out or checked out (phase %s): nothing to %s; the operator ignores approval changes now",
			cart.Namespace, cart.Name, dash(string(cart.Status.Phase)), what)
	}
	return nil
}

// approveProblems says why approving cart now would approve something other than the quote
// the approver read, or an approval the operator would not buy with. limit is the price
// limit the approval will carry, fromFlag says whether --max-total gave it. The account's
// ceiling is read when the cart names a PartnerCenterAccount; when it cannot be read, a
// warning says so (the operator checks it anyway).
func approveProblems(ctx context.Context, c client.Client, cart *pcv1alpha1.PartnerCart, limit string, fromFlag bool, errOut io.Writer) []string {
	problems := quoteProblems(cart)
	account, ceiling, ceilingRead := accountCeiling(ctx, c, cart, errOut)
	if p := stallProblem(cart, ceilingRead); p != "" {
		problems = append(problems, p)
	}
	problems = append(problems, limitProblems(cart, limit, fromFlag)...)
	return append(problems, ceilingProblems(cart, limit, account, ceiling)...)
}

// quoteProblems: no quote, or a quote of an earlier spec.
func quoteProblems(cart *pcv1alpha1.PartnerCart) []string {
	st := &cart.Status
	switch {
	case st.Cart == nil || st.Cart.QuotedTotal == "":
		return []string{fmt.Sprintf("Partner Center has not quoted this cart (no status.cart.quotedTotal): wait until 'kubectl partnercart quote %s' shows a total", cart.Name)}
	case st.ObservedGeneration != cart.Generation:
		return []string{fmt.Sprintf("the quote is stale: the spec changed (generation %d) since the operator last looked (generation %d); wait until 'kubectl partnercart quote %s' says the quote is for the current spec",
			cart.Generation, st.ObservedGeneration, cart.Name)}
	case st.Cart.SyncedSpecHash != st.SpecHash:
		return []string{fmt.Sprintf("the quote is stale: it is for spec hash %s, the spec is now %s (status.cart.syncedSpecHash differs from status.specHash); wait until 'kubectl partnercart quote %s' says the quote is for the current spec",
			dash(st.Cart.SyncedSpecHash), dash(st.SpecHash), cart.Name)}
	}
	return nil
}

// accountCeiling reads the maxTotalPricePerCart of the cart's PartnerCenterAccount; read
// says whether the account could be read.
func accountCeiling(ctx context.Context, c client.Client, cart *pcv1alpha1.PartnerCart, errOut io.Writer) (account, ceiling string, read bool) {
	ref := cart.Spec.AccountRef
	if ref == nil {
		return "", "", false
	}
	var acct pcv1alpha1.PartnerCenterAccount
	if err := c.Get(ctx, client.ObjectKey{Name: ref.Name}, &acct); err != nil {
		printf(errOut, "warning: could not read PartnerCenterAccount %s (%s): its maxTotalPricePerCart was not checked; the operator checks it before it buys\n",
			ref.Name, apierrors.ReasonForError(err))
		return ref.Name, "", false
	}
	return ref.Name, acct.Spec.MaxTotalPricePerCart, true
}

// stallProblem: the cart is stalled for a reason an approval does not clear. A denial and an
// account ceiling the approval exceeded are what approving changes (the ceiling is checked
// apart, when the account could be read).
func stallProblem(cart *pcv1alpha1.PartnerCart, ceilingRead bool) string {
	s := apimeta.FindStatusCondition(cart.Status.Conditions, pcv1alpha1.StalledCondition)
	if s == nil || s.Status != metav1.ConditionTrue || s.Reason == pcv1alpha1.DeniedReason ||
		(s.Reason == pcv1alpha1.AccountPriceCeilingExceededReason && ceilingRead) {
		return ""
	}
	return fmt.Sprintf("the cart is stalled (Stalled=True, reason %s: %s); an approval does not clear that: fix its cause first",
		s.Reason, oneLine(s.Message))
}

// limitProblems: the price limit is below the quoted total.
func limitProblems(cart *pcv1alpha1.PartnerCart, limit string, fromFlag bool) []string {
	st := cart.Status.Cart
	if limit == "" || st == nil || st.QuotedTotal == "" {
		return nil
	}
	source := "the cart's spec.approval.maxTotalPrice " + limit
	if fromFlag {
		source = "--max-total " + limit
	}
	cmp, err := compareDecimals(st.QuotedTotal, limit)
	switch {
	case err != nil:
		return []string{"cannot compare the quoted total with the price limit: " + err.Error()}
	case cmp > 0:
		return []string{fmt.Sprintf("%s is below the quoted total %s: the operator would not check out; give --max-total at or above the quote",
			source, quote(cart))}
	}
	return nil
}

// ceilingProblems: the price limit or the quoted total is above the account's ceiling.
func ceilingProblems(cart *pcv1alpha1.PartnerCart, limit, account, ceiling string) []string {
	if ceiling == "" {
		return nil
	}
	var problems []string
	if limit != "" {
		if cmp, err := compareDecimals(limit, ceiling); err != nil {
			problems = append(problems, "cannot compare the price limit with the account's ceiling: "+err.Error())
		} else if cmp > 0 {
			problems = append(problems, fmt.Sprintf("the price limit %s is above PartnerCenterAccount %s's maxTotalPricePerCart %s: the operator would not buy; give --max-total at most %s",
				limit, account, ceiling, ceiling))
		}
	}
	if st := cart.Status.Cart; st != nil && st.QuotedTotal != "" {
		if cmp, err := compareDecimals(st.QuotedTotal, ceiling); err != nil {
			problems = append(problems, "cannot compare the quoted total with the account's ceiling: "+err.Error())
		} else if cmp > 0 {
			problems = append(problems, fmt.Sprintf("the quoted total %s is above PartnerCenterAccount %s's maxTotalPricePerCart %s: the operator would not buy; make the cart cheaper or ask the platform team",
				quote(cart), account, ceiling))
		}
	}
	return problems
}

// refuseOrWarn refuses with every problem, or, with --force, warns of them.
func refuseOrWarn(cart *pcv1alpha1.PartnerCart, problems []string, force bool, errOut io.Writer) error {
	if len(problems) == 0 {
		return nil
	}
	if force {
		for _, p := range problems {
			printf(errOut, "warning: %s\n", p)
		}
		return nil
	}
	msg := fmt.Sprintf("not approving PartnerCart %s/%s:", cart.Namespace, cart.Name)
	for _, p := range problems {
		msg += "\n  - " + p
	}
	return errors.New(msg + "\nTo approve anyway, add --force.")
}

func cmdApprove(ctx context.Context, c client.Client, ns, name string, o approveOptions, out, errOut io.Writer) error {
	if err := o.validate(); err != nil {
		return err
	}
	var cart pcv1alpha1.PartnerCart
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &cart); err != nil {
		return err
	}
	if err := checkedOut(&cart, "approve"); err != nil {
		return err
	}
	limit := o.maxTotal
	if limit == "" {
		limit = cart.Spec.Approval.MaxTotalPrice
	}
	if err := refuseOrWarn(&cart, approveProblems(ctx, c, &cart, limit, o.maxTotal != "", errOut), o.force, errOut); err != nil {
		return err
	}
	if o.printPatch {
		body, err := printablePatch(&cart, o)
		if err != nil {
			return err
		}
		_, err = out.Write(body)
		return err
	}
	p, err := approvalPatch(&cart, o, cart.ResourceVersion)
	if err != nil {
		return err
	}
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	wasDenied := cart.Spec.Approval.Denied
	if err := c.Patch(ctx, &cart, client.RawPatch(types.MergePatchType, data)); err != nil {
		if apierrors.IsConflict(err) {
			return fmt.Errorf("PartnerCart %s/%s changed while approving; run quote again: %w", ns, name, err)
		}
		return err
	}
	msg := fmt.Sprintf("partnercart %s/%s approved", ns, name)
	var details []string
	if o.pin {
		details = append(details, "pinned to "+cart.Spec.Approval.SpecHash)
	}
	if q := quote(&cart); q != "" {
		details = append(details, "quoted "+q)
	}
	if cart.Spec.Approval.MaxTotalPrice != "" {
		details = append(details, "max total "+cart.Spec.Approval.MaxTotalPrice)
	}
	if wasDenied {
		details = append(details, "denial cleared")
	}
	if cart.Spec.Approval.ApprovedBy != "" {
		details = append(details, "by "+cart.Spec.Approval.ApprovedBy)
	}
	if len(details) > 0 {
		msg += " (" + strings.Join(details, ", ") + ")"
	}
	printLine(out, msg)
	return nil
}
