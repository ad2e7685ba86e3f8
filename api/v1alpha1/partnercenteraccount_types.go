package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Sign-in methods of a PartnerCenterAccount, as status.authMethod shows them.
const (
	AuthMethodClientSecret     = "ClientSecret"
	AuthMethodCertificate      = "Certificate"
	AuthMethodWorkloadIdentity = "WorkloadIdentity"
)

// Reasons of a PartnerCenterAccount's conditions.
const (
	// TokenObtainedReason: Entra ID issued a token for the account's credentials.
	TokenObtainedReason = "TokenObtained"
	// AccountSecretNotFoundReason: the Secret the account names does not exist.
	AccountSecretNotFoundReason = "SecretNotFound"
	// AccountSecretInvalidReason: the Secret lacks a key, or holds an unusable certificate.
	AccountSecretInvalidReason = "SecretInvalid"
	// AccountSecretNamespaceNotAllowedReason: the Secret is outside the manager's credentials namespace.
	AccountSecretNamespaceNotAllowedReason = "SecretNamespaceNotAllowed"
	// WorkloadIdentityUnavailableReason: the manager's projected token cannot be read.
	WorkloadIdentityUnavailableReason = "WorkloadIdentityUnavailable"
	// TokenRefusedReason: Entra ID refused the credentials; the message has its AADSTS code.
	TokenRefusedReason = "TokenRefused"
	// TokenEndpointUnavailableReason: the token endpoint failed in a way worth retrying.
	TokenEndpointUnavailableReason = "TokenEndpointUnavailable"
)

// AccountSecretKeyReference names one key of a Secret.
type AccountSecretKeyReference struct {
	// namespace of the Secret; empty means the manager's credentials namespace.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`
	// name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// key in the Secret holding the client secret (default clientSecret).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key,omitempty"`
}

// AccountSecretReference names a Secret of the credentials namespace.
type AccountSecretReference struct {
	// namespace of the Secret; empty means the manager's credentials namespace.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`
	// name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// ClientSecretAuth signs in with the app's client secret.
type ClientSecretAuth struct {
	// secretRef names the Secret key holding the client secret.
	SecretRef AccountSecretKeyReference `json:"secretRef"`
}

// CertificateAuth signs in with a client assertion signed by the app certificate's key.
type CertificateAuth struct {
	// secretRef names a kubernetes.io/tls Secret: tls.crt (leaf first) and tls.key (RSA).
	SecretRef AccountSecretReference `json:"secretRef"`
	// signingAlgorithm of the client assertion (default PS256).
	// +optional
	// +kubebuilder:validation:Enum=PS256;RS256
	SigningAlgorithm string `json:"signingAlgorithm,omitempty"`
}

// WorkloadIdentityAuth signs in with the manager's projected service-account token as a
// federated client assertion; the app registration trusts the cluster's issuer.
type WorkloadIdentityAuth struct {
	// audience the projected token must carry (default api://AzureADTokenExchange).
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Audience string `json:"audience,omitempty"`
	// tokenPath is the projected token file in the manager's Pod; empty means the manager's
	// --workload-identity-token-path.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	// +kubebuilder:validation:Pattern=`^(/[^/\x00]+)+$`
	TokenPath string `json:"tokenPath,omitempty"`
}

// AccountAuth is how the account's app signs in: exactly one method.
// +kubebuilder:validation:XValidation:rule="(has(self.clientSecret) ? 1 : 0) + (has(self.certificate) ? 1 : 0) + (has(self.workloadIdentity) ? 1 : 0) == 1",message="auth needs exactly one of clientSecret, certificate, workloadIdentity"
type AccountAuth struct {
	// clientSecret: the app's client secret.
	// +optional
	ClientSecret *ClientSecretAuth `json:"clientSecret,omitempty"`
	// certificate: a signed client assertion (RS256/PS256 with x5t#S256).
	// +optional
	Certificate *CertificateAuth `json:"certificate,omitempty"`
	// workloadIdentity: the manager's service-account token as a federated credential.
	// +optional
	WorkloadIdentity *WorkloadIdentityAuth `json:"workloadIdentity,omitempty"`
}

// AccountNamespaces says which namespaces' PartnerCarts may use the account. A namespace is
// allowed when it is named or matches the selector; with neither, none is.
type AccountNamespaces struct {
	// selector matches namespace labels.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
	// names lists allowed namespaces.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=63
	Names []string `json:"names,omitempty"`
}

// AccountCustomer lets carts buy for one customer.
type AccountCustomer struct {
	// id is the customer's tenant ID, as in PartnerCart spec.customerId.
	// +required
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`
	ID string `json:"id"`
	// namespaces may buy for this customer; unset: every namespace the account allows.
	// +optional
	// +kubebuilder:validation:MaxItems=100
	// +listType=set
	Namespaces []string `json:"namespaces,omitempty"`
}

// PartnerCenterAccountSpec is an admin-owned partner app registration.
type PartnerCenterAccountSpec struct {
	// tenantId is the partner's Entra tenant (GUID or domain).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*$`
	TenantID string `json:"tenantId"`
	// clientId is the app registration's client (application) ID.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	ClientID string `json:"clientId"`
	// auth is how the app signs in.
	Auth AccountAuth `json:"auth"`
	// namespaces may use the account; none by default.
	// +optional
	Namespaces AccountNamespaces `json:"namespaces,omitempty"`
	// maxTotalPricePerCart is a ceiling no PartnerCart using this account can exceed.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^(0*[1-9][0-9]*(\.[0-9]+)?|0*\.[0-9]*[1-9][0-9]*|0+\.[0-9]*[1-9][0-9]*)$`
	MaxTotalPricePerCart string `json:"maxTotalPricePerCart,omitempty"`
	// customers limits whom the carts using this account may buy for: when set, a cart's
	// spec.customerId must be listed, by a entry that names the cart's namespace or no
	// namespace at all. Unset: any customer of the partner.
	// +optional
	// +kubebuilder:validation:MaxItems=1000
	// +listType=map
	// +listMapKey=id
	Customers []AccountCustomer `json:"customers,omitempty"`
}

// PartnerCenterAccountStatus is what the operator proved about the account.
type PartnerCenterAccountStatus struct {
	// observedGeneration is the generation last reconciled; -1 until the operator looked.
	// +optional
	// +kubebuilder:default=-1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// authMethod is the sign-in method in use, for the AUTH column.
	// +optional
	AuthMethod string `json:"authMethod,omitempty"`
	// lastTokenAt is when a token was last obtained.
	// +optional
	LastTokenAt *metav1.Time `json:"lastTokenAt,omitempty"`
	// cartsUsing is the number of PartnerCarts naming this account.
	// +optional
	CartsUsing int32 `json:"cartsUsing,omitempty"`
	// conditions are Ready (a token was obtained), Reconciling and Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// PartnerCenterAccount is a partner app's credentials, owned by the platform team, which
// PartnerCarts of allowed namespaces use without being able to read them.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=pcacct,categories=partnercenter
// +kubebuilder:printcolumn:name="Tenant",type=string,JSONPath=`.spec.tenantId`
// +kubebuilder:printcolumn:name="Client",type=string,JSONPath=`.spec.clientId`
// +kubebuilder:printcolumn:name="Auth",type=string,JSONPath=`.status.authMethod`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Carts",type=integer,JSONPath=`.status.cartsUsing`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=10
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PartnerCenterAccount struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the app registration and who may use it.
	// +required
	Spec PartnerCenterAccountSpec `json:"spec"`

	// status is what the operator proved.
	// +optional
	// +kubebuilder:default={"observedGeneration":-1}
	Status PartnerCenterAccountStatus `json:"status,omitempty"`
}

// PartnerCenterAccountList is a list of PartnerCenterAccounts.
//
// +kubebuilder:object:root=true
type PartnerCenterAccountList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PartnerCenterAccount `json:"items"`
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(GroupVersion, &PartnerCenterAccount{}, &PartnerCenterAccountList{})
		return nil
	})
}
