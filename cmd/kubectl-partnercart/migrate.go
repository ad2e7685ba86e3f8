package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

// MigratedFromAnnotation names the tenant-namespace ConfigMap a receipt was copied from.
const MigratedFromAnnotation = "partnercenter.partnercart.dev/migrated-from"

type migrateOptions struct {
	receiptNamespace string
	dryRun           bool
}

func migrateCommand() *command {
	return &command{
		name:     "migrate-receipts",
		synopsis: []string{"[--receipt-namespace NS] [--dry-run]"},
		short:    "an administrator, once after upgrading: copy receipts earlier releases wrote in tenant namespaces",
		long: `Copies the receipts earlier releases wrote in tenant namespaces into the operator's namespace
(--receipt-namespace) under the names and labels it reads, once, after upgrading. Copies are
created, never updated; the originals are left for the administrator to delete. Needs an
administrator (it lists ConfigMaps in every namespace).`,
		setup: func(fs *flag.FlagSet, o *options) func(context.Context, *env, []string) error {
			m := migrateOptions{}
			fs.StringVar(&m.receiptNamespace, "receipt-namespace", defaultReceiptNamespace, "the operator's --receipt-namespace `NS`")
			fs.BoolVar(&m.dryRun, "dry-run", false, "print what would be copied, copy nothing")
			return func(ctx context.Context, e *env, args []string) error {
				if len(args) != 0 {
					return usageError("migrate-receipts", "takes no arguments")
				}
				return e.withClient(o, func(c client.Client, _ string) error { return cmdMigrateReceipts(ctx, c, m, e.out) })
			}
		},
	}
}

// cmdMigrateReceipts copies the receipts earlier releases wrote in the carts' own namespaces
// into the receipt namespace, under the names and labels the operator now uses, once, by an
// administrator after the upgrade. The operator reads receipts only in its namespace: without
// the copy, the receipt of a cart deleted before the upgrade would no longer stop a re-applied
// cart of the same name (only the customer's recent orders would). A cart that still exists
// needs no copy: the operator writes its receipt again in its namespace. Copies are created,
// never updated; the originals are left for the administrator to delete. They were writable by
// every tenant with edit rights in their namespace, so read the list before trusting it.
func cmdMigrateReceipts(ctx context.Context, c client.Client, o migrateOptions, out io.Writer) error {
	var list corev1.ConfigMapList
	if err := c.List(ctx, &list, client.MatchingLabels{receiptLabel: "true"}); err != nil {
		return fmt.Errorf("list receipts in every namespace (this needs an administrator): %w", err)
	}
	copied, present, skipped := 0, 0, 0
	for i := range list.Items {
		old := &list.Items[i]
		if old.Namespace == o.receiptNamespace {
			continue
		}
		from := old.Namespace + "/" + old.Name
		var rec struct {
			Namespace      string `json:"namespace"`
			PartnerCart    string `json:"partnerCart"`
			PartnerCartUID string `json:"partnerCartUID"`
		}
		if err := json.Unmarshal([]byte(old.Data["receipt.json"]), &rec); err != nil || rec.PartnerCart == "" || rec.PartnerCartUID == "" {
			printf(out, "skipped  %s: no receipt.json naming its PartnerCart\n", from)
			skipped++
			continue
		}
		if rec.Namespace != old.Namespace {
			// A receipt records the namespace it was written to; one that names another was not
			// written by the operator.
			printf(out, "skipped  %s: it records namespace %q\n", from, rec.Namespace)
			skipped++
			continue
		}
		labels := maps.Clone(old.Labels)
		labels[pcv1alpha1.ReceiptCartNamespaceLabel] = old.Namespace
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{
				Namespace:   o.receiptNamespace,
				Name:        pcv1alpha1.ReceiptName(old.Namespace, rec.PartnerCart, rec.PartnerCartUID),
				Labels:      labels,
				Annotations: map[string]string{MigratedFromAnnotation: from},
			},
			Immutable: ptr.To(true),
			Data:      old.Data,
		}
		to := cm.Namespace + "/" + cm.Name
		if o.dryRun {
			printf(out, "would copy %s -> %s (orders %s)\n", from, to, dash(old.Data["orderIds"]))
			copied++
			continue
		}
		if err := c.Create(ctx, cm); err != nil {
			if !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("copy %s to %s: %w", from, to, err)
			}
			existing := &corev1.ConfigMap{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(cm), existing); err != nil {
				return fmt.Errorf("read %s: %w", to, err)
			}
			if !maps.Equal(existing.Data, old.Data) {
				printf(out, "CONFLICT %s: %s exists and records something else (orders %s, not %s); check both by hand\n",
					from, to, dash(existing.Data["orderIds"]), dash(old.Data["orderIds"]))
				skipped++
				continue
			}
			printf(out, "present  %s -> %s\n", from, to)
			present++
			continue
		}
		printf(out, "copied   %s -> %s (orders %s)\n", from, to, dash(old.Data["orderIds"]))
		copied++
	}
	verb := "copied"
	if o.dryRun {
		verb = "to copy"
	}
	printf(out, "%d receipts %s, %d already present, %d skipped.", copied, verb, present, skipped)
	if copied+present > 0 && !o.dryRun {
		printf(out, " Once you have checked them, delete the originals: kubectl delete cm -A -l %s=true --field-selector metadata.namespace!=%s",
			receiptLabel, o.receiptNamespace)
	}
	printLine(out, "")
	return nil
}
