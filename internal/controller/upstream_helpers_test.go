package controller

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

// upstreamCalls is the number of answers pcsim gave, every operation (the token endpoint
// included) and every status together.
func upstreamCalls(o *operator) int {
	n := 0
	for _, byStatus := range o.sim.Stats().Requests {
		for _, c := range byStatus {
			n += c
		}
	}
	return n
}

// expectQuiet asserts that, over window from now, pcsim answers at most max more calls.
// It polls throughout the window (Consistently), so a hot loop fails as soon as it exceeds max.
func expectQuiet(o *operator, window time.Duration, max int, why string) {
	o.t.Helper()
	base := upstreamCalls(o)
	NewWithT(o.t).Consistently(func() int { return upstreamCalls(o) - base }).
		WithTimeout(window).WithPolling(50*time.Millisecond).
		Should(BeNumerically("<=", max), "%s (calls by operation: %v)", why, o.sim.Stats().Requests)
}

// tokenSpy is pcsim middleware that records every bearer token presented to the API, so a
// test can look for those exact tokens wherever the operator writes.
type tokenSpy struct {
	mu     sync.Mutex
	tokens map[string]bool
}

// spies maps an operator started by startSpiedOperator to its token spy.
var spies sync.Map // *operator -> *tokenSpy

// startSpiedOperator is startOperator with a tokenSpy in front of pcsim.
func startSpiedOperator(t *testing.T, opts operatorOptions) *operator {
	t.Helper()
	spy := &tokenSpy{tokens: map[string]bool{}}
	inner := opts.middleware
	opts.middleware = func(next http.Handler) http.Handler {
		if inner != nil {
			next = inner(next)
		}
		return spy.wrap(next)
	}
	o := startOperator(t, opts)
	spies.Store(o, spy)
	t.Cleanup(func() { spies.Delete(o) })
	return o
}

func (s *tokenSpy) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
			if token = strings.TrimSpace(token); token != "" {
				s.mu.Lock()
				s.tokens[token] = true
				s.mu.Unlock()
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (s *tokenSpy) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.tokens))
	for t := range s.tokens {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// assertNoSecretsLeaked fails the test if a client secret or a bearer token appears in any
// Event of the operator's namespace, in the JSON of any PartnerCart (status included), in any
// ConfigMap (receipts) or in the manager's logs. Secrets looked for: the harness's client
// secret and the clientSecret of the namespace's credentials Secret (so a deliberately wrong
// secret counts too). Tokens: every token pcsim saw (when the operator was started with
// startSpiedOperator) and, always, the literal "Bearer " of an Authorization header.
func assertNoSecretsLeaked(t *testing.T, o *operator) {
	t.Helper()
	g := NewWithT(t)
	ctx := t.Context()

	needles := map[string]string{testClientSecret: "the client secret", "Bearer ": `an Authorization header ("Bearer ")`}
	secret := &corev1.Secret{}
	err := env.Client.Get(ctx, client.ObjectKey{Namespace: o.ns, Name: "partner-center"}, secret)
	if err == nil {
		if v := strings.TrimSpace(string(secret.Data[pcv1alpha1.SecretKeyClientSecret])); v != "" {
			needles[v] = "the clientSecret of Secret " + o.ns + "/partner-center"
		}
	} else {
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "read the credentials Secret: %v", err)
	}
	if spy, ok := spies.Load(o); ok {
		for _, tok := range spy.(*tokenSpy).list() {
			needles[tok] = "a bearer token pcsim issued"
		}
	}

	var haystacks []struct{ where, text string }
	add := func(where string, v any) {
		b, err := json.Marshal(v)
		g.Expect(err).NotTo(HaveOccurred())
		haystacks = append(haystacks, struct{ where, text string }{where, string(b)})
	}
	events := &eventsv1.EventList{}
	g.Expect(env.Client.List(ctx, events, client.InNamespace(o.ns))).To(Succeed())
	for _, e := range events.Items {
		add("Event "+e.Name+" ("+e.Reason+")", e)
	}
	coreEvents := &corev1.EventList{}
	g.Expect(env.Client.List(ctx, coreEvents, client.InNamespace(o.ns))).To(Succeed())
	for _, e := range coreEvents.Items {
		add("core/v1 Event "+e.Name+" ("+e.Reason+")", e)
	}
	carts := &pcv1alpha1.PartnerCartList{}
	g.Expect(env.Client.List(ctx, carts, client.InNamespace(o.ns))).To(Succeed())
	for _, c := range carts.Items {
		add("PartnerCart "+c.Name+" status", c.Status)
		add("PartnerCart "+c.Name, c)
	}
	configMaps := 0
	for _, ns := range []string{o.ns, o.receiptNS} {
		list := &corev1.ConfigMapList{}
		g.Expect(env.Client.List(ctx, list, client.InNamespace(ns))).To(Succeed())
		for _, cm := range list.Items {
			add("ConfigMap "+ns+"/"+cm.Name, cm.Data)
		}
		configMaps += len(list.Items)
	}
	haystacks = append(haystacks, struct{ where, text string }{"manager logs", o.logs.String()})

	for needle, what := range needles {
		for _, h := range haystacks {
			if strings.Contains(h.text, needle) {
				t.Errorf("%s appears in %s", what, h.where)
			}
		}
	}
	t.Logf("leak check: %d secrets and tokens looked for in %d events, %d carts, %d config maps and the logs",
		len(needles), len(events.Items)+len(coreEvents.Items), len(carts.Items), configMaps)
}
