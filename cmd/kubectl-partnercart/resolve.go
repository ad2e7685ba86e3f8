package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

type resolveOptions struct {
	nothingBought bool
	orders        string
	// notOurs: with nothingBought, the candidate orders the person checked and found to be
	// another purchase's (the operator refuses nothing-bought while one is left unnamed).
	notOurs string
}

func resolveCommand() *command {
	return &command{
		name:     "resolve",
		synopsis: []string{"NAME --nothing-bought [--not-ours ID,...]", "NAME --orders ID[,ID...]"},
		short:    "settle a checkout whose outcome is Unknown",
		long: `When status.checkout.outcome is Unknown, look the customer's orders up in Partner Center,
then record what you found: --nothing-bought, or --orders with the IDs of the orders the
checkout created. It writes the partnercenter.partnercart.dev/checkout-resolution annotation
with the current request ID; it refuses carts whose outcome is not Unknown. Settling a
checkout needs the verb approve on partnercarts/approval.`,
		setup: func(fs *flag.FlagSet, o *options) func(context.Context, *env, []string) error {
			r := resolveOptions{}
			fs.BoolVar(&r.nothingBought, "nothing-bought", false, "Partner Center shows no order of this checkout")
			fs.StringVar(&r.orders, "orders", "", "comma-separated `IDs` of the orders this checkout created")
			fs.StringVar(&r.notOurs, "not-ours", "", "with --nothing-bought: comma-separated `IDs` of the candidate orders you checked are another purchase's")
			return func(ctx context.Context, e *env, args []string) error {
				name, err := oneName("resolve", args)
				if err != nil {
					return err
				}
				return e.withClient(o, func(c client.Client, ns string) error { return cmdResolve(ctx, c, ns, name, r, e.out) })
			}
		},
	}
}

// resolution is the checkout-resolution annotation's value for the current checkout:
// <requestId>/nothing-bought[;not-ours=<id>,...] or <requestId>/orders=<id>[,<id>...].
func resolution(cart *pcv1alpha1.PartnerCart, o resolveOptions) (string, error) {
	if o.nothingBought == (o.orders != "") {
		return "", errors.New("resolve needs exactly one of --nothing-bought and --orders ID[,ID...]")
	}
	co := cart.Status.Checkout
	if co == nil || co.Outcome != pcv1alpha1.CheckoutUnknown {
		outcome := "none"
		if co != nil {
			outcome = dash(string(co.Outcome))
		}
		return "", fmt.Errorf("PartnerCart %s has no checkout with outcome Unknown (outcome: %s): nothing to resolve", cart.Name, outcome)
	}
	if o.notOurs != "" && !o.nothingBought {
		return "", errors.New("--not-ours goes with --nothing-bought")
	}
	if o.nothingBought {
		if notOurs := pcv1alpha1.SplitOrderIDs(o.notOurs); len(notOurs) > 0 {
			return co.RequestID + "/nothing-bought;not-ours=" + strings.Join(notOurs, ","), nil
		}
		return co.RequestID + "/nothing-bought", nil
	}
	ids := pcv1alpha1.SplitOrderIDs(o.orders)
	if len(ids) == 0 {
		return "", errors.New("--orders needs at least one order ID")
	}
	return co.RequestID + "/orders=" + strings.Join(ids, ","), nil
}

func cmdResolve(ctx context.Context, c client.Client, ns, name string, o resolveOptions, out io.Writer) error {
	var cart pcv1alpha1.PartnerCart
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &cart); err != nil {
		return err
	}
	value, err := resolution(&cart, o)
	if err != nil {
		return err
	}
	data, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"resourceVersion": cart.ResourceVersion,
		"annotations":     map[string]string{pcv1alpha1.CheckoutResolutionAnnotation: value},
	}})
	if err != nil {
		return err
	}
	if err := c.Patch(ctx, &cart, client.RawPatch(types.MergePatchType, data)); err != nil {
		if apierrors.IsConflict(err) {
			return fmt.Errorf("PartnerCart %s/%s changed while resolving; look at it again: %w", ns, name, err)
		}
		return err
	}
	printf(out, "partnercart %s/%s annotated %s=%s\n", ns, name, pcv1alpha1.CheckoutResolutionAnnotation, value)
	return nil
}
