package activities_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/mail/mailtest"
)

// Every mail follows the account's mail language as it is when the mail is sent, not the
// language a workflow was started with: acct_demo (English) switches to French and its
// receipt, card and invoice mails come in French, those started in English included.
func TestMailsFollowTheAccountsMailLanguage(t *testing.T) {
	s := newPaymentSteps(t)
	ctx := context.Background()
	if acct, err := s.db.Account(ctx, devdata.DemoAccountID); err != nil || acct.Language != "en" || acct.MailLanguage != "en" {
		t.Fatalf("demo account %+v, %v: want language and mail language en", acct, err)
	}
	if acct, err := s.db.Account(ctx, devdata.OtherAccountID); err != nil || acct.MailLanguage != "fr" {
		t.Fatalf("acct_other %+v, %v: want mail language fr, its language", acct, err)
	}
	if _, err := s.db.SetMailLanguage(ctx, devdata.DemoAccountID, "fr"); err != nil {
		t.Fatal(err)
	}

	run := func(registered, activity, arg any) {
		t.Helper()
		var suite testsuite.WorkflowTestSuite
		env := suite.NewTestActivityEnvironment()
		env.RegisterActivity(registered)
		if _, err := env.ExecuteActivity(activity, arg); err != nil {
			t.Fatal(err)
		}
	}

	p := s.storedCardPayment(t, "4242424242424242", 800)
	if _, err := s.db.ApplyPayment(ctx, p.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	run(s.Payments, s.SendPaymentReceipt, p.ID)

	outbox := &mailtest.Outbox{}
	cards := &activities.CardValidation{DB: s.db, Mail: outbox, Clock: billing.SystemClock{}}
	invoices := &activities.Invoices{DB: s.db, Mail: outbox, Clock: billing.SystemClock{}}
	now := time.Now().UTC()
	card := billing.PaymentMethod{
		ID: "pm_mail_language", AccountID: devdata.DemoAccountID, Status: billing.PMPendingValidation, ProcessorToken: "tok_ml",
		Brand: "visa", Last4: "4242", ExpMonth: 12, ExpYear: now.Year() + 2, HolderName: "Ada", ContactEmail: "cards@demo-corp.example",
		BillingAddress: billing.Address{Line1: "1 Main", City: "Springfield", PostalCode: "1", Country: "US"},
		CreatedAt:      now, ValidationDeadline: now.Add(24 * time.Hour), WorkflowID: "card-validation/pm_mail_language",
	}
	if err := s.db.CreatePaymentMethod(ctx, card); err != nil {
		t.Fatal(err)
	}
	var err error
	inv, _, err := s.db.Invoices(ctx, devdata.DemoAccountID, "", billing.ListParams{Limit: 1})
	if err != nil || len(inv) != 1 {
		t.Fatalf("demo invoice: %v %v", inv, err)
	}
	// Started in English: the notices say "en".
	run(cards, cards.SendCardStatusMail, activities.CardStatusNotice{PaymentMethodID: card.ID, To: "cards@demo-corp.example",
		Language: "en", Brand: card.Brand, Last4: card.Last4, Status: billing.PMRejected, Reason: "wrong name"})
	run(invoices, invoices.SendInvoiceIssuedMail, activities.InvoiceNotice{InvoiceID: inv[0].ID, To: "billing@demo-corp.example",
		Language: "en", InvoiceNumber: inv[0].Number, Total: billing.Money{Amount: inv[0].Total, Currency: inv[0].Currency}})
	// A card whose account is gone from the books: the language it was started with.
	run(cards, cards.SendCardStatusMail, activities.CardStatusNotice{PaymentMethodID: "pm_gone", To: "x@demo-corp.example",
		Language: "en", Brand: "visa", Last4: "4242", Status: billing.PMValidated})

	var subjects []string
	for _, m := range append(s.outbox.Messages(), outbox.Messages()...) {
		subjects = append(subjects, m.Subject)
	}
	want := []string{"Paiement reçu", "Votre carte Visa se terminant par 4242 a été refusée", "Votre facture " + inv[0].Number,
		"Your Visa card ending in 4242 was validated"}
	if len(subjects) != len(want) {
		t.Fatalf("subjects %q, want %d mails", subjects, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(subjects[i], w) {
			t.Errorf("mail %d: subject %q, want it to start %q", i, subjects[i], w)
		}
	}
	if text := outbox.Messages()[0].Text; !strings.Contains(text, "Votre conseiller a écrit\u202f: «\u202fwrong name\u202f»") {
		t.Errorf("the rep's words are not quoted as theirs:\n%s", text)
	}
}
