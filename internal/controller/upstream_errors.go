package controller

import (
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
)

// upstreamError maps a failed upstream (or credentials) step to the reconcile outcome:
// credentials problems retry slowly, throttling waits Retry-After, retryable errors go back
// to the work queue's exponential backoff, and terminal errors stall with Partner Center's
// code and description.
func (r *PartnerCartReconciler) upstreamError(s *scope, step string, err error) (ctrl.Result, error) {
	var denied *errNotPermitted
	if errors.As(err, &denied) {
		return r.stall(s, denied.reason, denied.message)
	}
	if ce, ok := isCredentialsError(err); ok {
		if s.before.Status.Phase == "" || conditionReason(s.before, pcv1alpha1.ReadyCondition) != ce.reason {
			r.eventf(s.cart, corev1.EventTypeWarning, pcv1alpha1.EventCredentialsInvalid, "%s", ce.message)
		}
		s.waitReason, s.waitMessage = ce.reason, ce.message
		return ctrl.Result{RequeueAfter: r.jitter(r.Options.CredentialsRetryInterval)}, nil
	}
	switch partnercenter.Classify(err) {
	case partnercenter.ClassThrottled:
		wait := max(partnercenter.RetryAfter(err), time.Second)
		s.waitReason, s.waitMessage = pcv1alpha1.ThrottledReason, fmt.Sprintf("Partner Center throttled %s; retrying after %s", step, wait)
		return ctrl.Result{RequeueAfter: wait + r.jitter(wait)/5}, nil
	case partnercenter.ClassTerminal, partnercenter.ClassNotFound:
		return r.rejected(s, fmt.Sprintf("Partner Center refused to %s: %v", step, err), err)
	}
	s.waitReason, s.waitMessage = pcv1alpha1.UpstreamUnavailableReason, fmt.Sprintf("Failed to %s, retrying: %v", step, err)
	return ctrl.Result{}, fmt.Errorf("%s: %w", step, err)
}

// rejected stalls the cart on a refusal from Partner Center (a Warning event the first time);
// the error is terminal, so the work queue does not retry it.
func (r *PartnerCartReconciler) rejected(s *scope, msg string, err error) (ctrl.Result, error) {
	res, _ := r.stall(s, pcv1alpha1.UpstreamRejectedReason, msg)
	return res, reconcile.TerminalError(err)
}

func describeLineErrors(errs []pcv1alpha1.LineItemError) string {
	parts := make([]string, 0, len(errs))
	for _, e := range errs {
		parts = append(parts, fmt.Sprintf("line %d: %d %s", e.LineItemID, e.ErrorCode, e.ErrorDescription))
	}
	return strings.Join(parts, "; ")
}

func describeOrderErrors(errs []pcv1alpha1.OrderError) string {
	parts := make([]string, 0, len(errs))
	for _, e := range errs {
		parts = append(parts, fmt.Sprintf("order group %s: %d %s", e.OrderGroupID, e.Code, e.Description))
	}
	return strings.Join(parts, "; ")
}

func equalLineErrors(a, b []pcv1alpha1.LineItemError) bool {
	return describeLineErrors(a) == describeLineErrors(b)
}
