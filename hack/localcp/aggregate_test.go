package main

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestAggregatedRules(t *testing.T) {
	sel := func(label string) *rbacv1.AggregationRule {
		return &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{label: "true"}}}}
	}
	get := rbacv1.PolicyRule{APIGroups: []string{"partnercenter.partnercart.dev"}, Resources: []string{"partnercarts"}, Verbs: []string{"get"}}
	create := rbacv1.PolicyRule{APIGroups: []string{"partnercenter.partnercart.dev"}, Resources: []string{"partnercarts"}, Verbs: []string{"create"}}
	edit := rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "edit"}, AggregationRule: sel("rbac.authorization.k8s.io/aggregate-to-edit")}
	all := []rbacv1.ClusterRole{
		{ObjectMeta: metav1.ObjectMeta{Name: "approver"}, Rules: []rbacv1.PolicyRule{{Verbs: []string{"approve"}}}},
		edit,
		{ObjectMeta: metav1.ObjectMeta{Name: "editor-role", Labels: map[string]string{"rbac.authorization.k8s.io/aggregate-to-edit": "true"}},
			Rules: []rbacv1.PolicyRule{get, create}},
		{ObjectMeta: metav1.ObjectMeta{Name: "viewer-role", Labels: map[string]string{"rbac.authorization.k8s.io/aggregate-to-edit": "true"}},
			Rules: []rbacv1.PolicyRule{get}},
	}
	rules, err := aggregatedRules(&edit, all)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 2 || rules[0].Verbs[0] != "get" || rules[1].Verbs[0] != "create" {
		t.Errorf("edit aggregates %v, want the editor's get and create once, not the approver's approve", rules)
	}
}
