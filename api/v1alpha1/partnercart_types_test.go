package v1alpha1

import (
	"slices"
	"testing"
)

func TestSplitOrderIDs(t *testing.T) {
	for _, tc := range []struct {
		list string
		want []string
	}{
		{"a, b,c , ", []string{"a", "b", "c"}}, // a receipt's orderIds, and sloppy typing
		{"a,b", []string{"a", "b"}},            // a resolution annotation's orders
		{" , ", nil},
		{"", nil},
	} {
		if got := SplitOrderIDs(tc.list); !slices.Equal(got, tc.want) {
			t.Errorf("SplitOrderIDs(%q) = %q, want %q", tc.list, got, tc.want)
		}
	}
}
