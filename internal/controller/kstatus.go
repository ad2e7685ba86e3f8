package controller

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/printable"
)

// summaryState is what the kstatus conditions (Ready, Reconciling, Stalled) say about an
// object; setSummary writes the three of them together, for carts and accounts alike.
type summaryState int

const (
	// summaryReady: Ready=True; no Reconciling, no Stalled.
	summaryReady summaryState = iota
	// summaryInProgress: Ready=False and Reconciling=True (work in flight, or retried).
	summaryInProgress
	// summaryWaiting: Ready=False, neither Reconciling nor Stalled (waiting for a person is not
	// work in flight).
	summaryWaiting
	// summaryStalled: Ready=False and Stalled=True.
	summaryStalled
)

// setSummary writes Ready and its kstatus companions with one reason and message, stamped with
// generation.
func setSummary(conditions *[]metav1.Condition, generation int64, state summaryState, reason, message string) {
	set := func(condType string, status metav1.ConditionStatus) {
		meta.SetStatusCondition(conditions, metav1.Condition{Type: condType, Status: status, Reason: reason,
			Message: printable.Truncate(message, 4096), ObservedGeneration: generation})
	}
	ready := metav1.ConditionFalse
	if state == summaryReady {
		ready = metav1.ConditionTrue
	}
	set(pcv1alpha1.ReadyCondition, ready)
	if state == summaryInProgress {
		set(pcv1alpha1.ReconcilingCondition, metav1.ConditionTrue)
	} else {
		meta.RemoveStatusCondition(conditions, pcv1alpha1.ReconcilingCondition)
	}
	if state == summaryStalled {
		set(pcv1alpha1.StalledCondition, metav1.ConditionTrue)
	} else {
		meta.RemoveStatusCondition(conditions, pcv1alpha1.StalledCondition)
	}
}
