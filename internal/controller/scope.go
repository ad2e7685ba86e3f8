package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
)

// Keys the credentials Secret must hold.
const (
	SecretKeyTenantID     = "tenantId"
	SecretKeyClientID     = "clientId"
	SecretKeyClientSecret = "clientSecret"
)

// scope is everything one reconcile reads once: the object, a snapshot to diff the status
// against, and (lazily, only when an upstream call is needed) the Partner Center client.
type scope struct {
	r      *PartnerCartReconciler
	cart   *pcv1alpha1.PartnerCart
	before *pcv1alpha1.PartnerCart
	now    time.Time

	pc partnercenter.Client
	// ctx is the reconcile's context, for the few helpers that call upstream from deep inside.
	ctx context.Context
	// freshIntent: the checkout intent was persisted in this reconcile, so no earlier
	// checkout call for it can exist.
	freshIntent bool
	// cartCreated: the upstream cart was created in this reconcile.
	cartCreated bool

	// stalled is set by a phase that hit a failure only a person can fix.
	stalled *stall
	// waitReason and waitMessage describe why the reconcile is waiting (not stalled).
	waitReason, waitMessage string
	// done ends the phase loop without an error or a requeue (e.g. waiting for approval).
	done bool
	// deleted: the finalizer was removed; there is no status left to write.
	deleted bool
}

// stall is a terminal failure: Stalled=True with this reason and message.
type stall struct {
	reason, message string
}

func newScope(ctx context.Context, r *PartnerCartReconciler, cart *pcv1alpha1.PartnerCart) *scope {
	return &scope{ctx: ctx, r: r, cart: cart, before: cart.DeepCopy(), now: r.Clock.Now()}
}

// errCredentials is a credentials problem: the reconcile retries slowly, never hot.
type errCredentials struct {
	reason, message string
}

func (e *errCredentials) Error() string { return e.message }

// partnerCenter returns the Partner Center client for the cart's credentials, reading the
// Secret on first use. Secrets are read from the API server, not a cache: the operator never
// holds every Secret of the cluster in memory.
func (s *scope) partnerCenter(ctx context.Context) (partnercenter.Client, error) {
	if s.pc != nil {
		return s.pc, nil
	}
	ref := s.cart.Spec.CredentialsSecretRef.Name
	secret := &corev1.Secret{}
	if err := s.r.APIReader.Get(ctx, client.ObjectKey{Namespace: s.cart.Namespace, Name: ref}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &errCredentials{pcv1alpha1.CredentialsSecretNotFoundReason,
				fmt.Sprintf("Secret %s/%s named by spec.credentialsSecretRef does not exist; create it with keys %s, %s and %s",
					s.cart.Namespace, ref, SecretKeyTenantID, SecretKeyClientID, SecretKeyClientSecret)}
		}
		return nil, fmt.Errorf("get credentials secret %s: %w", ref, err)
	}
	var missing []string
	value := func(key string) string {
		v := strings.TrimSpace(string(secret.Data[key]))
		if v == "" {
			missing = append(missing, key)
		}
		return v
	}
	creds := partnercenter.Credentials{
		TenantID:     value(SecretKeyTenantID),
		ClientID:     value(SecretKeyClientID),
		ClientSecret: value(SecretKeyClientSecret),
	}
	if len(missing) > 0 {
		return nil, &errCredentials{pcv1alpha1.InvalidCredentialsReason,
			fmt.Sprintf("Secret %s/%s lacks key(s) %s", s.cart.Namespace, ref, strings.Join(missing, ", "))}
	}
	pc, err := s.r.PartnerCenter.ClientFor(creds)
	if err != nil {
		return nil, &errCredentials{pcv1alpha1.InvalidCredentialsReason, fmt.Sprintf("Secret %s/%s: %v", s.cart.Namespace, ref, err)}
	}
	s.pc = pc
	return pc, nil
}

// checkoutDefinitelyFailed reports whether Partner Center refused the checkout for good,
// so that nothing was bought.
func (s *scope) checkoutDefinitelyFailed() bool {
	return conditionReason(s.cart, pcv1alpha1.CheckedOutCondition) == pcv1alpha1.CheckoutFailedReason
}

// isCredentialsError reports whether err is a credentials problem, local or upstream.
func isCredentialsError(err error) (*errCredentials, bool) {
	var ce *errCredentials
	if errors.As(err, &ce) {
		return ce, true
	}
	if partnercenter.Classify(err) == partnercenter.ClassUnauthorized {
		return &errCredentials{pcv1alpha1.InvalidCredentialsReason, "Partner Center refused the credentials: " + err.Error()}, true
	}
	return nil, false
}
