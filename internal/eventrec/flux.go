package eventrec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	eventv1 "github.com/fluxcd/pkg/apis/event/v1beta1"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/partnercart/partnercart-operator/internal/printable"
)

// Forwarder sends the operator's Events to Flux's notification-controller, as Flux's own
// controllers do with --events-addr, so that Flux Alerts and Providers (Slack, Microsoft
// Teams, a generic webhook, ...) tell people where they work that a cart waits for approval
// (WaitingForApproval), was bought (OrdersCreated) or needs them (Warnings).
//
// A Flux Alert selects events by the kind of their involved object, from a fixed list of Flux
// kinds: notification-controller's schema refuses any other. So an Event about an object that
// a Flux Kustomization or HelmRelease applied (its kustomize.toolkit.fluxcd.io/name and
// /namespace labels, or helm.toolkit.fluxcd.io's) is sent as an event of that Kustomization or
// HelmRelease, with the object named in the message and in metadata; an Alert on that
// Kustomization then routes it. Events about objects no Flux object applied are not sent:
// no Alert could select them (they are still Kubernetes Events).
//
// Like Recorder, it queues at most QueueSize events, sends them from a few goroutines, and
// drops (and counts) what it cannot send: notifications are a courtesy, never the record.
type Forwarder struct {
	address    string
	scheme     *runtime.Scheme
	controller string
	instance   string
	client     *http.Client
	opts       Options
	queue      chan *eventv1.Event
}

var _ events.EventRecorder = (*Forwarder)(nil)

// fluxAppliers are the labels by which Flux marks what it applied: the applier's kind, API
// version and the labels holding its name and namespace.
var fluxAppliers = []struct {
	kind, apiVersion, nameLabel, namespaceLabel string
}{
	{"Kustomization", "kustomize.toolkit.fluxcd.io/v1", "kustomize.toolkit.fluxcd.io/name", "kustomize.toolkit.fluxcd.io/namespace"},
	{"HelmRelease", "helm.toolkit.fluxcd.io/v2", "helm.toolkit.fluxcd.io/name", "helm.toolkit.fluxcd.io/namespace"},
}

// NewForwarder returns a Forwarder posting to address (notification-controller's events
// endpoint, e.g. http://notification-controller.flux-system.svc.cluster.local./), reported
// by controller from this host; scheme names the kinds of the objects Events are about.
func NewForwarder(address, controller string, scheme *runtime.Scheme, opts Options) (*Forwarder, error) {
	u, err := url.Parse(address)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--events-addr %q is not an http(s) URL of Flux's notification-controller", address)
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.Senders <= 0 {
		opts.Senders = 2
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = DefaultDrainTimeout
	}
	if opts.Dropped == nil {
		opts.Dropped = prometheus.NewCounter(prometheus.CounterOpts{Name: "unregistered_flux_events_dropped_total"})
	}
	host, _ := os.Hostname()
	return &Forwarder{address: address, scheme: scheme, controller: controller, instance: controller + "-" + host,
		client: &http.Client{Timeout: 10 * time.Second}, opts: opts, queue: make(chan *eventv1.Event, opts.QueueSize)}, nil
}

// Eventf queues the Flux event of an Event about regarding, if a Flux object applied it. It
// never blocks.
func (f *Forwarder) Eventf(regarding, _ runtime.Object, eventtype, reason, _, note string, args ...any) {
	ev := f.fluxEvent(regarding, eventtype, reason, fmt.Sprintf(note, args...))
	if ev == nil {
		return
	}
	select {
	case f.queue <- ev:
	default:
		f.opts.Log.Info("Flux notification dropped: the queue is full", "object", ev.Metadata[f.key(ev, "object")], "reason", reason)
		f.opts.Dropped.Inc()
	}
}

// fluxEvent is the event notification-controller takes for an Event about regarding, or nil
// when no Flux object applied regarding.
func (f *Forwarder) fluxEvent(regarding runtime.Object, eventtype, reason, message string) *eventv1.Event {
	obj, ok := regarding.(client.Object)
	if !ok {
		return nil
	}
	labels := obj.GetLabels()
	for _, a := range fluxAppliers {
		name, namespace := labels[a.nameLabel], labels[a.namespaceLabel]
		if name == "" || namespace == "" {
			continue
		}
		kind := "object"
		if gvk, err := apiutil.GVKForObject(obj, f.scheme); err == nil {
			kind = gvk.Kind
		}
		object := obj.GetNamespace() + "/" + obj.GetName()
		if obj.GetNamespace() == "" {
			object = obj.GetName()
		}
		severity := eventv1.EventSeverityInfo
		if eventtype == corev1.EventTypeWarning {
			severity = eventv1.EventSeverityError
		}
		ev := &eventv1.Event{
			InvolvedObject:      corev1.ObjectReference{APIVersion: a.apiVersion, Kind: a.kind, Name: name, Namespace: namespace},
			Severity:            severity,
			Timestamp:           metav1.Now(),
			Message:             printable.Truncate(kind+" "+object+": "+message, maxFluxMessage),
			Reason:              reason,
			ReportingController: f.controller,
			ReportingInstance:   f.instance,
		}
		// notification-controller keeps only the metadata keys prefixed with the involved
		// object's API group (and strips the prefix): "partnercart: tenant/e5" in Slack.
		ev.Metadata = map[string]string{
			f.key(ev, "object"): object,
			f.key(ev, "kind"):   kind,
			f.key(ev, "uid"):    string(obj.GetUID()),
		}
		return ev
	}
	return nil
}

// maxFluxMessage is notification-controller's limit on a message.
const maxFluxMessage = 39000

// key is a metadata key notification-controller keeps for ev: prefixed with the group of its
// involved object.
func (f *Forwarder) key(ev *eventv1.Event, name string) string {
	return ev.InvolvedObject.GroupVersionKind().Group + "/" + name
}

// Start sends queued events until ctx ends, then, for at most the drain timeout, what is
// still queued.
func (f *Forwarder) Start(ctx context.Context) error {
	sendCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stopDrain := context.AfterFunc(ctx, func() { time.AfterFunc(f.opts.DrainTimeout, cancel) })
	defer stopDrain()
	var wg sync.WaitGroup
	for range f.opts.Senders {
		wg.Go(func() {
			for {
				select {
				case ev := <-f.queue:
					f.send(sendCtx, ev)
				case <-ctx.Done():
					for {
						select {
						case ev := <-f.queue:
							f.send(sendCtx, ev)
						default:
							return
						}
					}
				}
			}
		})
	}
	wg.Wait()
	return nil
}

// NeedLeaderElection is false: every replica forwards its own Events.
func (f *Forwarder) NeedLeaderElection() bool { return false }

// send posts ev, trying again a few times when notification-controller is away or answers 5xx.
func (f *Forwarder) send(ctx context.Context, ev *eventv1.Event) {
	body, err := json.Marshal(ev)
	if err == nil {
		for attempt := range maxAttempts {
			var retry bool
			if retry, err = f.post(ctx, body); err == nil || !retry || attempt == maxAttempts-1 {
				break
			}
			select {
			case <-ctx.Done():
				err = errors.Join(err, ctx.Err())
			case <-time.After(retryDelay/2 + rand.N(retryDelay)):
				continue
			}
			break
		}
	}
	if err != nil {
		f.opts.Log.Error(err, "Flux notification dropped", "involvedObject", ev.InvolvedObject.Namespace+"/"+ev.InvolvedObject.Name, "reason", ev.Reason)
		f.opts.Dropped.Inc()
	}
}

// post sends one event; retry says whether the same post may succeed later.
func (f *Forwarder) post(ctx context.Context, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.address, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return true, err
	}
	_ = resp.Body.Close()
	switch {
	case resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return true, fmt.Errorf("notification-controller answered %s", resp.Status)
	}
	return false, fmt.Errorf("notification-controller refused the event: %s", resp.Status)
}

// Tee is an events.EventRecorder that records every Event with each of its recorders: the
// Kubernetes Event, and its Flux notification.
type Tee []events.EventRecorder

// Eventf records the Event with every recorder.
func (t Tee) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	for _, r := range t {
		r.Eventf(regarding, related, eventtype, reason, action, note, args...)
	}
}
