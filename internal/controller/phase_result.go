package controller

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

// The phase contract (after Flux's internal/error and ComputeReconcileResult, and CAPI's
// machine controller): every phase of a reconcile ends in one phaseResult. reconcileNormal
// stops at the first result that does not proceed; toCtrlResult turns it into what the work
// queue needs, and summarize derives phase, conditions and observedGeneration from it. No
// phase signals through the scope, and nothing is decided from a reason string.

// phaseKind says how a phase ended.
type phaseKind int

const (
	// kindProceed: the phase is done; the next one runs.
	kindProceed phaseKind = iota
	// kindWaitPerson: nothing more happens until a person acts (approves, lifts the freeze,
	// installs the policies). The generation is reconciled as far as it can be.
	kindWaitPerson
	// kindWaitUpstream: Partner Center is doing its part (orders provisioning); the cart is
	// looked at again after a while. The generation is reconciled as far as it can be.
	kindWaitUpstream
	// kindRetry: a step failed, or must wait for something that will pass (throttling,
	// credentials, a call in another process's hands); it is tried again.
	kindRetry
	// kindStall: only a person (or a spec change) can clear it; Stalled=True.
	kindStall
	// kindPaused: a person paused the cart (the paused annotation): no phase runs, the phase
	// stays what it was, and nothing happens until the annotation goes.
	kindPaused
)

// phaseResult is how one phase ended: its kind, the reason and message shown in the summary
// conditions, when to come back, the error (if any) and the Event that announces the state
// the first time the cart reaches it.
type phaseResult struct {
	kind            phaseKind
	reason, message string
	// after asks for the cart to be reconciled again after this long (0: not by itself).
	after time.Duration
	// err is returned to the work queue: retried with backoff, or not at all if terminal.
	err error
	// event, when set, is emitted once, when the cart reaches reason (see transitionEvent).
	event *phaseEvent
	// deletionBlocked says why a deletion waits; shown in Ready.
	deletionBlocked string
	// noStatusWrite: the finalizer is gone, or this reconcile's view is older than what is
	// stored (a lost race, a result recorded by another reconcile): nothing is written.
	noStatusWrite bool
	// cancellation: the result is the cancellation phase's; the cart's phase comes from
	// status.cancellation (cancellationPhase), not from the checkout.
	cancellation bool
}

// phaseEvent is the Event that announces a state: its type and reason; the note is the
// result's message.
type phaseEvent struct{ eventType, reason string }

// paused: the cart is paused; nothing runs until the annotation is removed, which wakes it.
func paused() phaseResult {
	return phaseResult{kind: kindPaused, reason: pcv1alpha1.PausedReason, message: "Paused by the annotation " + pcv1alpha1.PausedAnnotation +
		"=true: no call is made to Partner Center for this cart until it is removed (kubectl partnercart resume)"}
}

// next: the phase is done, go on.
func next() phaseResult { return phaseResult{} }

// waitForPerson ends the phases until a person acts, announced by a Normal Event.
func waitForPerson(reason, msg, event string) phaseResult {
	return phaseResult{kind: kindWaitPerson, reason: reason, message: msg, event: &phaseEvent{corev1.EventTypeNormal, event}}
}

// waitForUpstream ends the phases while Partner Center works; the cart is looked at after.
func waitForUpstream(reason, msg string, after time.Duration) phaseResult {
	return phaseResult{kind: kindWaitUpstream, reason: reason, message: msg, after: after}
}

// retryAfter ends the phases and tries again after a while.
func retryAfter(reason, msg string, after time.Duration) phaseResult {
	return phaseResult{kind: kindRetry, reason: reason, message: msg, after: after}
}

// retryOn ends the phases on an error, retried with the work queue's backoff.
func retryOn(err error) phaseResult { return phaseResult{kind: kindRetry, err: err} }

// stall stops the cart with a reason only a person (or a spec change) can clear, announced
// by a Warning Event of the same reason.
func stall(reason, msg string) phaseResult {
	return phaseResult{kind: kindStall, reason: reason, message: msg, event: &phaseEvent{corev1.EventTypeWarning, reason}}
}

// rejected stalls the cart on a refusal from Partner Center; the error is terminal, so the
// work queue does not retry it.
func rejected(msg string, err error) phaseResult {
	res := stall(pcv1alpha1.UpstreamRejectedReason, msg)
	res.err = reconcile.TerminalError(err)
	return res
}

// quiet drops the result's Event: what it says was announced by another one.
func (p phaseResult) quiet() phaseResult { p.event = nil; return p }

// announcedBy replaces the result's Event.
func (p phaseResult) announcedBy(eventType, reason string) phaseResult {
	p.event = &phaseEvent{eventType, reason}
	return p
}

// requeueAfter asks for the cart to be looked at again after d.
func (p phaseResult) requeueAfter(d time.Duration) phaseResult { p.after = d; return p }

// withError attaches an error to the result (returned to the work queue).
func (p phaseResult) withError(err error) phaseResult { p.err = err; return p }

// stops reports whether the phases end here.
func (p phaseResult) stops() bool { return p.kind != kindProceed || p.err != nil }

// toCtrlResult is the one place a phase result becomes what controller-runtime takes: an
// error is returned alone (controller-runtime ignores a requeue returned with an error), and
// a retry always comes back by itself: only a stall or a wait for a person may end with nothing
// scheduled, since status writes do not wake the controller. A retry without a time is a bug
// (one left carts Pending for good after a throttled order list); it is logged and retried
// after the work queue's longest backoff.
func (r *PartnerCartReconciler) toCtrlResult(ctx context.Context, p phaseResult) (ctrl.Result, error) {
	switch {
	case p.err != nil:
		return ctrl.Result{}, p.err
	case p.after > 0:
		return ctrl.Result{RequeueAfter: p.after}, nil
	case p.kind == kindRetry || p.kind == kindWaitUpstream:
		ctrl.LoggerFrom(ctx).Error(nil, "A retry was not scheduled; retrying anyway", "reason", p.reason, "message", p.message)
		return ctrl.Result{RequeueAfter: r.jitter(maxRetryBackoff)}, nil
	}
	return ctrl.Result{}, nil
}

// staleView ends a reconcile whose copy of the object is older than what is stored (the
// cache lags a write, or another reconcile recorded a result): nothing is written, and the
// cart is looked at again once the cache has caught up.
func staleView() phaseResult {
	return phaseResult{kind: kindRetry, after: time.Second, noStatusWrite: true}
}
