package controller

import (
	"testing"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Each case uses its own currency label, so that the package-level counters do not mix
// cases (or other tests of the package).
func TestSpendNeverPanicsAndCountsOnlyNonNegativeFiniteTotals(t *testing.T) {
	tests := []struct {
		name        string
		currency    string
		totals      []string
		wantSpend   float64
		wantSkipped map[string]float64 // by reason
	}{
		{name: "positive totals add up", currency: "T01", totals: []string{"1425.00", "0.50", "0"}, wantSpend: 1425.5},
		{name: "no price is not counted", currency: "T02", totals: []string{"", "12"}, wantSpend: 12},
		{name: "negative total is a refund, not spend", currency: "T03", totals: []string{"-30.40", "10"}, wantSpend: 10,
			wantSkipped: map[string]float64{spendSkippedNegative: 1}},
		{name: "negative zero", currency: "T04", totals: []string{"-0"}, wantSpend: 0},
		{name: "too large for a float", currency: "T05", totals: []string{"1e400", "-1e400"},
			wantSkipped: map[string]float64{spendSkippedNotFinite: 2}},
		{name: "not finite", currency: "T06", totals: []string{"NaN", "Inf", "-Inf"},
			wantSkipped: map[string]float64{spendSkippedNotFinite: 3}},
		{name: "not a number", currency: "T07", totals: []string{"twelve", "1/0"},
			wantSkipped: map[string]float64{spendSkippedUnparsable: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)

			for _, total := range tt.totals {
				g.Expect(func() { addSpend("", tt.currency, total) }).NotTo(Panic(), "totalPrice %q", total)
			}

			g.Expect(testutil.ToFloat64(spendTotal.WithLabelValues(tt.currency, ""))).To(BeNumerically("~", tt.wantSpend, 1e-9))
			for _, reason := range []string{spendSkippedNegative, spendSkippedNotFinite, spendSkippedUnparsable} {
				g.Expect(testutil.ToFloat64(spendSkippedTotal.WithLabelValues(tt.currency, reason))).
					To(Equal(tt.wantSkipped[reason]), "skipped, reason %s", reason)
			}
		})
	}
}

func TestMetricsSpendCountersFollowPrometheusNaming(t *testing.T) {
	g := NewWithT(t)
	addSpend("", "L01", "1")
	addSpend("", "L01", "-1")

	g.Expect(testutil.CollectAndLint(spendTotal)).To(BeEmpty())
	g.Expect(testutil.CollectAndLint(spendSkippedTotal)).To(BeEmpty())
}
