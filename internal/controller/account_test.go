package controller

import (
	"context"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	"github.com/partnercart/partnercart-operator/internal/partnercenter/authtest"
	"github.com/partnercart/partnercart-operator/internal/pcsim"
)

const accountSA = "system:serviceaccount:partnercart-system:partnercart-controller-manager"

// accountWorld is pcsim (taking a secret, a certificate and a federated token for one app),
// a credentials namespace, a tenant namespace and a manager running the account and the cart
// reconcilers, as cmd/manager does with --credentials-namespace.
type accountWorld struct {
	t        *testing.T
	credNS   string
	tenantNS string
	prefix   string // account names are cluster-wide: each test's start with its namespace
	sim      *pcsim.Server
	cert     authtest.Certificate
	issuer   *authtest.Issuer
	logs     *syncBuffer
	tokenDir string
	// reconciles counts the account reconciler's runs (each reads its account first).
	reconciles *atomic.Int64
}

func startAccountWorld(t *testing.T, options ...func(*Options)) *accountWorld {
	t.Helper()
	g := NewWithT(t)
	w := &accountWorld{t: t, credNS: newNamespace(t), tenantNS: newNamespace(t), cert: authtest.NewCertificate(t), logs: &syncBuffer{}}
	w.prefix = w.credNS + "-"
	w.issuer = authtest.NewIssuer(t, "https://cluster.example/"+w.credNS)
	sim, err := pcsim.New(pcsim.Options{
		ClientID: testClientID, ClientSecret: testClientSecret,
		ClientCertificates: []*x509.Certificate{w.cert.Cert},
		Federated:          &pcsim.FederatedCredential{Issuer: w.issuer.URL, Subject: accountSA, JWKS: w.issuer.JWKS(t)},
	})
	g.Expect(err).NotTo(HaveOccurred())
	w.sim = sim
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)

	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:  env.Scheme,
		Logger:  zap.New(zap.WriteTo(w.logs), zap.UseDevMode(true)),
		Metrics: metricsserver.Options{BindAddress: "0"},
		// The manager's own namespace holds both the account Secrets and the receipts.
		Cache: CacheOptions(cache.Options{DefaultNamespaces: map[string]cache.Config{w.credNS: {}, w.tenantNS: {}}},
			Options{CredentialsNamespace: w.credNS, ReceiptNamespace: w.credNS}),
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	g.Expect(err).NotTo(HaveOccurred())
	w.tokenDir = t.TempDir()
	w.reconciles = &atomic.Int64{}
	r := &AccountReconciler{
		Client: accountReadCounter{mgr.GetClient(), w.reconciles}, APIReader: mgr.GetAPIReader(),
		PartnerCenter: partnercenter.NewFactory(partnercenter.Config{
			Endpoint: srv.URL, AuthorityHost: srv.URL, HTTPClient: &http.Client{Transport: &http.Transport{}},
		}),
		CredentialsNamespace:      w.credNS,
		WorkloadIdentityTokenPath: w.tokenDir + "/token",
		// Long: a Secret that appears or changes must be picked up by the watch, not a retry.
		RetryInterval: time.Hour,
	}
	g.Expect(AddIndexes(t.Context(), mgr.GetFieldIndexer())).To(Succeed())
	g.Expect(r.SetupWithManager(mgr)).To(Succeed())
	opts := Options{
		CredentialsNamespace: w.credNS, ReceiptNamespace: w.credNS, WorkloadIdentityTokenPath: r.WorkloadIdentityTokenPath,
		OrderPollInterval: 200 * time.Millisecond, CredentialsRetryInterval: 2 * time.Second, CheckoutTimeout: 2 * time.Second,
	}
	for _, o := range options {
		o(&opts)
	}
	carts := &PartnerCartReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: newTestRecorder(t, mgr),
		PartnerCenter: r.PartnerCenter, Options: opts, Admission: admissionInForce(t),
	}
	g.Expect(carts.SetupWithManager(mgr, 4)).To(Succeed())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		for _, leak := range []string{testClientSecret, w.cert.KeyPEM[40:80]} {
			if strings.Contains(w.logs.String(), leak) {
				t.Errorf("a secret or private key appears in the manager's logs")
			}
		}
		list := &pcv1alpha1.PartnerCenterAccountList{}
		_ = env.Client.List(context.Background(), list)
		for i := range list.Items {
			if strings.HasPrefix(list.Items[i].Name, w.prefix) {
				_ = env.Client.Delete(context.Background(), &list.Items[i])
			}
		}
	})
	return w
}

// accountReadCounter counts the reads of PartnerCenterAccounts through it.
type accountReadCounter struct {
	client.Client
	reads *atomic.Int64
}

func (c accountReadCounter) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*pcv1alpha1.PartnerCenterAccount); ok {
		c.reads.Add(1)
	}
	return c.Client.Get(ctx, key, obj, opts...)
}

func (w *accountWorld) secret(name string, data map[string]string) {
	w.t.Helper()
	NewWithT(w.t).Expect(env.Client.Create(w.t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.credNS, Name: name}, StringData: data,
	})).To(Succeed())
}

func (w *accountWorld) account(name string, auth pcv1alpha1.AccountAuth) string {
	w.t.Helper()
	acct := &pcv1alpha1.PartnerCenterAccount{
		ObjectMeta: metav1.ObjectMeta{Name: w.prefix + name},
		Spec:       pcv1alpha1.PartnerCenterAccountSpec{TenantID: testTenant, ClientID: testClientID, Auth: auth},
	}
	NewWithT(w.t).Expect(env.Client.Create(w.t.Context(), acct)).To(Succeed())
	return acct.Name
}

// eventuallyReady waits for the account's Ready condition to be status/reason.
func (w *accountWorld) eventuallyReady(name string, status metav1.ConditionStatus, reason string) *pcv1alpha1.PartnerCenterAccount {
	w.t.Helper()
	acct := &pcv1alpha1.PartnerCenterAccount{}
	NewWithT(w.t).Eventually(func() string {
		if err := env.Client.Get(w.t.Context(), client.ObjectKey{Name: name}, acct); err != nil {
			return err.Error()
		}
		c := apimeta.FindStatusCondition(acct.Status.Conditions, pcv1alpha1.ReadyCondition)
		if c == nil || acct.Status.ObservedGeneration != acct.Generation {
			return "not yet"
		}
		return string(c.Status) + "/" + c.Reason
	}).WithTimeout(20 * time.Second).WithPolling(50 * time.Millisecond).Should(Equal(string(status) + "/" + reason))
	return acct
}

func stalled(acct *pcv1alpha1.PartnerCenterAccount) *metav1.Condition {
	return apimeta.FindStatusCondition(acct.Status.Conditions, pcv1alpha1.StalledCondition)
}

func TestAccountReadyByEachSignInMethod(t *testing.T) {
	w := startAccountWorld(t)
	g := NewWithT(t)
	w.secret("app-secret", map[string]string{"clientSecret": testClientSecret})
	w.secret("app-cert", map[string]string{corev1.TLSCertKey: w.cert.CertPEM, corev1.TLSPrivateKeyKey: w.cert.KeyPEM})
	authtest.WriteTokenFile(t, w.tokenDir+"/token", w.issuer.Token(t, accountSA, pcsim.DefaultFederatedAudience, time.Now(), time.Hour))

	for method, auth := range map[string]pcv1alpha1.AccountAuth{
		pcv1alpha1.AuthMethodClientSecret:     {ClientSecret: &pcv1alpha1.ClientSecretAuth{SecretRef: pcv1alpha1.AccountSecretKeyReference{Name: "app-secret"}}},
		pcv1alpha1.AuthMethodCertificate:      {Certificate: &pcv1alpha1.CertificateAuth{SecretRef: pcv1alpha1.AccountSecretReference{Name: "app-cert"}, SigningAlgorithm: "RS256"}},
		pcv1alpha1.AuthMethodWorkloadIdentity: {WorkloadIdentity: &pcv1alpha1.WorkloadIdentityAuth{}},
	} {
		name := w.account(strings.ToLower(method), auth)
		acct := w.eventuallyReady(name, metav1.ConditionTrue, pcv1alpha1.TokenObtainedReason)
		g.Expect(acct.Status.AuthMethod).To(Equal(method))
		g.Expect(acct.Status.LastTokenAt).NotTo(BeNil())
		g.Expect(stalled(acct)).To(BeNil())
	}
	stats := w.sim.Stats().Requests
	g.Expect(stats).To(HaveKey("Token"))
	g.Expect(stats).To(HaveLen(1), "proving an account calls no Partner Center API")
}

func TestAccountRefusedWithAClearReason(t *testing.T) {
	w := startAccountWorld(t)
	g := NewWithT(t)
	other := authtest.NewCertificate(t)
	w.secret("wrong-secret", map[string]string{"clientSecret": "not-the-secret"})
	w.secret("stranger-cert", map[string]string{corev1.TLSCertKey: other.CertPEM, corev1.TLSPrivateKeyKey: other.KeyPEM})
	w.secret("no-key", map[string]string{corev1.TLSCertKey: w.cert.CertPEM})

	cases := []struct {
		name, reason, message string
		auth                  pcv1alpha1.AccountAuth
	}{
		{"wrong-secret", pcv1alpha1.TokenRefusedReason, "AADSTS7000215",
			pcv1alpha1.AccountAuth{ClientSecret: &pcv1alpha1.ClientSecretAuth{SecretRef: pcv1alpha1.AccountSecretKeyReference{Name: "wrong-secret"}}}},
		{"stranger-cert", pcv1alpha1.TokenRefusedReason, "AADSTS700027",
			pcv1alpha1.AccountAuth{Certificate: &pcv1alpha1.CertificateAuth{SecretRef: pcv1alpha1.AccountSecretReference{Name: "stranger-cert"}}}},
		{"no-key", pcv1alpha1.AccountSecretInvalidReason, "lacks key tls.key",
			pcv1alpha1.AccountAuth{Certificate: &pcv1alpha1.CertificateAuth{SecretRef: pcv1alpha1.AccountSecretReference{Name: "no-key"}}}},
		{"other-namespace", pcv1alpha1.AccountSecretNamespaceNotAllowedReason, "outside the credentials namespace",
			pcv1alpha1.AccountAuth{ClientSecret: &pcv1alpha1.ClientSecretAuth{SecretRef: pcv1alpha1.AccountSecretKeyReference{Namespace: "kube-system", Name: "x"}}}},
		{"no-token-file", pcv1alpha1.WorkloadIdentityUnavailableReason, "no such file",
			pcv1alpha1.AccountAuth{WorkloadIdentity: &pcv1alpha1.WorkloadIdentityAuth{TokenPath: w.tokenDir + "/absent"}}},
	}
	for _, tc := range cases {
		name := w.account(tc.name, tc.auth)
		acct := w.eventuallyReady(name, metav1.ConditionFalse, tc.reason)
		g.Expect(stalled(acct)).NotTo(BeNil(), tc.name)
		g.Expect(stalled(acct).Reason).To(Equal(tc.reason))
		ready := apimeta.FindStatusCondition(acct.Status.Conditions, pcv1alpha1.ReadyCondition)
		g.Expect(ready.Message).To(ContainSubstring(tc.message), tc.name)
		g.Expect(ready.Message).NotTo(ContainSubstring("not-the-secret"))
		g.Expect(ready.Message).NotTo(ContainSubstring("PRIVATE KEY"))
		g.Expect(acct.Status.LastTokenAt).To(BeNil())
	}
}

// The projected volume, not the account, decides the token's audience: an account naming
// another audience than the token carries is refused before anything is sent to Entra ID,
// rather than signing in with a credential it does not name.
func TestWorkloadIdentityAccountNamesItsAudience(t *testing.T) {
	w := startAccountWorld(t)
	g := NewWithT(t)
	authtest.WriteTokenFile(t, w.tokenDir+"/token", w.issuer.Token(t, accountSA, pcsim.DefaultFederatedAudience, time.Now(), time.Hour))

	other := w.account("other-audience", pcv1alpha1.AccountAuth{WorkloadIdentity: &pcv1alpha1.WorkloadIdentityAuth{Audience: "api://other"}})
	acct := w.eventuallyReady(other, metav1.ConditionFalse, pcv1alpha1.WorkloadIdentityUnavailableReason)
	g.Expect(stalled(acct)).NotTo(BeNil())
	ready := apimeta.FindStatusCondition(acct.Status.Conditions, pcv1alpha1.ReadyCondition)
	g.Expect(ready.Message).To(And(ContainSubstring(`"api://other"`), ContainSubstring(`"api://AzureADTokenExchange"`)))
	g.Expect(w.sim.Stats().Requests).NotTo(HaveKey("Token"), "nothing was sent to Entra ID")

	for name, audience := range map[string]string{"default-audience": "", "named-audience": pcsim.DefaultFederatedAudience} {
		w.eventuallyReady(w.account(name, pcv1alpha1.AccountAuth{WorkloadIdentity: &pcv1alpha1.WorkloadIdentityAuth{Audience: audience}}),
			metav1.ConditionTrue, pcv1alpha1.TokenObtainedReason)
	}
}

func TestAccountFollowsItsSecret(t *testing.T) {
	w := startAccountWorld(t)
	g := NewWithT(t)
	name := w.account("late", pcv1alpha1.AccountAuth{ClientSecret: &pcv1alpha1.ClientSecretAuth{
		SecretRef: pcv1alpha1.AccountSecretKeyReference{Name: "late-secret", Key: "secret"}}})
	w.eventuallyReady(name, metav1.ConditionFalse, pcv1alpha1.AccountSecretNotFoundReason)

	// The retry interval is an hour: only the Secret watch can bring these changes in.
	w.secret("late-secret", map[string]string{"secret": testClientSecret})
	w.eventuallyReady(name, metav1.ConditionTrue, pcv1alpha1.TokenObtainedReason)

	sec := &corev1.Secret{}
	g.Expect(env.Client.Get(t.Context(), client.ObjectKey{Namespace: w.credNS, Name: "late-secret"}, sec)).To(Succeed())
	sec.Data = map[string][]byte{"secret": []byte("rotated-to-a-wrong-value")}
	g.Expect(env.Client.Update(t.Context(), sec)).To(Succeed())
	acct := w.eventuallyReady(name, metav1.ConditionFalse, pcv1alpha1.TokenRefusedReason)
	g.Expect(acct.Status.LastTokenAt).NotTo(BeNil(), "the last good token is still recorded")
}

func TestAccountCRDValidation(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t) // for a unique name
	secretAuth := &pcv1alpha1.ClientSecretAuth{SecretRef: pcv1alpha1.AccountSecretKeyReference{Name: "s"}}
	for name, auth := range map[string]pcv1alpha1.AccountAuth{
		"none": {},
		"two":  {ClientSecret: secretAuth, WorkloadIdentity: &pcv1alpha1.WorkloadIdentityAuth{}},
	} {
		err := env.Client.Create(t.Context(), &pcv1alpha1.PartnerCenterAccount{
			ObjectMeta: metav1.ObjectMeta{Name: ns + "-" + name},
			Spec:       pcv1alpha1.PartnerCenterAccountSpec{TenantID: testTenant, ClientID: testClientID, Auth: auth},
		})
		g.Expect(err).To(MatchError(ContainSubstring("exactly one of clientSecret, certificate, workloadIdentity")), name)
	}
	err := env.Client.Create(t.Context(), &pcv1alpha1.PartnerCenterAccount{
		ObjectMeta: metav1.ObjectMeta{Name: ns + "-path"},
		Spec: pcv1alpha1.PartnerCenterAccountSpec{TenantID: "../common", ClientID: testClientID,
			Auth: pcv1alpha1.AccountAuth{ClientSecret: secretAuth}},
	})
	g.Expect(err).To(MatchError(ContainSubstring("spec.tenantId")))
}

// TestRefusedAccountBacksOff: an account whose secret Entra ID refuses (pcsim stamps every
// refusal with fresh trace and correlation IDs and the time, as Entra ID does) is retried after
// 30 s, then 1, 2, 4, 8 and 10 minutes, and no sooner whatever wakes it; a refusal that reads
// as the recorded one writes no status; a rotated Secret is tried at once and starts the
// backoff again. The reconciler runs on the API server with a fake clock, called as the work
// queue would.
func TestRefusedAccountBacksOff(t *testing.T) {
	g := NewWithT(t)
	credNS := newNamespace(t)
	sim, err := pcsim.New(pcsim.Options{ClientID: testClientID, ClientSecret: testClientSecret})
	g.Expect(err).NotTo(HaveOccurred())
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	tokenRequests := func() int {
		n := 0
		for _, c := range sim.Stats().Requests["Token"] {
			n += c
		}
		return n
	}
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		// The production cache: Secrets as metadata, trimmed, from the manager's namespace.
		Cache: CacheOptions(cache.Options{DefaultNamespaces: map[string]cache.Config{credNS: {}}},
			Options{CredentialsNamespace: credNS, ReceiptNamespace: credNS}),
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(AddIndexes(t.Context(), mgr.GetFieldIndexer())).To(Succeed())
	// The Secret watch of the account controller, which puts Secret metadata in the cache.
	_, err = mgr.GetCache().GetInformer(t.Context(), CoreMetadata("Secret"))
	g.Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	g.Expect(mgr.GetCache().WaitForCacheSync(t.Context())).To(BeTrue())

	clk := clocktesting.NewFakePassiveClock(time.Now())
	r := &AccountReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Clock: clk, CredentialsNamespace: credNS,
		PartnerCenter: partnercenter.NewFactory(partnercenter.Config{
			Endpoint: srv.URL, AuthorityHost: srv.URL, HTTPClient: &http.Client{Transport: &http.Transport{}},
		}),
	}
	r.defaults()

	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: credNS, Name: "app"}, StringData: map[string]string{"clientSecret": "not-the-secret"}}
	g.Expect(env.Client.Create(t.Context(), secret)).To(Succeed())
	acct := &pcv1alpha1.PartnerCenterAccount{
		ObjectMeta: metav1.ObjectMeta{Name: credNS + "-refused"},
		Spec: pcv1alpha1.PartnerCenterAccountSpec{TenantID: testTenant, ClientID: testClientID, Auth: pcv1alpha1.AccountAuth{
			ClientSecret: &pcv1alpha1.ClientSecretAuth{SecretRef: pcv1alpha1.AccountSecretKeyReference{Name: "app"}}}},
	}
	g.Expect(env.Client.Create(t.Context(), acct)).To(Succeed())
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), acct) })

	// reconcile runs the reconciler once the cache holds the account and the Secret as the API
	// server does, and returns the wait it asked for and the account as stored.
	reconcile := func() (time.Duration, *pcv1alpha1.PartnerCenterAccount) {
		t.Helper()
		stored, cached := &pcv1alpha1.PartnerCenterAccount{}, &pcv1alpha1.PartnerCenterAccount{}
		storedSecret, cachedSecret := &corev1.Secret{}, CoreMetadata("Secret")
		g.Expect(env.Client.Get(t.Context(), client.ObjectKeyFromObject(acct), stored)).To(Succeed())
		g.Expect(env.Client.Get(t.Context(), client.ObjectKeyFromObject(secret), storedSecret)).To(Succeed())
		g.Eventually(func() string {
			_ = mgr.GetClient().Get(t.Context(), client.ObjectKeyFromObject(acct), cached)
			_ = mgr.GetClient().Get(t.Context(), client.ObjectKeyFromObject(secret), cachedSecret)
			return cached.ResourceVersion + "/" + cachedSecret.ResourceVersion
		}).Should(Equal(stored.ResourceVersion + "/" + storedSecret.ResourceVersion))
		res, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(acct)})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(env.Client.Get(t.Context(), client.ObjectKeyFromObject(acct), stored)).To(Succeed())
		return res.RequeueAfter, stored
	}

	wait, got := reconcile()
	g.Expect(wait).To(Equal(30 * time.Second))
	g.Expect(tokenRequests()).To(Equal(1))
	ready := apimeta.FindStatusCondition(got.Status.Conditions, pcv1alpha1.ReadyCondition)
	g.Expect(ready).NotTo(BeNil())
	g.Expect(ready.Reason).To(Equal(pcv1alpha1.TokenRefusedReason))
	g.Expect(ready.Message).To(ContainSubstring("AADSTS7000215: Invalid client secret provided."))
	for _, perAnswer := range []string{"\r", "\n", "Trace ID", "Correlation ID", "Timestamp", "not-the-secret"} {
		g.Expect(ready.Message).NotTo(ContainSubstring(perAnswer))
	}
	written := got.ResourceVersion

	// Woken early (a cart event, say): the rest of the wait, and nothing sent to Entra ID.
	wait, _ = reconcile()
	g.Expect(wait).To(Equal(30 * time.Second))
	clk.SetTime(clk.Now().Add(10 * time.Second))
	wait, got = reconcile()
	g.Expect(wait).To(Equal(20 * time.Second))
	g.Expect(tokenRequests()).To(Equal(1))
	g.Expect(got.ResourceVersion).To(Equal(written))

	// Each retry is refused again (with new IDs in Entra ID's answer) and waits twice as long,
	// up to 10 minutes; the status, which says the same, is not written again.
	clk.SetTime(clk.Now().Add(wait))
	for i, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 10 * time.Minute, 10 * time.Minute} {
		wait, got = reconcile()
		g.Expect(wait).To(Equal(want), "retry %d", i+1)
		g.Expect(tokenRequests()).To(Equal(i+2), "retry %d", i+1)
		g.Expect(got.ResourceVersion).To(Equal(written), "retry %d rewrote the status", i+1)
		clk.SetTime(clk.Now().Add(wait - time.Second))
		early, _ := reconcile()
		g.Expect(early).To(Equal(time.Second))
		g.Expect(tokenRequests()).To(Equal(i+2), "no sign-in before the backoff ends")
		clk.SetTime(clk.Now().Add(time.Second))
	}

	// A rotated Secret is a new attempt: tried at once, and the backoff starts again.
	secret.StringData = map[string]string{"clientSecret": "still-not-the-secret"}
	g.Expect(env.Client.Update(t.Context(), secret)).To(Succeed())
	before := tokenRequests()
	wait, _ = reconcile()
	g.Expect(wait).To(Equal(30 * time.Second))
	g.Expect(tokenRequests()).To(Equal(before + 1))

	// The right secret signs in at once.
	secret.StringData = map[string]string{"clientSecret": testClientSecret}
	g.Expect(env.Client.Update(t.Context(), secret)).To(Succeed())
	wait, got = reconcile()
	g.Expect(wait).To(Equal(DefaultAccountRefreshInterval))
	g.Expect(apimeta.IsStatusConditionTrue(got.Status.Conditions, pcv1alpha1.ReadyCondition)).To(BeTrue())
}

// TestAccountIgnoresItsOwnStatusWrites: the account controller is not woken by its own status
// writes (with an Entra ID that words every refusal differently, each write would wake it
// again: 930 token requests in 30 s). Between two cart events, each of which changes the
// account's status.cartsUsing, it runs exactly once, and Entra ID is asked once in all.
func TestAccountIgnoresItsOwnStatusWrites(t *testing.T) {
	w := startAccountWorld(t)
	g := NewWithT(t)
	w.secret("wrong-secret", map[string]string{"clientSecret": "not-the-secret"})
	// The account does not allow the tenant: its cart stalls without signing in itself.
	name := w.account("refused", pcv1alpha1.AccountAuth{ClientSecret: &pcv1alpha1.ClientSecretAuth{
		SecretRef: pcv1alpha1.AccountSecretKeyReference{Name: "wrong-secret"}}})
	acct := w.eventuallyReady(name, metav1.ConditionFalse, pcv1alpha1.TokenRefusedReason)
	ready := apimeta.FindStatusCondition(acct.Status.Conditions, pcv1alpha1.ReadyCondition)
	g.Expect(ready.Message).To(ContainSubstring("AADSTS7000215"))
	g.Expect(ready.Message).NotTo(ContainSubstring("Trace ID"))

	cartsUsing := func() int32 {
		a := &pcv1alpha1.PartnerCenterAccount{}
		g.Expect(env.Client.Get(t.Context(), client.ObjectKey{Name: name}, a)).To(Succeed())
		return a.Status.CartsUsing
	}
	w.cart("uses-it", name)
	g.Eventually(cartsUsing).WithTimeout(20 * time.Second).Should(Equal(int32(1)))
	runs := w.reconciles.Load()

	cart := &pcv1alpha1.PartnerCart{ObjectMeta: metav1.ObjectMeta{Namespace: w.tenantNS, Name: "uses-it"}}
	g.Expect(env.Client.Delete(t.Context(), cart)).To(Succeed())
	g.Eventually(cartsUsing).WithTimeout(20 * time.Second).Should(Equal(int32(0)))

	g.Expect(w.reconciles.Load()-runs).To(Equal(int64(1)), "only the cart's deletion woke the account")
	g.Expect(w.requests("Token")).To(Equal(1), "the refused secret was sent once: the retry is an hour away")
}
