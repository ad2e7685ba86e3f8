package controller

import (
	"net/http"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// NewRESTMapper is the manager's REST mapper: controller-runtime's dynamic one, which asks the
// API server lazily, except for the core kinds the cache options name (ConfigMap, Secret,
// Namespace), whose mappings are fixed and answered without the API server. The cache checks
// the scope of every ByObject type when the manager is created, so without this a manager
// started while the API server is down would exit instead of waiting for it.
func NewRESTMapper(cfg *rest.Config, httpClient *http.Client) (meta.RESTMapper, error) {
	dynamic, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	core := meta.NewDefaultRESTMapper([]schema.GroupVersion{corev1.SchemeGroupVersion})
	core.Add(corev1.SchemeGroupVersion.WithKind("ConfigMap"), meta.RESTScopeNamespace)
	core.Add(corev1.SchemeGroupVersion.WithKind("Secret"), meta.RESTScopeNamespace)
	core.Add(corev1.SchemeGroupVersion.WithKind("Namespace"), meta.RESTScopeRoot)
	return &coreFirstMapper{RESTMapper: dynamic, core: core}, nil
}

// coreFirstMapper answers RESTMapping from core when it knows the kind, else from the
// embedded mapper.
type coreFirstMapper struct {
	meta.RESTMapper
	core *meta.DefaultRESTMapper
}

func (m *coreFirstMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	if mapping, err := m.core.RESTMapping(gk, versions...); err == nil {
		return mapping, nil
	}
	return m.RESTMapper.RESTMapping(gk, versions...)
}
