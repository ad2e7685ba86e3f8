package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

func pauseCommand(pause bool) *command {
	c := &command{
		name:     "pause",
		synopsis: []string{"NAME"},
		short:    "stop every Partner Center call for the cart (the paused annotation)",
		long: `Sets the annotation partnercenter.partnercart.dev/paused: "true": the operator makes no
Partner Center call for the cart (no cart write, no checkout, no order poll) and shows
Ready=False with reason Paused, keeping the rest of its status. A checkout call already in
flight completes and is recorded. 'kubectl partnercart resume NAME' removes the annotation.`,
	}
	if !pause {
		c.name = "resume"
		c.short = "remove the paused annotation: the operator works on the cart again"
		c.long = `Removes the annotation partnercenter.partnercart.dev/paused that 'kubectl partnercart pause'
set: the operator works on the cart again.`
	}
	c.setup = func(_ *flag.FlagSet, o *options) func(context.Context, *env, []string) error {
		return func(ctx context.Context, e *env, args []string) error {
			name, err := oneName(c.name, args)
			if err != nil {
				return err
			}
			return e.withClient(o, func(cl client.Client, ns string) error { return cmdPause(ctx, cl, ns, name, pause, e.out) })
		}
	}
	return c
}

func cmdPause(ctx context.Context, c client.Client, ns, name string, pause bool, out io.Writer) error {
	var cart pcv1alpha1.PartnerCart
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &cart); err != nil {
		return err
	}
	_, annotated := cart.Annotations[pcv1alpha1.PausedAnnotation]
	switch {
	case pause && paused(&cart):
		printf(out, "partnercart %s/%s is already paused\n", ns, name)
		return nil
	case !pause && !annotated:
		printf(out, "partnercart %s/%s is not paused\n", ns, name)
		return nil
	}
	var value any // null removes the annotation
	if pause {
		value = "true"
	}
	data, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{pcv1alpha1.PausedAnnotation: value}}})
	if err != nil {
		return err
	}
	if err := c.Patch(ctx, &cart, client.RawPatch(types.MergePatchType, data)); err != nil {
		return err
	}
	if pause {
		printf(out, "partnercart %s/%s paused: the operator makes no Partner Center call for it until 'kubectl partnercart resume %s'\n", ns, name, name)
	} else {
		printf(out, "partnercart %s/%s resumed\n", ns, name)
	}
	return nil
}
