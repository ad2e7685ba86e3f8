package pcsim

import (
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
)

func TestDefaultCatalogHasTheDocumentedItems(t *testing.T) {
	g := NewWithT(t)
	c := DefaultCatalog()
	for _, tc := range []struct {
		id          string
		cycles      []string
		terms       []string
		maxQuantity int
	}{
		{e5, []string{"monthly", "annual"}, []string{"P1M", "P1Y"}, 2500},
		{businessBas, []string{"monthly", "annual"}, []string{"P1M", "P1Y"}, 300},
		{teamsPhone, []string{"monthly", "annual"}, []string{"P1M", "P1Y"}, 2500},
		{w365, []string{"monthly", "annual"}, []string{"P1M", "P1Y"}, 1000},
		{reservedVM, []string{"one_time"}, []string{"P1Y", "P3Y"}, 100},
		{savingsPlan, []string{"one_time"}, []string{"P1Y", "P3Y"}, 1},
		{e5EndsError, []string{"monthly", "annual"}, []string{"P1M", "P1Y"}, 2500},
		{e5CheckoutKO, []string{"monthly", "annual"}, []string{"P1M", "P1Y"}, 2500},
	} {
		item, _ := c.lookup(tc.id)
		g.Expect(item).NotTo(BeNil(), tc.id)
		g.Expect(item.BillingCycles).To(Equal(tc.cycles), tc.id)
		g.Expect(item.TermDurations).To(Equal(tc.terms), tc.id)
		g.Expect(item.MaxQuantity).To(Equal(tc.maxQuantity), tc.id)
	}
	w, _ := c.lookup(w365)
	g.Expect(w.AttestationRequired).To(BeTrue())
	ri, _ := c.lookup(reservedVM)
	g.Expect(ri.ProvisioningContextKeys).To(ConsistOf("scope", "subscriptionId"))
	sp, _ := c.lookup(savingsPlan)
	g.Expect(sp.PurchaseCommitmentRequired).To(BeTrue())
	te, _ := c.lookup(e5EndsError)
	g.Expect(te.OrderFinalStatus).To(Equal("error"))
	fail, _ := c.lookup(e5CheckoutKO)
	g.Expect(fail.CheckoutOrderError).NotTo(BeNil())
	g.Expect(fail.CheckoutOrderError.Code).To(Equal(800010))
}

func TestLoadCatalog(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		NewWithT(t).Expect(os.WriteFile(p, []byte(content), 0o600)).To(Succeed())
		return p
	}
	t.Run("valid", func(t *testing.T) {
		g := NewWithT(t)
		c, err := LoadCatalog(write("ok.json", `{"items":[{"catalogItemId":"P:S:A","name":"Thing",
			"unitPriceMonthly":"1.5","billingCycles":["Monthly"],"termDurations":["p1m"],"maxQuantity":3}]}`))
		g.Expect(err).NotTo(HaveOccurred())
		item, _ := c.lookup("P:S:A")
		g.Expect(item.unitCents).To(Equal(int64(150)))
		g.Expect(item.BillingCycles).To(Equal([]string{"monthly"}))
		g.Expect(item.TermDurations).To(Equal([]string{"P1M"}))
	})
	for name, content := range map[string]string{
		"unknown field":   `{"items":[{"catalogItemId":"P:S:A","name":"T","unitPriceMonthly":"1","billingCycles":["monthly"],"termDurations":["P1M"],"maxQuantity":1,"orderFinalStatuss":"x"}]}`,
		"float price":     `{"items":[{"catalogItemId":"P:S:A","name":"T","unitPriceMonthly":"1.005","billingCycles":["monthly"],"termDurations":["P1M"],"maxQuantity":1}]}`,
		"bad id":          `{"items":[{"catalogItemId":"P::A","name":"T","unitPriceMonthly":"1","billingCycles":["monthly"],"termDurations":["P1M"],"maxQuantity":1}]}`,
		"bad cycle":       `{"items":[{"catalogItemId":"P:S:A","name":"T","unitPriceMonthly":"1","billingCycles":["weekly"],"termDurations":["P1M"],"maxQuantity":1}]}`,
		"bad term":        `{"items":[{"catalogItemId":"P:S:A","name":"T","unitPriceMonthly":"1","billingCycles":["monthly"],"termDurations":["1 year"],"maxQuantity":1}]}`,
		"no max quantity": `{"items":[{"catalogItemId":"P:S:A","name":"T","unitPriceMonthly":"1","billingCycles":["monthly"],"termDurations":["P1M"]}]}`,
		"duplicate":       `{"items":[{"catalogItemId":"P:S:A","name":"T","unitPriceMonthly":"1","billingCycles":["monthly"],"termDurations":["P1M"],"maxQuantity":1},{"catalogItemId":"P:S:A","name":"T","unitPriceMonthly":"1","billingCycles":["monthly"],"termDurations":["P1M"],"maxQuantity":1}]}`,
		"empty":           `{"items":[]}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := LoadCatalog(write("bad.json", content))
			NewWithT(t).Expect(err).To(HaveOccurred())
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := LoadCatalog(filepath.Join(dir, "nope.json"))
		NewWithT(t).Expect(err).To(MatchError(ContainSubstring("read catalog")))
	})
}

func TestMoney(t *testing.T) {
	g := NewWithT(t)
	for in, want := range map[string]int64{"0": 0, "57": 5700, "57.5": 5750, "57.05": 5705, "0.99": 99, "70.08": 7008} {
		got, err := parseCents(in)
		g.Expect(err).NotTo(HaveOccurred(), in)
		g.Expect(got).To(Equal(want), in)
	}
	for _, in := range []string{"", ".5", "5.", "-1", "1.234", "1e3", "abc", "1234567890123"} {
		_, err := parseCents(in)
		g.Expect(err).To(HaveOccurred(), in)
	}
	g.Expect(formatCents(68400).String()).To(Equal("684.00"))
	g.Expect(formatCents(5).String()).To(Equal("0.05"))
	g.Expect(formatCents(-150).String()).To(Equal("-1.50"))
}
