package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/harness"
)

// gitops is what people and GitOps tools do to the carts during a run: approvals revoked,
// Completed carts pruned and re-applied. Its goroutines record what the API server
// acknowledged, for the checks.
type gitops struct {
	mu          sync.Mutex
	revoked     map[types.UID]harness.Revocation
	revokedKeys map[string]types.UID // namespace/name -> UID of the object revoked
	pruned      []pcv1alpha1.PartnerCart
	reapplied   map[string]types.UID // namespace/name -> UID of the re-applied object
	waiting     map[string]bool      // carts to prune once Completed, not yet pruned
	inProgress  map[string]bool      // carts being pruned and re-applied
	revokesDone chan struct{}
	reapplyDone chan struct{}
}

func newGitops() *gitops {
	return &gitops{
		revoked: map[types.UID]harness.Revocation{}, revokedKeys: map[string]types.UID{}, reapplied: map[string]types.UID{},
		waiting: map[string]bool{}, inProgress: map[string]bool{},
		revokesDone: make(chan struct{}), reapplyDone: make(chan struct{}),
	}
}

// done reports whether every revoke and re-apply has been made (or given up on).
func (g *gitops) done() bool {
	for _, ch := range []chan struct{}{g.revokesDone, g.reapplyDone} {
		select {
		case <-ch:
		default:
			return false
		}
	}
	return true
}

// describePending names the re-applies not made yet, for progress and deadline reports.
func (g *gitops) describePending() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	keys := make([]string, 0, len(g.waiting)+len(g.inProgress))
	for k := range g.waiting {
		keys = append(keys, k+" (waiting for Completed)")
	}
	for k := range g.inProgress {
		keys = append(keys, k+" (being pruned and re-applied)")
	}
	if len(keys) == 0 {
		return ""
	}
	sort.Strings(keys)
	return "; re-applies not done: " + strings.Join(keys, ", ")
}

// revoke sets spec.approval.approved to false on each planned cart at its planned moment
// after t0 (when the creations started), and records the API server's acknowledgement.
func (g *gitops) revoke(ctx context.Context, r *chaosRun, c client.Client, p *plan, t0 time.Time) {
	defer close(g.revokesDone)
	for _, rv := range p.revokes {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(t0.Add(rv.after))):
		}
		cart := p.carts[rv.idx]
		stored, at, err := harness.RevokeApproval(ctx, c, cart.Namespace, cart.Name)
		if err != nil {
			r.fail("%v", err)
			continue
		}
		rec := harness.RevocationOf(stored, at)
		g.mu.Lock()
		g.revoked[stored.UID] = rec
		g.revokedKeys[cart.Namespace+"/"+cart.Name] = stored.UID
		g.mu.Unlock()
		r.logf("revoked the approval of %s/%s (resourceVersion %s, phase %q, %s)", cart.Namespace, cart.Name, rec.ResourceVersion,
			stored.Status.Phase, map[bool]string{true: "after its checkout intent", false: "before any checkout intent"}[rec.IntentSeen])
	}
}

// reapplyCompleted waits for each cart planned for it to be Completed, then deletes it and
// re-applies the same name and spec, as an Argo CD prune and re-sync would. A planned cart
// that ends otherwise is left alone (checkOutcomes reports it).
func (g *gitops) reapplyCompleted(ctx context.Context, r *chaosRun, c client.Client, p *plan, prog *progress) {
	defer close(g.reapplyDone)
	g.mu.Lock()
	for k := range p.reapply {
		g.waiting[k] = true
	}
	g.mu.Unlock()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		for _, cart := range g.ready(prog.snapshot()) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				g.pruneAndReapply(ctx, r, c, cart, p.specs[cart.Namespace+"/"+cart.Name])
			}()
		}
		g.mu.Lock()
		left := len(g.waiting)
		g.mu.Unlock()
		if left == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// ready takes from the waiting carts those the list shows terminal: the Completed ones are
// returned for pruning, the others are dropped.
func (g *gitops) ready(list []pcv1alpha1.PartnerCart) []*pcv1alpha1.PartnerCart {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*pcv1alpha1.PartnerCart
	for i := range list {
		key := list[i].Namespace + "/" + list[i].Name
		if !g.waiting[key] {
			continue
		}
		switch harness.OutcomeOf(&list[i]) {
		case harness.Completed:
			delete(g.waiting, key)
			g.inProgress[key] = true
			out = append(out, list[i].DeepCopy())
		case harness.Stalled, harness.AwaitingApproval:
			delete(g.waiting, key)
		}
	}
	return out
}

func (g *gitops) pruneAndReapply(ctx context.Context, r *chaosRun, c client.Client, cart *pcv1alpha1.PartnerCart, spec *pcv1alpha1.PartnerCartSpec) {
	key := cart.Namespace + "/" + cart.Name
	defer func() {
		g.mu.Lock()
		delete(g.inProgress, key)
		g.mu.Unlock()
	}()
	last, err := harness.DeleteAndWait(ctx, c, cart)
	if err != nil {
		r.fail("prune %s: %v", key, err)
		return
	}
	g.mu.Lock()
	g.pruned = append(g.pruned, *last)
	g.mu.Unlock()
	again, err := harness.Reapply(ctx, c, cart.Namespace, cart.Name, spec)
	if err != nil {
		r.fail("re-apply %s: %v", key, err)
		return
	}
	g.mu.Lock()
	g.reapplied[key] = again.UID
	g.mu.Unlock()
	r.logf("pruned %s (uid %s, orders %d) and re-applied it (uid %s)", key, cart.UID, len(last.Status.Orders), again.UID)
}

// revocation returns the acknowledged revoke of the object, if its approval was revoked.
func (g *gitops) revocation(c *pcv1alpha1.PartnerCart) (harness.Revocation, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	rev, ok := g.revoked[c.UID]
	return rev, ok
}

// isReapplied reports whether the object is one the run re-applied.
func (g *gitops) isReapplied(c *pcv1alpha1.PartnerCart) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	uid, ok := g.reapplied[c.Namespace+"/"+c.Name]
	return ok && uid == c.UID
}

// describe is a summary for the log.
func (g *gitops) describe() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return fmt.Sprintf("%d approvals revoked, %d carts pruned, %d re-applied", len(g.revoked), len(g.pruned), len(g.reapplied))
}
