package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
)

// upstream is the one boundary of a reconcile with Partner Center (crossplane-runtime's
// Connect): the client for the cart's credentials, resolved once and kept in the scope. A
// failure to resolve it is classified like any upstream error of step.
func (r *PartnerCartReconciler) upstream(ctx context.Context, s *scope, step string) (partnercenter.Client, phaseResult) {
	pc, err := s.partnerCenter(ctx)
	if err != nil {
		return nil, upstreamError(s, step, err)
	}
	return pc, next()
}

// upstreamError classifies a failed upstream (or credentials) step once, into the phase
// result: credentials problems retry slowly, throttling waits Retry-After, retryable errors go
// back to the work queue's exponential backoff, and refusals stall with Partner Center's code
// and description.
func upstreamError(s *scope, step string, err error) phaseResult {
	var denied *errNotPermitted
	if errors.As(err, &denied) {
		return stall(denied.reason, denied.message)
	}
	if ce, ok := isCredentialsError(err); ok {
		return retryAfter(ce.reason, ce.message, s.r.jitter(s.r.Options.CredentialsRetryInterval)).
			announcedBy(corev1.EventTypeWarning, pcv1alpha1.EventCredentialsInvalid)
	}
	switch partnercenter.Classify(err) {
	case partnercenter.ClassThrottled:
		wait := max(partnercenter.RetryAfter(err), time.Second)
		return retryAfter(pcv1alpha1.ThrottledReason, fmt.Sprintf("Partner Center throttled %s; retrying after %s", step, wait), wait+s.r.jitter(wait)/5)
	case partnercenter.ClassTerminal, partnercenter.ClassNotFound:
		return rejected(fmt.Sprintf("Partner Center refused to %s: %v", step, err), err)
	}
	return retryAfter(pcv1alpha1.UpstreamUnavailableReason, fmt.Sprintf("Failed to %s, retrying: %v", step, err), 0).
		withError(fmt.Errorf("%s: %w", step, err))
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
