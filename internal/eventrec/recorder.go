// Package eventrec records the operator's Kubernetes Events (events.k8s.io/v1) through a
// bounded queue, and keeps nothing once an Event is sent.
//
// client-go's events.EventBroadcaster (what controller-runtime's GetEventRecorder uses) keeps
// every distinct Event it sent in a map for 6 to 12 minutes, to fold repeats into a series.
// The operator emits one Event per milestone, each with its own note (order IDs, request
// IDs), so nothing ever repeats and that map only grows with the carts bought: at 10 000
// carts it was the largest item of the manager's heap after the informer cache
// (docs/performance.md). Here an Event waits in a queue of at most QueueSize, a few senders
// create it, and it is forgotten. When the queue is full (the API server is far behind) an
// Event is dropped and counted, as client-go drops when its own queue is full; Events are a
// courtesy to people, never the record: status and receipts are.
package eventrec

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/partnercart/partnercart-operator/internal/printable"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/reference"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Defaults of Options.
const (
	DefaultQueueSize = 1000
	DefaultSenders   = 8
	// DefaultDrainTimeout bounds how long a stopping recorder keeps sending what is queued.
	DefaultDrainTimeout = 5 * time.Second
	// maxAttempts and retryDelay: an Event the API server could not take is tried again a
	// few times (a restarting API server, a timeout), then dropped.
	maxAttempts = 3
	retryDelay  = time.Second
)

// Options tune a Recorder; zero values take the defaults.
type Options struct {
	QueueSize    int
	Senders      int
	DrainTimeout time.Duration
	// Dropped counts the Events not sent (queue full, or refused after retries).
	Dropped prometheus.Counter
	Log     logr.Logger
}

// Recorder is an events.EventRecorder and a manager.Runnable: add it to the manager, which
// starts its senders on every replica (Events need no leadership).
type Recorder struct {
	client     client.Client
	scheme     *runtime.Scheme
	controller string
	instance   string
	opts       Options
	queue      chan *eventsv1.Event
}

var _ events.EventRecorder = (*Recorder)(nil)

// New returns a Recorder that creates Events with c, reported by controller (the
// reportingController of every Event) from this host.
func New(c client.Client, scheme *runtime.Scheme, controller string, opts Options) *Recorder {
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.Senders <= 0 {
		opts.Senders = DefaultSenders
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = DefaultDrainTimeout
	}
	if opts.Dropped == nil {
		opts.Dropped = prometheus.NewCounter(prometheus.CounterOpts{Name: "unregistered_events_dropped_total"})
	}
	host, _ := os.Hostname()
	return &Recorder{client: c, scheme: scheme, controller: controller, instance: controller + "-" + host,
		opts: opts, queue: make(chan *eventsv1.Event, opts.QueueSize)}
}

// Eventf queues an Event about regarding (and related, which may be nil). It never blocks.
func (r *Recorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	message := fmt.Sprintf(note, args...)
	ev, err := r.makeEvent(regarding, related, eventtype, reason, action, message)
	if err != nil {
		r.opts.Log.Error(err, "Event not recorded", "reason", reason, "note", message)
		r.opts.Dropped.Inc()
		return
	}
	r.opts.Log.V(1).Info("Event occurred", "object", ev.Regarding.Namespace+"/"+ev.Regarding.Name, "kind", ev.Regarding.Kind,
		"type", eventtype, "reason", reason, "note", message)
	select {
	case r.queue <- ev:
	default:
		r.opts.Log.Info("Event dropped: the queue is full", "object", ev.Regarding.Namespace+"/"+ev.Regarding.Name, "reason", reason)
		r.opts.Dropped.Inc()
	}
}

func (r *Recorder) makeEvent(regarding, related runtime.Object, eventtype, reason, action, message string) (*eventsv1.Event, error) {
	if eventtype != corev1.EventTypeNormal && eventtype != corev1.EventTypeWarning {
		return nil, fmt.Errorf("unsupported event type %q", eventtype)
	}
	ref, err := reference.GetReference(r.scheme, regarding)
	if err != nil {
		return nil, fmt.Errorf("reference the regarded object: %w", err)
	}
	var relatedRef *corev1.ObjectReference
	if related != nil {
		if relatedRef, err = reference.GetReference(r.scheme, related); err != nil {
			return nil, fmt.Errorf("reference the related object: %w", err)
		}
	}
	now := time.Now()
	ns := ref.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	return &eventsv1.Event{
		// The name client-go's recorder gives an Event: unique per object and nanosecond.
		ObjectMeta:          metav1.ObjectMeta{Name: fmt.Sprintf("%v.%x", ref.Name, now.UnixNano()), Namespace: ns},
		EventTime:           metav1.NewMicroTime(now),
		ReportingController: r.controller,
		ReportingInstance:   r.instance,
		Action:              action,
		Reason:              reason,
		Regarding:           *ref,
		Related:             relatedRef,
		Note:                printable.Truncate(message, maxNoteBytes),
		Type:                eventtype,
	}, nil
}

// maxNoteBytes is the API server's limit on an Event's note.
const maxNoteBytes = 1024

// Start sends queued Events until ctx ends, then, for at most the drain timeout, what is
// still queued or being sent (the Events of a checkout recorded during a shutdown).
func (r *Recorder) Start(ctx context.Context) error {
	sendCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stopDrain := context.AfterFunc(ctx, func() { time.AfterFunc(r.opts.DrainTimeout, cancel) })
	defer stopDrain()
	var wg sync.WaitGroup
	for range r.opts.Senders {
		wg.Go(func() {
			for {
				select {
				case ev := <-r.queue:
					r.send(sendCtx, ev)
				case <-ctx.Done():
					r.drain(sendCtx)
					return
				}
			}
		})
	}
	wg.Wait()
	return nil
}

// drain sends what is queued, without waiting for more.
func (r *Recorder) drain(ctx context.Context) {
	for {
		select {
		case ev := <-r.queue:
			r.send(ctx, ev)
		default:
			return
		}
	}
}

// NeedLeaderElection is false: every replica sends its own Events.
func (r *Recorder) NeedLeaderElection() bool { return false }

// send creates ev, retrying a few times when the API server could not take it.
func (r *Recorder) send(ctx context.Context, ev *eventsv1.Event) {
	var err error
	for attempt := range maxAttempts {
		ev.ResourceVersion = ""
		err = r.client.Create(ctx, ev)
		if err == nil || apierrors.IsAlreadyExists(err) {
			return
		}
		if permanent(err) || attempt == maxAttempts-1 {
			break
		}
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-time.After(retryDelay/2 + rand.N(retryDelay)):
			continue
		}
		break
	}
	r.opts.Log.Error(err, "Event dropped: the API server did not take it", "object", ev.Regarding.Namespace+"/"+ev.Regarding.Name, "reason", ev.Reason)
	r.opts.Dropped.Inc()
}

// permanent: the same Event would be refused again (invalid, forbidden, namespace gone or
// terminating).
func permanent(err error) bool {
	return apierrors.IsInvalid(err) || apierrors.IsForbidden(err) || apierrors.IsNotFound(err) || apierrors.IsBadRequest(err)
}
