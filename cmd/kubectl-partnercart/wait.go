package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

// pollInterval is how often wait reads the cart; tests shorten it.
var pollInterval = 2 * time.Second

// phases are the values of status.phase, which --for accepts in any case.
var phases = []pcv1alpha1.Phase{pcv1alpha1.PhasePending, pcv1alpha1.PhaseAwaitingApproval, pcv1alpha1.PhaseCheckingOut,
	pcv1alpha1.PhaseProvisioning, pcv1alpha1.PhaseCompleted, pcv1alpha1.PhaseFailed}

// waitTarget is what --for waits for: a phase, or a condition with a status.
type waitTarget struct {
	phase                pcv1alpha1.Phase
	condType, condStatus string
}

func (t waitTarget) String() string {
	if t.phase != "" {
		return "phase " + string(t.phase)
	}
	return "condition " + t.condType + "=" + t.condStatus
}

func parseWaitFor(s string) (waitTarget, error) {
	if rest, ok := strings.CutPrefix(s, "condition="); ok {
		typ, status, found := strings.Cut(rest, "=")
		if !found {
			status = string(metav1.ConditionTrue)
		}
		if typ == "" || status == "" {
			return waitTarget{}, fmt.Errorf("--for=%s: want condition=TYPE or condition=TYPE=STATUS", s)
		}
		return waitTarget{condType: typ, condStatus: status}, nil
	}
	for _, p := range phases {
		if strings.EqualFold(s, string(p)) {
			return waitTarget{phase: p}, nil
		}
	}
	names := make([]string, len(phases))
	for i, p := range phases {
		names[i] = string(p)
	}
	return waitTarget{}, fmt.Errorf("--for=%s: want a phase (%s) or condition=TYPE[=STATUS]", s, strings.Join(names, ", "))
}

// met reports whether cart is there. A phase counts once the operator has looked at the
// current spec (status.observedGeneration), a condition once it is of the current generation.
func (t waitTarget) met(cart *pcv1alpha1.PartnerCart) bool {
	if t.phase != "" {
		return cart.Status.Phase == t.phase && cart.Status.ObservedGeneration == cart.Generation
	}
	for _, c := range cart.Status.Conditions {
		// Types and statuses in any case, as kubectl wait takes them.
		if strings.EqualFold(c.Type, t.condType) {
			return strings.EqualFold(string(c.Status), t.condStatus) && (c.ObservedGeneration == 0 || c.ObservedGeneration >= cart.Generation)
		}
	}
	return false
}

func waitCommand() *command {
	return &command{
		name:     "wait",
		synopsis: []string{"NAME [--for=Completed|AwaitingApproval|Failed|PHASE|condition=TYPE[=STATUS]] [--timeout=5m]"},
		short:    "wait until the cart reaches a phase or condition; fail if it stalls",
		long: `Reads the cart every 2 seconds until it reaches the phase or condition of --for (default
Completed): a phase once status.observedGeneration equals metadata.generation, a condition
(TYPE and STATUS in any case, STATUS default True) once it is of the current generation. It exits non-zero with
the Stalled condition's reason and message if the cart stalls (Stalled=True) while waiting
for something else, when the cart is not found, and after --timeout.`,
		setup: func(fs *flag.FlagSet, o *options) func(context.Context, *env, []string) error {
			forText := string(pcv1alpha1.PhaseCompleted)
			timeout := 5 * time.Minute
			fs.StringVar(&forText, "for", forText, "a `PHASE` or condition=TYPE[=STATUS]")
			fs.DurationVar(&timeout, "timeout", timeout, "give up after this `DURATION` (e.g. 30s, 10m)")
			return func(ctx context.Context, e *env, args []string) error {
				target, err := parseWaitFor(forText)
				if err != nil {
					return usageError("wait", "%v", err)
				}
				if timeout <= 0 {
					return usageError("wait", "--timeout must be positive")
				}
				name, err := oneName("wait", args)
				if err != nil {
					return err
				}
				return e.withClient(o, func(c client.Client, ns string) error {
					return cmdWait(ctx, c, ns, name, target, timeout, e.out, e.errOut)
				})
			}
		},
	}
}

func cmdWait(ctx context.Context, c client.Client, ns, name string, t waitTarget, timeout time.Duration, out, errOut io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var cart pcv1alpha1.PartnerCart
	seen, warnedPaused := false, false
	var lastErr error
	for {
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &cart)
		switch {
		case err == nil:
			seen, lastErr = true, nil
			if t.met(&cart) {
				printf(out, "partnercart %s/%s condition met (%s)\n", ns, name, t)
				return nil
			}
			if s := apimeta.FindStatusCondition(cart.Status.Conditions, pcv1alpha1.StalledCondition); s != nil &&
				s.Status == metav1.ConditionTrue && cart.Status.ObservedGeneration == cart.Generation {
				return fmt.Errorf("PartnerCart %s/%s stalled while waiting for %s: %s: %s", ns, name, t, s.Reason, oneLine(s.Message))
			}
			if paused(&cart) && !warnedPaused {
				printf(errOut, "note: PartnerCart %s/%s is paused: it does not progress until 'kubectl partnercart resume %s'\n", ns, name, name)
				warnedPaused = true
			}
		case apierrors.IsNotFound(err):
			return fmt.Errorf("PartnerCart %s/%s not found", ns, name)
		case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
			return err
		case ctx.Err() == nil:
			lastErr = err // a passing failure: read again
		}
		select {
		case <-ctx.Done():
			return waitTimeout(ns, name, t, timeout, seen, &cart, lastErr)
		case <-time.After(pollInterval):
		}
	}
}

func waitTimeout(ns, name string, t waitTarget, timeout time.Duration, seen bool, cart *pcv1alpha1.PartnerCart, lastErr error) error {
	msg := fmt.Sprintf("timed out after %s waiting for PartnerCart %s/%s to reach %s", timeout, ns, name, t)
	if seen {
		msg += ": phase " + phaseColumn(cart)
		if r := condition(cart, pcv1alpha1.ReadyCondition); r != "" {
			msg += ", Ready=" + oneLine(r)
		}
	}
	if lastErr != nil {
		return fmt.Errorf("%s (last read: %w)", msg, lastErr)
	}
	return errors.New(msg)
}
