// Package billing holds PayPortal's domain: money, accounts, invoices, payment methods,
// payments, their statuses and the errors the outside contract knows. It depends on nothing
// but the standard library; postgres/, the processors, api/ and the workflows build on it.
package billing
