package gateway

import "slices"

// ContainsCardNumber reports whether text holds what may be a card number: a run of digits
// (single spaces or dashes allowed between them, as people group them) whose digits have the
// length, prefix and Luhn check digit of a brand PayPortal accepts. Free text that is kept
// and shown back (metadata) is refused with one, since no card number may be stored.
func ContainsCardNumber(text string) bool {
	var run []byte // the digits of the current run
	check := func() bool {
		d := string(run)
		run = run[:0]
		brand := BrandOf(d)
		return brand != "" && slices.Contains(brandLengths[brand], len(d)) && luhnValid(d)
	}
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c >= '0' && c <= '9':
			run = append(run, c)
		case (c == ' ' || c == '-') && len(run) > 0 && i+1 < len(text) && text[i+1] >= '0' && text[i+1] <= '9':
			// a separator inside the run
		default:
			if len(run) > 0 && check() {
				return true
			}
			run = run[:0]
		}
	}
	return len(run) > 0 && check()
}
