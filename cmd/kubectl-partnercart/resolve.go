package main

import (
	"context"
	"encoding/json"
	"errors"
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
