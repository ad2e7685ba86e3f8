package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"strings"
	"text/tabwriter"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

// receiptLabel marks the receipts the operator writes (api/v1alpha1/well_known.go).
const receiptLabel = pcv1alpha1.ReceiptLabel

// defaultReceiptNamespace is where the operator keeps receipts when installed with
// config/default or the chart's defaults (its --receipt-namespace).
const defaultReceiptNamespace = "partnercart-system"

type receiptsOptions struct {
	customer      string
	cart          string
	allNamespaces bool
	// receiptNamespace is the operator's --receipt-namespace: receipts anywhere else are not
	// its records.
	receiptNamespace string
	format           string
}

// receiptSummary is the part of a receipt's receipt.json the listing shows.
type receiptSummary struct {
	PartnerCart string `json:"partnerCart"`
	CustomerID  string `json:"customerId"`
	Outcome     string `json:"outcome"`
	CompletedAt string `json:"checkoutCompletedAt"`
	Orders      []struct {
		ID           string `json:"id"`
		TotalPrice   string `json:"totalPrice"`
		CurrencyCode string `json:"currencyCode"`
	} `json:"orders"`
}

func receiptsCommand() *command {
	return &command{
		name:     "receipts",
		synopsis: []string{"[--customer ID] [--cart NAME] [-A] [--receipt-namespace NS] [-o json|yaml]"},
		short:    "receipts of purchases (immutable ConfigMaps in the operator's namespace)",
		long: `Lists the receipts of the namespace's carts (all namespaces with -A): the ConfigMaps labelled
partnercenter.partnercart.dev/receipt=true in the operator's namespace (--receipt-namespace),
which outlive their carts. Reading them needs read access there. -o json and -o yaml print
the ConfigMaps (a v1 List).`,
		setup: func(fs *flag.FlagSet, o *options) func(context.Context, *env, []string) error {
			r := receiptsOptions{}
			o.addAllNamespaces(fs)
			fs.StringVar(&r.customer, "customer", "", "only receipts of this customer `ID`")
			fs.StringVar(&r.cart, "cart", "", "only receipts of this PartnerCart `NAME`")
			fs.StringVar(&r.receiptNamespace, "receipt-namespace", defaultReceiptNamespace, "the operator's --receipt-namespace `NS`, where receipts live")
			o.addOutput(fs, outputJSON, outputYAML)
			return func(ctx context.Context, e *env, args []string) error {
				if err := checkOutput("receipts", o.output, outputJSON, outputYAML); err != nil {
					return err
				}
				if len(args) != 0 {
					return usageError("receipts", "takes no arguments")
				}
				r.allNamespaces, r.format = o.allNamespaces, o.output
				return e.withClient(o, func(c client.Client, ns string) error { return cmdReceipts(ctx, c, ns, r, e.out) })
			}
		},
	}
}

// cmdReceipts lists the receipts of the carts of namespace ns (all namespaces with -A). They
// live in the operator's namespace, out of tenants' reach: reading them needs read access
// there (an administrator's, or a Role the platform team grants auditors).
func cmdReceipts(ctx context.Context, c client.Client, ns string, o receiptsOptions, out io.Writer) error {
	var list corev1.ConfigMapList
	selector := client.MatchingLabels{receiptLabel: "true"}
	if !o.allNamespaces {
		selector[pcv1alpha1.ReceiptCartNamespaceLabel] = ns
	}
	opts := []client.ListOption{client.InNamespace(o.receiptNamespace), selector}
	if err := c.List(ctx, &list, opts...); err != nil {
		return err
	}
	type row struct {
		cm *corev1.ConfigMap
		r  receiptSummary
	}
	var rows []row
	for i := range list.Items {
		cm := &list.Items[i]
		var r receiptSummary
		if err := json.Unmarshal([]byte(cm.Data["receipt.json"]), &r); err != nil {
			r.PartnerCart, r.CustomerID = "?", cm.Data["customerId"]
		}
		if o.customer != "" && r.CustomerID != o.customer {
			continue
		}
		if o.cart != "" && r.PartnerCart != o.cart {
			continue
		}
		rows = append(rows, row{cm, r})
	}
	if o.format == outputJSON || o.format == outputYAML {
		objs := make([]client.Object, len(rows))
		for i := range rows {
			objs[i] = rows[i].cm
		}
		return printObjects(out, o.format, objs, false)
	}
	if len(rows) == 0 {
		printLine(out, "No receipts found.")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	if o.allNamespaces {
		printText(tw, "NAMESPACE\t")
	}
	printLine(tw, "RECEIPT\tCART\tCUSTOMER\tOUTCOME\tORDERS\tTOTALS\tCOMPLETED")
	for _, row := range rows {
		cm, r := row.cm, row.r
		ids := make([]string, 0, len(r.Orders))
		totals := make([]string, 0, len(r.Orders))
		for _, ord := range r.Orders {
			ids = append(ids, ord.ID)
			if ord.TotalPrice != "" {
				totals = append(totals, strings.TrimSpace(ord.TotalPrice+" "+ord.CurrencyCode))
			}
		}
		if o.allNamespaces {
			printf(tw, "%s\t", dash(cm.Labels[pcv1alpha1.ReceiptCartNamespaceLabel]))
		}
		printf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cm.Name, dash(r.PartnerCart), dash(r.CustomerID), dash(r.Outcome),
			dash(strings.Join(ids, ",")), dash(strings.Join(totals, ", ")), dash(r.CompletedAt))
	}
	return tw.Flush()
}
