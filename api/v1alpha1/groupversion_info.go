// Package v1alpha1 contains the PartnerCart API: a declarative Microsoft Partner Center cart
// that the operator creates, keeps equal to the spec, and checks out at most once after approval.
//
// +kubebuilder:object:generate=true
// +groupName=partnercenter.partnercart.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of the PartnerCart API.
	GroupVersion = schema.GroupVersion{Group: "partnercenter.partnercart.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the API types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the API types to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
