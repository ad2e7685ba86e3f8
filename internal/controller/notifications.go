package controller

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/partnercart/partnercart-operator/internal/eventrec"
)

// fluxNotificationsDropped counts the Events that did not reach Flux's notification-controller.
var fluxNotificationsDropped = prometheus.NewCounter(prometheus.CounterOpts{
	Name: "partnercart_flux_notifications_dropped_total",
	Help: "Events not forwarded to Flux's notification-controller (--events-addr): the queue was full, or it refused them or was away after retries. The Kubernetes Events, status and receipts are unaffected.",
})

func init() {
	metrics.Registry.MustRegister(fluxNotificationsDropped)
}

// WithFluxNotifications returns recorder, and, with an events address (--events-addr, the
// convention of Flux's controllers), a recorder that also forwards each Event about an object
// a Flux Kustomization or HelmRelease applied to Flux's notification-controller, whose Alerts
// then route "waiting for approval", "bought" and every Warning to Slack, Teams or a webhook.
// The forwarder is added to mgr, so it sends while the manager runs.
func WithFluxNotifications(mgr ctrl.Manager, recorder events.EventRecorder, address, controllerName string) (events.EventRecorder, error) {
	if address == "" {
		return recorder, nil
	}
	fwd, err := eventrec.NewForwarder(address, controllerName, mgr.GetScheme(),
		eventrec.Options{Dropped: fluxNotificationsDropped, Log: mgr.GetLogger().WithName("flux-notifications")})
	if err != nil {
		return nil, err
	}
	if err := mgr.Add(fwd); err != nil {
		return nil, fmt.Errorf("add the Flux notification forwarder: %w", err)
	}
	return eventrec.Tee{recorder, fwd}, nil
}
