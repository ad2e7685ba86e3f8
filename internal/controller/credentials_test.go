package controller

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

// TestCredentialsRotationAndCreationArePickedUp: a cart waiting on a missing Secret of its
// namespace, then on a refused secret, moves on once the Secret is created and then fixed,
// without a restart. The manager watches no Secret of a tenant's namespace (it may only get
// them), so the cart's slow credentials retry reads the Secret again.
func TestCredentialsRotationAndCreationArePickedUp(t *testing.T) {
	g := NewWithT(t)
	o := startOperator(t, operatorOptions{noSecret: true,
		reconciler: Options{CredentialsRetryInterval: time.Second}})
	o.create("rotate", withApproved())
	// Waiting for its credentials, the cart has been read: observedGeneration is current and
	// Reconciling says why, so Argo CD and Flux show the reason, not "waiting for the operator".
	o.eventually("rotate", 30*time.Second).Should(And(haveObservedItsGeneration(),
		haveCondition(pcv1alpha1.ReadyCondition, metav1.ConditionFalse, pcv1alpha1.CredentialsSecretNotFoundReason),
		haveCondition(pcv1alpha1.ReconcilingCondition, metav1.ConditionTrue, pcv1alpha1.CredentialsSecretNotFoundReason)))

	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: o.ns, Name: "partner-center"},
		StringData: map[string]string{pcv1alpha1.SecretKeyTenantID: testTenant, pcv1alpha1.SecretKeyClientID: testClientID, pcv1alpha1.SecretKeyClientSecret: "an-old-secret"}}
	g.Expect(env.Client.Create(t.Context(), secret)).To(Succeed())
	o.eventually("rotate", 30*time.Second).Should(And(haveObservedItsGeneration(),
		haveCondition(pcv1alpha1.ReadyCondition, metav1.ConditionFalse, pcv1alpha1.InvalidCredentialsReason)))
	g.Expect(conditionMessage(o.get("rotate"), pcv1alpha1.ReadyCondition)).NotTo(ContainSubstring("an-old-secret"))

	g.Eventually(func() error {
		s := &corev1.Secret{}
		if err := env.Client.Get(t.Context(), client.ObjectKeyFromObject(secret), s); err != nil {
			return err
		}
		s.Data[pcv1alpha1.SecretKeyClientSecret] = []byte(testClientSecret)
		return env.Client.Update(t.Context(), s)
	}).Should(Succeed())
	o.eventually("rotate", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))
}
