package billing

// InvoicePDF is an invoice rendered to PDF as the portal serves it. ContentHash names the
// content the file shows, so a changed invoice never comes back as an old file.
type InvoicePDF struct {
	InvoiceID   string
	Number      string // the download is named <Number>.pdf
	Language    string // "en" or "fr"
	ContentHash string
	Content     []byte
}
