package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

type denyOptions struct {
	reason       string
	file         string
	cancellation bool
}

func denyCommand() *command {
	return &command{
		name:     "deny",
		synopsis: []string{"NAME --reason TEXT", "[NAME] --file FILE --reason TEXT", "--cancellation NAME", "--cancellation [NAME] --file FILE"},
		short:    "record an approver's refusal of the cart (in the cluster or in a manifest)",
		long: `Merge-patches spec.approval to approved false, denied true and reason TEXT: the operator
shows the cart Failed with reason Denied and buys nothing until an approver clears the
denial ('kubectl partnercart approve' does). The API server stamps approvedBy and approvedAt
with who denied it and when. --reason is required. Carts already checking out or checked
out are refused: the operator ignores approval changes then.

With --file it edits the PartnerCart in a YAML manifest instead (for a GitOps pull request),
keeping comments, key order and the other documents.

With --cancellation it withdraws the cart's requested cancellation instead: it sets
spec.cancellation.requested and approved to false, so that nothing is cancelled (the
requester's reason stays; --reason does not go with it). A cancellation the operator has
started cannot be withdrawn.`,
		setup: func(fs *flag.FlagSet, o *options) func(context.Context, *env, []string) error {
			d := denyOptions{}
			fs.StringVar(&d.reason, "reason", "", "why the cart is denied, `TEXT` kept in spec.approval.reason (required)")
			fs.StringVar(&d.file, "file", "", "edit the PartnerCart in this YAML `FILE` instead of the cluster")
			fs.BoolVar(&d.cancellation, "cancellation", false, "withdraw the requested cancellation (spec.cancellation) instead of denying the purchase")
			return func(ctx context.Context, e *env, args []string) error {
				if d.cancellation {
					return e.denyCancellation(ctx, o, d, args)
				}
				if strings.TrimSpace(d.reason) == "" {
					return usageError("deny", "--reason is required: say why the cart is denied")
				}
				if len(d.reason) > maxReasonLength {
					return usageError("deny", "--reason is %d bytes long; at most %d are kept", len(d.reason), maxReasonLength)
				}
				if d.file != "" {
					if len(args) > 1 {
						return usageError("deny", "takes at most one NAME with --file, got %d arguments", len(args))
					}
					return e.editFile(ctx, o, decision{deny: &d}, strings.Join(args, ""))
				}
				name, err := oneName("deny", args)
				if err != nil {
					return err
				}
				return e.withClient(o, func(c client.Client, ns string) error { return cmdDeny(ctx, c, ns, name, d.reason, e.out) })
			}
		},
	}
}

// denyCancellation runs deny --cancellation.
func (e *env) denyCancellation(ctx context.Context, o *options, d denyOptions, args []string) error {
	if d.reason != "" {
		return usageError("deny", "--reason does not go with --cancellation (the request's reason stays)")
	}
	if d.file != "" {
		if len(args) > 1 {
			return usageError("deny", "takes at most one NAME with --file, got %d arguments", len(args))
		}
		return e.editCancellationFile(ctx, o, d.file, strings.Join(args, ""), "withdraw", func(doc *manifestDoc, _ *pcv1alpha1.PartnerCart) ([]approvalField, []string, string, error) {
			return denyCancellationFileFields(doc)
		})
	}
	name, err := oneName("deny", args)
	if err != nil {
		return err
	}
	return e.withClient(o, func(c client.Client, ns string) error { return cmdDenyCancellation(ctx, c, ns, name, e.out) })
}

// denyAttempts bounds the retries of a denial that lost a race with a status write.
const denyAttempts = 3

// cmdDeny records the denial. The patch carries the resourceVersion that was read, so a cart
// that started its checkout in between is not reported denied; a conflict from an unrelated
// write (the operator's status) is retried after reading the cart again.
func cmdDeny(ctx context.Context, c client.Client, ns, name, reason string, out io.Writer) error {
	var cart pcv1alpha1.PartnerCart
	for attempt := 1; ; attempt++ {
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &cart); err != nil {
			return err
		}
		if err := checkedOut(&cart, "deny"); err != nil {
			return err
		}
		data, err := json.Marshal(map[string]any{
			"metadata": map[string]any{"resourceVersion": cart.ResourceVersion},
			"spec":     map[string]any{"approval": map[string]any{"approved": false, "denied": true, "reason": reason}},
		})
		if err != nil {
			return err
		}
		err = c.Patch(ctx, &cart, client.RawPatch(types.MergePatchType, data))
		if err == nil {
			break
		}
		if !apierrors.IsConflict(err) || attempt == denyAttempts {
			return err
		}
	}
	msg := fmt.Sprintf("partnercart %s/%s denied (reason: %s", ns, name, oneLine(reason))
	if by := cart.Spec.Approval.ApprovedBy; by != "" {
		msg += ", by " + by
	}
	printLine(out, msg+"); 'kubectl partnercart approve "+name+"' clears the denial")
	return nil
}
