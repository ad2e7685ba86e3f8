package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
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
	// cartWritten: the upstream cart was created or PUT in this reconcile, so upstreamLines
	// are as fresh as a read.
	cartWritten bool
	// upstreamLines are the line items of the upstream cart as last answered in this reconcile.
	upstreamLines []partnercenter.CartLineItem
	// ordersPlaced: this reconcile recorded the checkout's orders (and said so in an Event).
	ordersPlaced bool
	// receiptMark: receipt creations started before this reconcile read the cart.
	receiptMark uint64

	// outcome is what the phases concluded; summarize derives phase and conditions from it
	// and the status.
	outcome
	// noStatusWrite: the finalizer was removed, or a locked write lost a race; this reconcile
	// writes no status.
	noStatusWrite bool
}

// outcome is what the phases of one reconcile concluded, besides what they wrote into status.
type outcome struct {
	// stalled is set by a phase that hit a failure only a person can fix.
	stalled *stall
	// waitReason and waitMessage describe why the reconcile is waiting (not stalled).
	waitReason, waitMessage string
	// done ends the phase loop without an error or a requeue (e.g. waiting for approval).
	done bool
	// deletionBlocked says why the deletion waits, shown in Ready.
	deletionBlocked string
	// err is the reconcile's error, if any.
	err error
}

// wait ends the phases: the cart waits for a person (approval, say) or for Partner Center.
func (s *scope) wait(reason, msg string) (ctrl.Result, error) {
	s.waitReason, s.waitMessage, s.done = reason, msg, true
	return ctrl.Result{}, nil
}

// waitInProgress ends the phases while a checkout call of another process may be in flight.
func (s *scope) waitInProgress(msg string, after time.Duration) (ctrl.Result, error) {
	s.waitReason, s.waitMessage = pcv1alpha1.CheckoutInProgressReason, msg
	return ctrl.Result{RequeueAfter: after}, nil
}

// stall is a terminal failure: Stalled=True with this reason and message.
type stall struct {
	reason, message string
}

func newScope(r *PartnerCartReconciler, cart *pcv1alpha1.PartnerCart) *scope {
	return &scope{r: r, cart: cart, before: cart.DeepCopy(), now: r.Clock.Now()}
}

// errCredentials is a credentials problem: the reconcile retries slowly, never hot.
type errCredentials struct {
	reason, message string
}

func (e *errCredentials) Error() string { return e.message }

// partnerCenter returns the Partner Center client for the cart's credentials. The Secret's data
// is read from the API server (the operator caches Secret metadata only, never every
// Secret of the cluster), and only when its resourceVersion in the metadata cache differs
// from the one last read: a rotated Secret is read again at once, an unchanged one never.
func (s *scope) partnerCenter(ctx context.Context) (partnercenter.Client, error) {
	if s.pc != nil {
		return s.pc, nil
	}
	key := client.ObjectKey{Namespace: s.cart.Namespace, Name: s.cart.Spec.CredentialsSecretRef.Name}
	creds, ok := s.r.cachedCredentials(ctx, key)
	if !ok {
		var err error
		if creds, err = s.r.readCredentials(ctx, key); err != nil {
			return nil, err
		}
	}
	pc, err := s.r.PartnerCenter.ClientFor(creds)
	if err != nil {
		return nil, &errCredentials{pcv1alpha1.InvalidCredentialsReason, fmt.Sprintf("Secret %s: %v", key, err)}
	}
	s.pc = pc
	return pc, nil
}

// credentialsCache remembers the credentials of each Secret at the resourceVersion read.
type credentialsCache struct {
	mu      sync.Mutex
	entries map[client.ObjectKey]cachedCredentials
}

type cachedCredentials struct {
	resourceVersion string
	creds           partnercenter.Credentials
}

// cachedCredentials returns the credentials last read from the Secret if the metadata cache
// still shows the same resourceVersion.
func (r *PartnerCartReconciler) cachedCredentials(ctx context.Context, key client.ObjectKey) (partnercenter.Credentials, bool) {
	meta := &metav1.PartialObjectMetadata{}
	meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	if err := r.Client.Get(ctx, key, meta); err != nil {
		return partnercenter.Credentials{}, false
	}
	r.credentials.mu.Lock()
	defer r.credentials.mu.Unlock()
	e, ok := r.credentials.entries[key]
	return e.creds, ok && e.resourceVersion == meta.ResourceVersion
}

// readCredentials reads and checks the Secret, and remembers valid credentials.
func (r *PartnerCartReconciler) readCredentials(ctx context.Context, key client.ObjectKey) (partnercenter.Credentials, error) {
	secret := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, key, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return partnercenter.Credentials{}, &errCredentials{pcv1alpha1.CredentialsSecretNotFoundReason,
				fmt.Sprintf("Secret %s named by spec.credentialsSecretRef does not exist; create it with keys %s, %s and %s",
					key, SecretKeyTenantID, SecretKeyClientID, SecretKeyClientSecret)}
		}
		return partnercenter.Credentials{}, fmt.Errorf("get credentials secret %s: %w", key, err)
	}
	var missing []string
	value := func(k string) string {
		v := strings.TrimSpace(string(secret.Data[k]))
		if v == "" {
			missing = append(missing, k)
		}
		return v
	}
	creds := partnercenter.Credentials{
		TenantID:     value(SecretKeyTenantID),
		ClientID:     value(SecretKeyClientID),
		ClientSecret: value(SecretKeyClientSecret),
	}
	if len(missing) > 0 {
		return partnercenter.Credentials{}, &errCredentials{pcv1alpha1.InvalidCredentialsReason,
			fmt.Sprintf("Secret %s lacks key(s) %s", key, strings.Join(missing, ", "))}
	}
	r.credentials.mu.Lock()
	defer r.credentials.mu.Unlock()
	if r.credentials.entries == nil {
		r.credentials.entries = map[client.ObjectKey]cachedCredentials{}
	}
	r.credentials.entries[key] = cachedCredentials{resourceVersion: secret.ResourceVersion, creds: creds}
	return creds, nil
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
