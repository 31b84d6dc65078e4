package api

import "testing"

func TestPDFLanguage(t *testing.T) {
	for header, want := range map[string]string{
		"":                        "en",
		"fr":                      "fr",
		"FR-ca":                   "fr",
		"fr-CA,fr;q=0.9,en;q=0.8": "fr",
		"en-US,en;q=0.9,fr;q=0.8": "en",
		"de-DE,fr;q=0.7,en;q=0.5": "fr",
		"de, es":                  "en",
		"*":                       "en",
		"en;q=0.2, fr;q=0.8":      "fr",
		"fr;q=0, en;q=0.1":        "en",
		"fr;q=0":                  "en",
		"en, fr":                  "en",
		"fr ; q=0.5 , en ; q=0.5": "fr",
		"fr;q=garbage, en":        "en",
	} {
		if got := pdfLanguage(header); got != want {
			t.Errorf("pdfLanguage(%q) = %q, want %q", header, got, want)
		}
	}
}
