package billing

import "time"

// Address is a postal address; billing addresses and the company address share it.
type Address struct {
	Line1      string `json:"line1"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city"`
	State      string `json:"state,omitempty"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

// AccountStatus is past_due once dunning has run out of retries.
type AccountStatus string

const (
	AccountActive  AccountStatus = "active"
	AccountPastDue AccountStatus = "past_due"
)

// Account is a customer company.
type Account struct {
	ID          string
	CompanyName string
	Address     Address
	Currency    string
	BillingDay  int    // 1..28: the day of the month recurring invoices are issued
	Language    string // "en" or "fr": the default PDF language
	// MailLanguage is "en" or "fr": every mail to the account is written in it. The customer
	// sets it; it starts as Language.
	MailLanguage string
	ContactEmail string
	TaxRateBps   int64 // tax in basis points applied to recurring charges
	Status       AccountStatus
	CreatedAt    time.Time
}

// ValidateMailLanguage checks a mail language a customer asks for: PayPortal writes mails in
// English and French only.
func ValidateMailLanguage(lang string) error {
	if lang != "en" && lang != "fr" {
		return Invalid(CodeInvalidValue, "mail_language", "mail_language must be en (English) or fr (French)")
	}
	return nil
}

// Caller is who sent a request: a customer bound to one account, or a rep.
type Caller struct {
	KeyID     string
	AccountID string // empty for reps
	Rep       bool
	RepName   string // the rep's name: the label of its key
}

// NextBillingDate is the first billing day strictly after the day of now, in UTC.
func NextBillingDate(billingDay int, now time.Time) time.Time {
	y, m, d := now.UTC().Date()
	if d < billingDay {
		return time.Date(y, m, billingDay, 0, 0, 0, 0, time.UTC)
	}
	return time.Date(y, m+1, billingDay, 0, 0, 0, 0, time.UTC)
}

// PreviousBillingDate is the last billing day on or before the day of now, in UTC.
func PreviousBillingDate(billingDay int, now time.Time) time.Time {
	return NextBillingDate(billingDay, now).AddDate(0, -1, 0)
}

// Summary is the billing overview of one account.
type Summary struct {
	AccountID                    string
	Currency                     string
	MailLanguage                 string
	CurrentBalance               int64
	EstimatedNextBalance         int64
	PaymentMethod                *PaymentMethod // the validated monthly card, if any
	PreviousRecurringInvoiceDate *time.Time
	NextRecurringInvoiceDate     time.Time
}
