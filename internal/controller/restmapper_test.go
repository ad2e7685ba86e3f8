package controller

import (
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/partnercart/partnercart-operator/internal/testenv"
)

// TestCacheOptionsNeedNoAPIServer: the cache, with its ByObject settings, can be built while
// the API server is unreachable (a manager restarted during an API-server outage waits for it
// instead of exiting).
func TestCacheOptionsNeedNoAPIServer(t *testing.T) {
	g := NewWithT(t)
	cfg := &rest.Config{Host: "https://127.0.0.1:1"} // nothing listens there
	hc, err := rest.HTTPClientFor(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	mapper, err := NewRESTMapper(cfg, hc)
	g.Expect(err).NotTo(HaveOccurred())
	opts := CacheOptions(cache.Options{Scheme: testenv.NewScheme(), Mapper: mapper, HTTPClient: hc}, Options{ReceiptNamespace: "partnercart-system"})
	_, err = cache.New(cfg, opts)
	g.Expect(err).NotTo(HaveOccurred())
}
