// Package v1alpha1 contains the PartnerCart API: a declarative Microsoft Partner Center cart
// that the operator creates, keeps equal to the spec, and checks out at most once after approval.
//
// +kubebuilder:object:generate=true
// +groupName=partnercenter.partnercart.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of the PartnerCart API.
	GroupVersion = schema.GroupVersion{Group: "partnercenter.partnercart.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the API types with a runtime.Scheme. It depends on apimachinery
	// only, so other projects can import the API without controller-runtime.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the API types to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &PartnerCart{}, &PartnerCartList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
