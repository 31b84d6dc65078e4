package billing

import "time"

// InvoiceType is one of the contract's five invoice types.
type InvoiceType string

const (
	InvoiceNew       InvoiceType = "new"
	InvoiceRecurring InvoiceType = "recurring"
	InvoiceOneTime   InvoiceType = "one_time"
	InvoiceCredit    InvoiceType = "credit"
	InvoiceRefund    InvoiceType = "refund"
)

// InvoiceTypes lists every type, in the order the portal shows them.
var InvoiceTypes = []InvoiceType{InvoiceNew, InvoiceRecurring, InvoiceOneTime, InvoiceCredit, InvoiceRefund}

// Valid reports whether t is one of the five types.
func (t InvoiceType) Valid() bool {
	for _, v := range InvoiceTypes {
		if t == v {
			return true
		}
	}
	return false
}

// Negative reports whether invoices of this type carry negative totals (money back).
func (t InvoiceType) Negative() bool { return t == InvoiceCredit || t == InvoiceRefund }

// InvoiceStatus is open until paid in full, or void.
type InvoiceStatus string

const (
	InvoiceOpen InvoiceStatus = "open"
	InvoicePaid InvoiceStatus = "paid"
	InvoiceVoid InvoiceStatus = "void"
)

// Invoice is a bill (or, when negative, a credit) on an account. Amounts are minor units of
// Currency.
type Invoice struct {
	ID          string
	AccountID   string
	Number      string
	Type        InvoiceType
	Status      InvoiceStatus
	Currency    string
	PeriodStart *time.Time // dates, for recurring invoices
	PeriodEnd   *time.Time
	Subtotal    int64
	Tax         int64
	Total       int64
	AmountPaid  int64
	CreatedAt   time.Time
	Items       []InvoiceItem // filled only when asked for
}

// AmountDue is what is still owed on the invoice; never negative.
func (inv Invoice) AmountDue() int64 {
	if inv.Status == InvoiceVoid || inv.Total <= inv.AmountPaid {
		return 0
	}
	return inv.Total - inv.AmountPaid
}

// InvoiceItem is one line of an invoice; Amount = Quantity × UnitAmount.
type InvoiceItem struct {
	ID          string
	InvoiceID   string
	Description string
	Category    string // e.g. compute, storage, network, support, credit
	Quantity    int64
	UnitAmount  int64
	Amount      int64
	PeriodStart *time.Time
	PeriodEnd   *time.Time
	Details     []ItemDetail // filled only when asked for
}

// ItemDetail is a child charge or fact behind an item: which resource, how many hours at
// what price.
type ItemDetail struct {
	ID           string
	Description  string
	ResourceName string
	Quantity     int64
	Unit         string // hours, GB, instances, ...
	UnitAmount   int64
	Amount       int64
}

// TaxOn returns the tax on subtotal at rateBps basis points, rounded half away from zero.
func TaxOn(subtotal, rateBps int64) int64 {
	p := subtotal * rateBps
	if p >= 0 {
		return (p + 5000) / 10000
	}
	return -((-p + 5000) / 10000)
}

// ListParams is a keyset page request: the Limit items after the one with id StartingAfter,
// or before the one with id EndingBefore (at most one of the two), in the list's own order,
// among the items created within Created.
type ListParams struct {
	Limit         int
	StartingAfter string
	EndingBefore  string
	Created       CreatedRange
}

// CreatedRange bounds when the listed items were created: from GTE (inclusive) up to LT
// (exclusive). A zero end is open.
type CreatedRange struct {
	GTE time.Time
	LT  time.Time
}

// Page bounds from the contract.
const (
	DefaultPageLimit = 25
	MaxPageLimit     = 100
)

// RecurringCharge is a charge billed every month on the account's billing day.
type RecurringCharge struct {
	ID          string
	AccountID   string
	Description string
	Category    string
	Quantity    int64
	UnitAmount  int64
}

// RecurringInvoiceDraft computes the recurring invoice for the period [start, end] from the
// account's active charges. The billing workflow issues it and the billing summary's
// estimated next balance is built from it, so both always agree.
func RecurringInvoiceDraft(acct Account, charges []RecurringCharge, start, end time.Time) Invoice {
	inv := Invoice{
		AccountID:   acct.ID,
		Type:        InvoiceRecurring,
		Status:      InvoiceOpen,
		Currency:    acct.Currency,
		PeriodStart: &start,
		PeriodEnd:   &end,
	}
	for _, c := range charges {
		amount := c.Quantity * c.UnitAmount
		inv.Items = append(inv.Items, InvoiceItem{
			Description: c.Description,
			Category:    c.Category,
			Quantity:    c.Quantity,
			UnitAmount:  c.UnitAmount,
			Amount:      amount,
			PeriodStart: &start,
			PeriodEnd:   &end,
		})
		inv.Subtotal += amount
	}
	inv.Tax = TaxOn(inv.Subtotal, acct.TaxRateBps)
	inv.Total = inv.Subtotal + inv.Tax
	return inv
}

// BillingPeriod is the month of service billed on billingDate: the previous month's billing
// day up to the day before billingDate.
func BillingPeriod(billingDate time.Time) (start, end time.Time) {
	return billingDate.AddDate(0, -1, 0), billingDate.AddDate(0, 0, -1)
}

// BillingMonth is the month a recurring invoice belongs to, as its first day (UTC): the
// month of its billing date. An account has one recurring invoice per billing month, however
// many times, and on whichever day of the month, its billing is started.
func BillingMonth(billingDate time.Time) time.Time {
	y, m, _ := billingDate.UTC().Date()
	return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
}

// RecurringBillingDate is the day the account's recurring invoice of the month of
// billingDate is billed on: its billing day in that month, clamped to the month's length. A
// schedule triggered by hand, an operator's start with another date or a late catch-up all
// bill the same period as the billing day itself: BillingPeriod(RecurringBillingDate(...)).
func RecurringBillingDate(billingDay int, billingDate time.Time) time.Time {
	month := BillingMonth(billingDate)
	last := month.AddDate(0, 1, -1).Day()
	return month.AddDate(0, 0, min(max(billingDay, 1), last)-1)
}
