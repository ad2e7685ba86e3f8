package controller

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
)

// Defaults of AccountReconciler.
const (
	// DefaultAccountRetryInterval is the first retry after an account was refused; each
	// refusal in a row doubles it, up to maxAccountRetryInterval.
	DefaultAccountRetryInterval = 30 * time.Second
	// DefaultAccountRefreshInterval is how often a Ready account proves its token again.
	DefaultAccountRefreshInterval = time.Hour
	maxAccountRetryInterval       = 10 * time.Minute
)

// AccountReconciler proves each PartnerCenterAccount by obtaining a token for it (no Partner
// Center call): Ready=True with TokenObtained, or Stalled with the reason it was refused and
// a slow retry.
type AccountReconciler struct {
	Client client.Client
	// APIReader reads Secrets from the API server: only their metadata is cached.
	APIReader     client.Reader
	PartnerCenter partnercenter.Factory
	Clock         clock.PassiveClock
	// CredentialsNamespace is where account Secrets live. When set, a Secret reference
	// without a namespace means it, and one naming another namespace is refused.
	CredentialsNamespace string
	// WorkloadIdentityTokenPath is the manager's projected token (default
	// DefaultWorkloadIdentityTokenPath), used when an account names no tokenPath.
	WorkloadIdentityTokenPath string
	RetryInterval             time.Duration
	RefreshInterval           time.Duration

	backoff signInBackoff
}

// +kubebuilder:rbac:groups=partnercenter.partnercart.dev,resources=partnercenteraccounts,verbs=get;list;watch
// +kubebuilder:rbac:groups=partnercenter.partnercart.dev,resources=partnercenteraccounts/status,verbs=get;update;patch

// SetupWithManager registers the reconciler (the cache must have the indexes of AddIndexes);
// a change of a referenced Secret re-proves the account.
func (r *AccountReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.defaults()
	return ctrl.NewControllerManagedBy(mgr).
		// Only spec changes: our own status writes must not wake us, or a refused account would
		// sign in again at once instead of after its backoff.
		For(&pcv1alpha1.PartnerCenterAccount{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.accountsForSecret)).
		// Carts are counted (status.cartsUsing) when one starts or stops naming the account.
		Watches(&pcv1alpha1.PartnerCart{}, handler.EnqueueRequestsFromMapFunc(accountsOfCart),
			builder.WithPredicates(cartAccountsChanged())).
		Named("partnercenteraccount").
		Complete(r)
}

// defaults fills in the fields left zero.
func (r *AccountReconciler) defaults() {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	setDefault(&r.RetryInterval, DefaultAccountRetryInterval)
	setDefault(&r.RefreshInterval, DefaultAccountRefreshInterval)
	if r.WorkloadIdentityTokenPath == "" {
		r.WorkloadIdentityTokenPath = DefaultWorkloadIdentityTokenPath
	}
	r.backoff = signInBackoff{first: r.RetryInterval, max: maxAccountRetryInterval}
}

// accountsOfCart maps a cart to the accounts it uses.
func accountsOfCart(_ context.Context, obj client.Object) []reconcile.Request {
	names := cartAccounts(obj)
	out := make([]reconcile.Request, 0, len(names))
	for _, name := range names {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKey{Name: name}})
	}
	return out
}

// cartAccountsChanged passes the cart events that change which accounts it uses: creates,
// deletes, and updates of spec.accountRef or of the intent's account. A cart's other writes do
// not wake its account.
func cartAccountsChanged() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool { return len(cartAccounts(e.Object)) > 0 },
		DeleteFunc: func(e event.DeleteEvent) bool { return len(cartAccounts(e.Object)) > 0 },
		UpdateFunc: func(e event.UpdateEvent) bool {
			return !slices.Equal(cartAccounts(e.ObjectOld), cartAccounts(e.ObjectNew))
		},
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

// accountsForSecret maps a Secret to the accounts that name it.
func (r *AccountReconciler) accountsForSecret(ctx context.Context, obj client.Object) []reconcile.Request {
	list := &pcv1alpha1.PartnerCenterAccountList{}
	if err := r.Client.List(ctx, list); err != nil {
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		if key, ok := r.secretKey(&list.Items[i]); ok && key == client.ObjectKeyFromObject(obj) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKey{Name: list.Items[i].Name}})
		}
	}
	return out
}

// secretKey is the Secret an account names, with the credentials namespace filled in.
func (r *AccountReconciler) secretKey(acct *pcv1alpha1.PartnerCenterAccount) (client.ObjectKey, bool) {
	return accountSecretKey(acct, r.CredentialsNamespace)
}

// accountSecretKey is the Secret an account names, with credentialsNamespace filled in.
func accountSecretKey(acct *pcv1alpha1.PartnerCenterAccount, credentialsNamespace string) (client.ObjectKey, bool) {
	var ns, name string
	switch a := acct.Spec.Auth; {
	case a.ClientSecret != nil:
		ns, name = a.ClientSecret.SecretRef.Namespace, a.ClientSecret.SecretRef.Name
	case a.Certificate != nil:
		ns, name = a.Certificate.SecretRef.Namespace, a.Certificate.SecretRef.Name
	default:
		return client.ObjectKey{}, false
	}
	if ns == "" {
		ns = credentialsNamespace
	}
	return client.ObjectKey{Namespace: ns, Name: name}, true
}

// Reconcile obtains a token for the account and records the result.
func (r *AccountReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	acct := &pcv1alpha1.PartnerCenterAccount{}
	if err := r.Client.Get(ctx, req.NamespacedName, acct); err != nil {
		if apierrors.IsNotFound(err) {
			r.backoff.forget(req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := acct.DeepCopy()
	now := r.Clock.Now()
	st := &acct.Status
	st.AuthMethod = authMethodOf(acct)
	carts := &pcv1alpha1.PartnerCartList{}
	if err := r.Client.List(ctx, carts, client.MatchingFields{accountRefIndex: acct.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, fmt.Errorf("count PartnerCarts using the account: %w", err)
	}
	st.CartsUsing = int32(min(len(carts.Items), math.MaxInt32))

	credentials := r.credentialsVersion(ctx, acct)
	if wait := r.backoff.wait(acct.Name, credentials, now); wait > 0 {
		// Woken before the backoff ends (a cart started naming the account, say) with the
		// credentials that were refused: the refusal stands, and Entra ID is not asked again.
		return ctrl.Result{RequeueAfter: wait}, r.patchStatus(ctx, before, acct)
	}
	result, err := r.prove(ctx, acct)
	var refusal *accountRefusal
	switch {
	case err == nil:
		r.backoff.forget(acct.Name)
		// A token reused from the cache is not news: lastTokenAt moves at most every half
		// refresh interval, so counting carts does not rewrite the status each time.
		if st.LastTokenAt == nil || !apimeta.IsStatusConditionTrue(st.Conditions, pcv1alpha1.ReadyCondition) ||
			now.Sub(st.LastTokenAt.Time) >= r.RefreshInterval/2 {
			st.LastTokenAt = &metav1.Time{Time: now}
		}
		r.setConditions(acct, metav1.ConditionTrue, pcv1alpha1.TokenObtainedReason,
			fmt.Sprintf("Entra ID issued a token with the %s credentials", st.AuthMethod), false)
	case errors.As(err, &refusal):
		r.setConditions(acct, metav1.ConditionFalse, refusal.reason, refusal.message, refusal.stalled)
		result = ctrl.Result{RequeueAfter: r.backoff.refused(acct.Name, credentials, now)}
	default:
		return ctrl.Result{}, err
	}
	st.ObservedGeneration = acct.Generation
	return result, r.patchStatus(ctx, before, acct)
}

// patchStatus writes the account's status if the reconcile changed it. A refusal that reads
// as the one recorded changes nothing, so retrying a refused account writes nothing.
func (r *AccountReconciler) patchStatus(ctx context.Context, before, acct *pcv1alpha1.PartnerCenterAccount) error {
	if apiequalStatus(before, acct) {
		return nil
	}
	if err := r.Client.Status().Patch(ctx, acct, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("patch account status: %w", err)
	}
	return nil
}

// credentialsVersion names the credentials the account signs in with as they are now: its
// generation and its Secret's resourceVersion (from the metadata cache). A change of either
// is a new attempt, not a retry, so it ends the backoff.
func (r *AccountReconciler) credentialsVersion(ctx context.Context, acct *pcv1alpha1.PartnerCenterAccount) string {
	version := strconv.FormatInt(acct.Generation, 10)
	if key, ok := r.secretKey(acct); ok && key.Namespace != "" {
		meta := CoreMetadata("Secret")
		if err := r.Client.Get(ctx, key, meta); err == nil {
			version += "/" + meta.ResourceVersion
		}
	}
	return version
}

// accountRefusal is a failure to prove the account that the status explains.
type accountRefusal struct {
	reason, message string
	// stalled: only a person can fix it (as opposed to an unavailable token endpoint).
	stalled bool
}

func (e *accountRefusal) Error() string { return e.reason + ": " + e.message }

func refused(reason, format string, args ...any) error {
	return &accountRefusal{reason: reason, message: fmt.Sprintf(format, args...), stalled: true}
}

// prove reads the credentials and obtains a token.
func (r *AccountReconciler) prove(ctx context.Context, acct *pcv1alpha1.PartnerCenterAccount) (ctrl.Result, error) {
	creds, err := r.credentials(ctx, acct)
	if err != nil {
		return ctrl.Result{}, err
	}
	pc, err := r.PartnerCenter.ClientFor(creds)
	if err != nil {
		return ctrl.Result{}, refused(pcv1alpha1.AccountSecretInvalidReason, "%v", err)
	}
	prover, ok := pc.(partnercenter.TokenProver)
	if !ok {
		return ctrl.Result{RequeueAfter: r.RefreshInterval}, nil // a test double: nothing to prove
	}
	if err := prover.ProveToken(ctx); err != nil {
		switch partnercenter.Classify(err) {
		case partnercenter.ClassUnauthorized:
			reason := pcv1alpha1.TokenRefusedReason
			if creds.Method == partnercenter.AuthWorkloadIdentity && partnercenter.ErrorCode(err) == "invalid_credentials" {
				reason = pcv1alpha1.WorkloadIdentityUnavailableReason
			}
			return ctrl.Result{}, refused(reason, "%v", err)
		default:
			return ctrl.Result{}, &accountRefusal{reason: pcv1alpha1.TokenEndpointUnavailableReason, message: err.Error()}
		}
	}
	return ctrl.Result{RequeueAfter: r.RefreshInterval}, nil
}

// credentials resolves the account into partnercenter.Credentials, reading its Secret.
func (r *AccountReconciler) credentials(ctx context.Context, acct *pcv1alpha1.PartnerCenterAccount) (partnercenter.Credentials, error) {
	return accountSource{r.APIReader, r.CredentialsNamespace, r.WorkloadIdentityTokenPath}.credentials(ctx, acct)
}

// accountSource resolves PartnerCenterAccounts into credentials, for the account reconciler
// (which proves them) and the cart reconciler (which buys with them).
type accountSource struct {
	// reader reads Secrets from the API server: only their metadata is cached.
	reader                    client.Reader
	credentialsNamespace      string
	workloadIdentityTokenPath string
}

// credentials resolves the account into partnercenter.Credentials, reading its Secret. A
// refusal is an *accountRefusal saying what the platform team must fix.
func (a accountSource) credentials(ctx context.Context, acct *pcv1alpha1.PartnerCenterAccount) (partnercenter.Credentials, error) {
	creds := partnercenter.Credentials{TenantID: acct.Spec.TenantID, ClientID: acct.Spec.ClientID, Account: acct.Name}
	auth := acct.Spec.Auth
	if auth.WorkloadIdentity != nil {
		creds.Method = partnercenter.AuthWorkloadIdentity
		creds.TokenFile = auth.WorkloadIdentity.TokenPath
		if creds.TokenFile == "" {
			creds.TokenFile = a.workloadIdentityTokenPath
		}
		creds.TokenAudience = auth.WorkloadIdentity.Audience
		if creds.TokenAudience == "" {
			creds.TokenAudience = partnercenter.DefaultWorkloadIdentityAudience
		}
		return creds, nil
	}
	key, ok := accountSecretKey(acct, a.credentialsNamespace)
	if !ok {
		return creds, refused(pcv1alpha1.AccountSecretInvalidReason, "spec.auth names no sign-in method")
	}
	if key.Namespace == "" {
		return creds, refused(pcv1alpha1.AccountSecretNamespaceNotAllowedReason,
			"the Secret reference needs a namespace: the manager has no --credentials-namespace")
	}
	if a.credentialsNamespace != "" && key.Namespace != a.credentialsNamespace {
		return creds, refused(pcv1alpha1.AccountSecretNamespaceNotAllowedReason,
			"Secret %s is outside the credentials namespace %s", key, a.credentialsNamespace)
	}
	secret := &corev1.Secret{}
	if err := a.reader.Get(ctx, key, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return creds, refused(pcv1alpha1.AccountSecretNotFoundReason, "Secret %s does not exist", key)
		}
		return creds, fmt.Errorf("get account secret %s: %w", key, err)
	}
	value := func(k string) (string, error) {
		v := strings.TrimSpace(string(secret.Data[k]))
		if v == "" {
			return "", refused(pcv1alpha1.AccountSecretInvalidReason, "Secret %s lacks key %s", key, k)
		}
		return v, nil
	}
	var err error
	switch {
	case auth.ClientSecret != nil:
		k := auth.ClientSecret.SecretRef.Key
		if k == "" {
			k = pcv1alpha1.SecretKeyClientSecret
		}
		creds.Method = partnercenter.AuthClientSecret
		creds.ClientSecret, err = value(k)
	case auth.Certificate != nil:
		creds.Method = partnercenter.AuthCertificate
		creds.SigningAlgorithm = auth.Certificate.SigningAlgorithm
		if creds.CertificatePEM, err = value(pcv1alpha1.SecretKeyTLSCert); err == nil {
			creds.PrivateKeyPEM, err = value(pcv1alpha1.SecretKeyTLSKey)
		}
	}
	return creds, err
}

// setConditions writes Ready and its kstatus companions.
func (r *AccountReconciler) setConditions(acct *pcv1alpha1.PartnerCenterAccount, ready metav1.ConditionStatus, reason, message string, stalled bool) {
	state := summaryInProgress
	switch {
	case ready == metav1.ConditionTrue:
		state = summaryReady
	case stalled:
		state = summaryStalled
	}
	setSummary(&acct.Status.Conditions, acct.Generation, state, reason, message)
}

// signInBackoff spaces the sign-ins of a refused account: the first retry after first, each
// refusal in a row doubling the wait, up to max. It is kept per account and per credentials
// version, in memory: a success, a changed spec or a rotated Secret starts again from first,
// and so does a restarted manager (one early attempt). Any wake-up before the wait ends
// (a cart event, a resync) is answered without asking Entra ID, so a refused account costs a
// token request every 10 minutes at most once it has been failing for a while.
type signInBackoff struct {
	first, max time.Duration

	mu       sync.Mutex
	accounts map[string]refusals
}

// refusals are the refusals in a row of one account's credentials.
type refusals struct {
	credentials string // credentialsVersion of what was refused
	count       int
	next        time.Time // no sign-in before
}

// wait is how long the account must still wait before signing in with credentials; 0: now.
func (b *signInBackoff) wait(account, credentials string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.accounts[account]
	if !ok || r.credentials != credentials {
		return 0
	}
	return max(r.next.Sub(now), 0)
}

// refused records a refusal of credentials at now and returns the wait before the next try.
func (b *signInBackoff) refused(account, credentials string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.accounts == nil {
		b.accounts = map[string]refusals{}
	}
	r := b.accounts[account]
	if r.credentials != credentials {
		r = refusals{credentials: credentials}
	}
	r.count++
	wait := b.first
	for i := 1; i < r.count && wait < b.max; i++ {
		wait *= 2
	}
	wait = min(wait, b.max)
	r.next = now.Add(wait)
	b.accounts[account] = r
	return wait
}

// forget drops the account's refusals: it signed in, or it is gone.
func (b *signInBackoff) forget(account string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.accounts, account)
}

func authMethodOf(acct *pcv1alpha1.PartnerCenterAccount) string {
	switch a := acct.Spec.Auth; {
	case a.Certificate != nil:
		return pcv1alpha1.AuthMethodCertificate
	case a.WorkloadIdentity != nil:
		return pcv1alpha1.AuthMethodWorkloadIdentity
	default:
		return pcv1alpha1.AuthMethodClientSecret
	}
}

// apiequalStatus reports whether the reconcile changed nothing in the status.
func apiequalStatus(a, b *pcv1alpha1.PartnerCenterAccount) bool {
	return equality.Semantic.DeepEqual(a.Status, b.Status)
}
