package invoicepdf

import (
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/i18n"
)

// The items table's columns, left to right.
const (
	colDescription = iota
	colPeriod
	colQuantity
	colUnitAmount
	colAmount
	numColumns
)

// labels is every fixed word on the page in one language. The two tables below are only
// read, never written, so concurrent renders can share them.
type labels struct {
	title, billTo                     string
	number, date, typ, status, period string
	columns                           [numColumns]string
	types                             map[billing.InvoiceType]string
	statuses                          map[billing.InvoiceStatus]string
	subtotal, tax, total              string
	amountPaid, amountDue             string
	units                             map[string]string // lower-case stored unit → printed unit
	pageOf                            string
}

var english = labels{
	title:   "Invoice",
	billTo:  "Bill to",
	number:  "Invoice number",
	date:    "Date",
	typ:     "Type",
	status:  "Status",
	period:  "Billing period",
	columns: [numColumns]string{"Description", "Period", "Quantity", "Unit amount", "Amount"},
	types: map[billing.InvoiceType]string{
		billing.InvoiceNew:       "New",
		billing.InvoiceRecurring: "Recurring",
		billing.InvoiceOneTime:   "One-time charges",
		billing.InvoiceCredit:    "Credit",
		billing.InvoiceRefund:    "Refund",
	},
	statuses: map[billing.InvoiceStatus]string{
		billing.InvoiceOpen: "Open",
		billing.InvoicePaid: "Paid",
		billing.InvoiceVoid: "Void",
	},
	subtotal:   "Subtotal",
	tax:        "Tax",
	total:      "Total",
	amountPaid: "Amount paid",
	amountDue:  "Amount due",
	pageOf:     "Page %d / %s",
}

var french = labels{
	title:   "Facture",
	billTo:  "Facturé à",
	number:  "Numéro de facture",
	date:    "Date",
	typ:     "Type",
	status:  "Statut",
	period:  "Période de facturation",
	columns: [numColumns]string{"Description", "Période", "Quantité", "Prix unitaire", "Montant"},
	types: map[billing.InvoiceType]string{
		billing.InvoiceNew:       "Nouvelle",
		billing.InvoiceRecurring: "Récurrent",
		billing.InvoiceOneTime:   "Frais ponctuels",
		billing.InvoiceCredit:    "Crédit",
		billing.InvoiceRefund:    "Remboursement",
	},
	statuses: map[billing.InvoiceStatus]string{
		billing.InvoiceOpen: "Ouverte",
		billing.InvoicePaid: "Payée",
		billing.InvoiceVoid: "Annulée",
	},
	subtotal: "Sous-total",
	// "TVA" is VAT specifically; accounts are taxed under many regimes, so the neutral word.
	tax:        "Taxe",
	total:      "Total",
	amountPaid: "Montant payé",
	amountDue:  "Montant dû",
	units: map[string]string{
		"hour": "heure", "hours": "heures", "day": "jour", "days": "jours",
		"month": "mois", "months": "mois", "gb": "Go", "tb": "To", "mb": "Mo",
	},
	pageOf: "Page %d sur %s",
}

// labelsFor expects a language already normalised by i18n.Lang.
func labelsFor(lang string) *labels {
	if lang == i18n.French {
		return &french
	}
	return &english
}
