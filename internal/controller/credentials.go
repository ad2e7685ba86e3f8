package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
)

// errCredentials is a credentials problem: the reconcile retries slowly, never hot.
type errCredentials struct {
	reason, message string
}

func (e *errCredentials) Error() string { return e.message }

// errNotPermitted is a cart that may not use the credentials it names (an account that does
// not allow its namespace, a namespace Secret the manager may not read): it stalls with the
// reason, and no upstream call is made. A change of the account wakes it.
type errNotPermitted struct {
	reason, message string
}

func (e *errNotPermitted) Error() string { return e.message }

// credentialSource is where a cart's credentials come from: a PartnerCenterAccount, or a
// Secret of its own namespace.
type credentialSource struct {
	// account names the PartnerCenterAccount; "" means the namespace Secret.
	account string
	secret  client.ObjectKey
	// checkAllowed: the account's allow-list applies. It does not for a checkout already
	// started, whose calls must reach the tenant they started on.
	checkAllowed bool
}

// credentialSource says where the cart's credentials come from. A checkout intent keeps the
// account it was made with: changing spec.accountRef (which admission refuses after checkout)
// or the account's allow-list never moves a checkout already started.
func (s *scope) credentialSource() credentialSource { return credentialSourceOf(s.cart) }

func credentialSourceOf(cart *pcv1alpha1.PartnerCart) credentialSource {
	if co := cart.Status.Checkout; co != nil && co.Account != "" {
		return credentialSource{account: co.Account}
	}
	if ref := cart.Spec.AccountRef; ref != nil {
		return credentialSource{account: ref.Name, checkAllowed: cart.Status.Checkout == nil}
	}
	var name string
	if ref := cart.Spec.CredentialsSecretRef; ref != nil {
		name = ref.Name
	}
	return credentialSource{secret: client.ObjectKey{Namespace: cart.Namespace, Name: name}}
}

// partnerCenter returns the Partner Center client for the cart's credentials. Secret data is
// read from the API server (the operator caches Secret metadata only, never their data), and
// only when the metadata cache shows a resourceVersion other than the one last read: a
// rotated Secret is read again at once, an unchanged one never.
func (s *scope) partnerCenter(ctx context.Context) (partnercenter.Client, error) {
	if s.pc != nil {
		return s.pc, nil
	}
	src := s.credentialSource()
	var creds partnercenter.Credentials
	var err error
	if src.account != "" {
		creds, err = s.r.accountCredentials(ctx, s, src)
	} else {
		creds, err = s.r.namespaceCredentials(ctx, src.secret)
	}
	if err != nil {
		return nil, err
	}
	pc, err := s.r.PartnerCenter.ClientFor(creds)
	if err != nil {
		what := "Secret " + src.secret.String()
		if src.account != "" {
			what = "PartnerCenterAccount " + src.account
		}
		return nil, &errCredentials{pcv1alpha1.InvalidCredentialsReason, fmt.Sprintf("%s: %v", what, err)}
	}
	s.pc = pc
	return pc, nil
}

// account reads the PartnerCenterAccount the cart uses (from the cache), once per reconcile.
func (s *scope) partnerAccount(ctx context.Context, name string) (*pcv1alpha1.PartnerCenterAccount, error) {
	if s.account != nil && s.account.Name == name {
		return s.account, nil
	}
	acct := &pcv1alpha1.PartnerCenterAccount{}
	if err := s.r.Client.Get(ctx, client.ObjectKey{Name: name}, acct); err != nil {
		if apierrors.IsNotFound(err) {
			if co := s.cart.Status.Checkout; co != nil && co.Account == name && !co.Outcome.Final() {
				// The checkout in flight was made with this account, and only it can settle it.
				if co.AccountUID != "" {
					// A re-created account is another object, which the intent will not use.
					return nil, &errCredentials{pcv1alpha1.AccountNotFoundReason, fmt.Sprintf(
						"PartnerCenterAccount %s (UID %s), which the checkout of cart %s (MS-RequestId %s) was made with, was deleted: its outcome can be read only with that account, and an account re-created under the name is not used for it (AccountReplaced). Check in Partner Center, as the partner of the checkout, whether cart %s was ordered for customer %s",
						name, co.AccountUID, co.CartID, co.RequestID, co.CartID, co.CustomerID)}
				}
				return nil, &errCredentials{pcv1alpha1.AccountNotFoundReason, fmt.Sprintf(
					"PartnerCenterAccount %s, which the checkout of cart %s (MS-RequestId %s) was made with, does not exist: its outcome can be read only with that account; the platform team re-creates it (kubectl get pcacct lists accounts)",
					name, co.CartID, co.RequestID)}
			}
			return nil, &errCredentials{pcv1alpha1.AccountNotFoundReason, fmt.Sprintf(
				"PartnerCenterAccount %s named by spec.accountRef does not exist; the platform team creates accounts (kubectl get pcacct lists them)", name)}
		}
		return nil, fmt.Errorf("get PartnerCenterAccount %s: %w", name, err)
	}
	if err := s.intentAccountReplaced(acct); err != nil {
		return nil, err
	}
	s.account = acct
	return acct, nil
}

// intentAccountReplaced refuses an account that took the name of the one the checkout intent
// was made with (deleted and re-created: another UID). It may hold another partner's
// credentials, and continuing the checkout, reading its outcome or its orders with them would
// mix two partners' purchases; only a person can tell. Intents recorded before accountUID
// existed have none and go by the name.
func (s *scope) intentAccountReplaced(acct *pcv1alpha1.PartnerCenterAccount) error {
	co := s.cart.Status.Checkout
	if co == nil || co.Account != acct.Name || co.AccountUID == "" || types.UID(co.AccountUID) == acct.UID {
		return nil
	}
	return &errNotPermitted{pcv1alpha1.AccountReplacedReason, fmt.Sprintf(
		"PartnerCenterAccount %s was deleted and re-created (UID %s, the checkout was made with UID %s) after the checkout of cart %s (MS-RequestId %s) started; "+
			"nothing is sent to Partner Center with the new account, which may hold other credentials. "+
			"Check in Partner Center, as the partner of the checkout, whether cart %s was ordered for customer %s",
		acct.Name, acct.UID, co.AccountUID, co.CartID, co.RequestID, co.CartID, co.CustomerID)}
}

// accountCredentials resolves the cart's account into credentials, after checking that the
// account allows the cart's namespace.
func (r *PartnerCartReconciler) accountCredentials(ctx context.Context, s *scope, src credentialSource) (partnercenter.Credentials, error) {
	acct, err := s.partnerAccount(ctx, src.account)
	if err != nil {
		return partnercenter.Credentials{}, err
	}
	if src.checkAllowed {
		allowed, err := r.namespaceAllowed(ctx, acct, s.cart.Namespace)
		if err != nil {
			return partnercenter.Credentials{}, err
		}
		if !allowed {
			return partnercenter.Credentials{}, &errNotPermitted{pcv1alpha1.AccountNotAllowedReason, fmt.Sprintf(
				"PartnerCenterAccount %s does not allow namespace %s (its spec.namespaces); nothing was sent to Partner Center. Ask the platform team to allow the namespace, or name another account",
				acct.Name, s.cart.Namespace)}
		}
	}
	// The Secret's resourceVersion (from the metadata cache) and the account's make the
	// version: a changed account or a rotated Secret is read again, an unchanged one never.
	version := acct.ResourceVersion
	key, hasSecret := accountSecretKey(acct, r.Options.CredentialsNamespace)
	if hasSecret {
		rv, ok := r.secretVersion(ctx, key)
		if !ok {
			version = "" // not in the cache: read it
		} else {
			version += "/" + rv
		}
	}
	cacheKey := "account/" + acct.Name
	if creds, ok := r.credentials.get(cacheKey, version); ok {
		return creds, nil
	}
	creds, err := accountSource{r.APIReader, r.Options.CredentialsNamespace, r.Options.WorkloadIdentityTokenPath}.credentials(ctx, acct)
	if err != nil {
		var refusal *accountRefusal
		if errors.As(err, &refusal) {
			return creds, &errCredentials{pcv1alpha1.InvalidCredentialsReason, fmt.Sprintf(
				"PartnerCenterAccount %s cannot sign in (%s): %s", acct.Name, refusal.reason, refusal.message)}
		}
		return creds, err
	}
	r.credentials.put(cacheKey, version, creds)
	return creds, nil
}

// namespaceAllowed applies the account's allow-list: a namespace is allowed when it is named
// or its labels match the selector; with neither, none is.
func (r *PartnerCartReconciler) namespaceAllowed(ctx context.Context, acct *pcv1alpha1.PartnerCenterAccount, namespace string) (bool, error) {
	ns := acct.Spec.Namespaces
	if slices.Contains(ns.Names, namespace) {
		return true, nil
	}
	if ns.Selector == nil {
		return false, nil
	}
	selector, err := metav1.LabelSelectorAsSelector(ns.Selector)
	if err != nil {
		return false, &errNotPermitted{pcv1alpha1.AccountNotAllowedReason, fmt.Sprintf(
			"PartnerCenterAccount %s has an invalid spec.namespaces.selector: %v", acct.Name, err)}
	}
	if selector.Empty() {
		// An empty selector would match every namespace: allow-lists are explicit.
		return false, nil
	}
	meta := CoreMetadata("Namespace")
	if err := r.Client.Get(ctx, client.ObjectKey{Name: namespace}, meta); err != nil {
		return false, fmt.Errorf("get namespace %s: %w", namespace, err)
	}
	return selector.Matches(labels.Set(meta.Labels)), nil
}

// namespaceCredentials reads the Secret of the cart's namespace (the simple mode) with a direct
// get whenever the reconcile needs a client: the manager watches no Secret outside its
// credentials namespace, so it needs only get on them (never list or watch every Secret of the
// cluster), and a rotated Secret is read at the next call all the same.
func (r *PartnerCartReconciler) namespaceCredentials(ctx context.Context, key client.ObjectKey) (partnercenter.Credentials, error) {
	if r.Options.DenyNamespaceCredentials {
		return partnercenter.Credentials{}, &errNotPermitted{pcv1alpha1.NamespaceCredentialsDisabledReason, fmt.Sprintf(
			"spec.credentialsSecretRef names Secret %s, but this operator does not read Secrets of tenant namespaces (--allow-namespace-credentials=false); use spec.accountRef", key)}
	}
	return r.readCredentials(ctx, key)
}

// secretVersion is the Secret's resourceVersion in the metadata cache.
func (r *PartnerCartReconciler) secretVersion(ctx context.Context, key client.ObjectKey) (string, bool) {
	meta := CoreMetadata("Secret")
	if err := r.Client.Get(ctx, key, meta); err != nil {
		return "", false
	}
	return meta.ResourceVersion, true
}

// readCredentials reads and checks the Secret, and remembers valid credentials.
func (r *PartnerCartReconciler) readCredentials(ctx context.Context, key client.ObjectKey) (partnercenter.Credentials, error) {
	secret := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, key, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return partnercenter.Credentials{}, &errCredentials{pcv1alpha1.CredentialsSecretNotFoundReason,
				fmt.Sprintf("Secret %s named by spec.credentialsSecretRef does not exist; create it with keys %s, %s and %s",
					key, pcv1alpha1.SecretKeyTenantID, pcv1alpha1.SecretKeyClientID, pcv1alpha1.SecretKeyClientSecret)}
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
		TenantID:     value(pcv1alpha1.SecretKeyTenantID),
		ClientID:     value(pcv1alpha1.SecretKeyClientID),
		ClientSecret: value(pcv1alpha1.SecretKeyClientSecret),
	}
	if len(missing) > 0 {
		return partnercenter.Credentials{}, &errCredentials{pcv1alpha1.InvalidCredentialsReason,
			fmt.Sprintf("Secret %s lacks key(s) %s", key, strings.Join(missing, ", "))}
	}
	r.credentials.put("secret/"+key.String(), secret.ResourceVersion, creds)
	return creds, nil
}

// credentialsCache remembers credentials at the version read (a Secret's resourceVersion,
// with the account's for an account).
type credentialsCache struct {
	mu      sync.Mutex
	entries map[string]cachedCredentials
}

type cachedCredentials struct {
	version string
	creds   partnercenter.Credentials
}

func (c *credentialsCache) get(key, version string) (partnercenter.Credentials, bool) {
	if version == "" {
		return partnercenter.Credentials{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	return e.creds, ok && e.version == version
}

func (c *credentialsCache) put(key, version string, creds partnercenter.Credentials) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]cachedCredentials{}
	}
	c.entries[key] = cachedCredentials{version: version, creds: creds}
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
