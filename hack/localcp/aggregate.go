package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// aggregateRoles does, every interval until ctx ends, what kube-controller-manager's
// ClusterRole aggregation controller does in a cluster, which the local control plane (etcd and
// kube-apiserver only) does not run: it sets the rules of every ClusterRole with an
// aggregationRule (admin, edit, view, ...) to those of the ClusterRoles its selectors match.
// Without it the built-in roles have no rules at all, and a role labelled
// rbac.authorization.k8s.io/aggregate-to-edit (config/rbac/partnercart_editor_role.yaml)
// gives "edit" nothing.
func aggregateRoles(ctx context.Context, c client.Client, interval time.Duration) {
	for {
		if err := aggregateOnce(ctx, c); err != nil && ctx.Err() == nil {
			fmt.Fprintln(os.Stderr, "localcp: aggregate ClusterRoles:", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// aggregateOnce updates the aggregated ClusterRoles until none changes (edit is aggregated
// into admin, so a new rule of edit reaches admin on a second pass).
func aggregateOnce(ctx context.Context, c client.Client) error {
	for range 5 {
		var list rbacv1.ClusterRoleList
		if err := c.List(ctx, &list); err != nil {
			return err
		}
		changed := false
		for i := range list.Items {
			role := &list.Items[i]
			if role.AggregationRule == nil {
				continue
			}
			rules, err := aggregatedRules(role, list.Items)
			if err != nil {
				return fmt.Errorf("ClusterRole %s: %w", role.Name, err)
			}
			if equality.Semantic.DeepEqual(rules, role.Rules) {
				continue
			}
			role.Rules = rules
			if err := c.Update(ctx, role); err != nil {
				return fmt.Errorf("update ClusterRole %s: %w", role.Name, err)
			}
			changed = true
		}
		if !changed {
			return nil
		}
	}
	return nil
}

// aggregatedRules returns the rules of the ClusterRoles (other than role) that any of role's
// selectors match, in the order of their names (as List returns them), each rule once: the
// controller's algorithm.
func aggregatedRules(role *rbacv1.ClusterRole, all []rbacv1.ClusterRole) ([]rbacv1.PolicyRule, error) {
	var rules []rbacv1.PolicyRule
	matched := map[string]bool{}
	for _, sel := range role.AggregationRule.ClusterRoleSelectors {
		selector, err := metav1.LabelSelectorAsSelector(&sel)
		if err != nil {
			return nil, err
		}
		for _, other := range all {
			if other.Name == role.Name || matched[other.Name] || !selector.Matches(labels.Set(other.Labels)) {
				continue
			}
			matched[other.Name] = true
			for _, r := range other.Rules {
				if !slices.ContainsFunc(rules, func(have rbacv1.PolicyRule) bool { return equality.Semantic.DeepEqual(have, r) }) {
					rules = append(rules, r)
				}
			}
		}
	}
	return rules, nil
}
