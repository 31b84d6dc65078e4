package console

// texts holds every word the console shows, in English and French.
var texts = map[string][2]string{
	"title":           {"PayPortal rep console", "Console des conseillers PayPortal"},
	"sign_in":         {"Sign in", "Connexion"},
	"sign_out":        {"Sign out", "Déconnexion"},
	"rep_key":         {"Your rep key", "Votre clé de conseiller"},
	"rep_key_help":    {"The key printed by payportal rep add.", "La clé affichée par payportal rep add."},
	"queue":           {"Cards to validate", "Cartes à valider"},
	"decisions":       {"Decision history", "Historique des décisions"},
	"signed_in_as":    {"Signed in as", "Connecté en tant que"},
	"language":        {"Français", "English"},
	"queue_empty":     {"No card is waiting for validation.", "Aucune carte n’attend de validation."},
	"card":            {"Card", "Carte"},
	"ending":          {"ending", "se terminant par"},
	"expires":         {"expires", "expire"},
	"submitted":       {"Submitted", "Soumise le"},
	"time_left":       {"%d h %02d min left to decide", "%d h %02d min pour décider"},
	"expired_now":     {"The deadline has passed: the card expires undecided.", "Le délai est dépassé : la carte expire sans décision."},
	"account":         {"Account", "Compte"},
	"company":         {"Company", "Société"},
	"billing_address": {"Billing address", "Adresse de facturation"},
	"eu_support":      {"EU support", "Support UE"},
	"yes":             {"yes", "oui"},
	"no":              {"no", "non"},
	"contact":         {"Contact", "Contact"},
	"balance":         {"Balance", "Solde"},
	"earlier_cards":   {"Other cards", "Autres cartes"},
	"none":            {"none", "aucune"},
	"payments":        {"Payments", "Paiements"},
	"workflow":        {"Workflow in Temporal", "Workflow dans Temporal"},
	"decision":        {"Decision", "Décision"},
	"approve":         {"Approve", "Approuver"},
	"reject":          {"Reject", "Refuser"},
	"reason":          {"Reason (required)", "Motif (obligatoire)"},
	"send_decision":   {"Send decision", "Envoyer la décision"},
	"reason_required": {"Give a reason for the decision.", "Indiquez le motif de la décision."},
	"reason_too_long": {"The reason is at most 500 characters.", "Le motif fait au plus 500 caractères."},
	"bad_decision":    {"Choose approve or reject.", "Choisissez approuver ou refuser."},
	"already_decided": {"This card was decided meanwhile; that decision stands (see below).",
		"Cette carte a été décidée entre-temps ; cette décision est maintenue (voir ci-dessous)."},
	"decision_recorded":  {"Decision recorded; the card has left the queue.", "Décision enregistrée ; la carte a quitté la file."},
	"decided":            {"Decided", "Décidée"},
	"decided_by":         {"by", "par"},
	"status":             {"Status", "Statut"},
	"rep":                {"Rep", "Conseiller"},
	"every_rep":          {"Every rep", "Tous les conseillers"},
	"outcome":            {"Outcome", "Résultat"},
	"every_outcome":      {"Every outcome", "Tous les résultats"},
	"filter":             {"Filter", "Filtrer"},
	"when":               {"When", "Quand"},
	"why":                {"Why", "Pourquoi"},
	"who":                {"Who", "Qui"},
	"no_decisions":       {"No decision matches.", "Aucune décision ne correspond."},
	"validated":          {"approved", "approuvée"},
	"rejected":           {"rejected", "refusée"},
	"expired":            {"expired", "expirée"},
	"pending_validation": {"pending", "en attente"},
	"forbidden":          {"Forbidden", "Interdit"},
	"error":              {"Error", "Erreur"},
	"bad_csrf":           {"This form has expired or did not come from the console. Go back, reload the page and try again.", "Ce formulaire a expiré ou ne vient pas de la console. Revenez en arrière, rechargez la page et réessayez."},
	"signed_out":         {"You are signed out. Sign in again.", "Vous êtes déconnecté. Reconnectez-vous."},
	"bad_key":            {"Unknown or disabled key.", "Clé inconnue ou désactivée."},
	"not_a_rep":          {"This key is not a rep key: the console is for account reps.", "Cette clé n’est pas une clé de conseiller : la console est réservée aux conseillers."},
	"not_found":          {"No such card.", "Carte introuvable."},
	"unavailable":        {"A service is unavailable; try again shortly.", "Un service est indisponible ; réessayez dans un instant."},
	"internal":           {"Something went wrong on our side.", "Une erreur s’est produite de notre côté."},
	"back_to_queue":      {"Back to the queue", "Retour à la file"},
	"skip":               {"Skip to content", "Aller au contenu"},
}

func text(lang, key string) string {
	t, ok := texts[key]
	if !ok {
		return key
	}
	if lang == "fr" {
		return t[1]
	}
	return t[0]
}
