package invoicepdf

import (
	"sync"

	"github.com/jung-kurt/gofpdf"
)

// cp1252 maps each non-ASCII rune the core fonts can print to its cp1252 byte.
//
// The table is gofpdf's own (UnicodeTranslatorFromDescriptor("")), read once: calling that
// per render re-parses the code page with Sscanf, a fifth of the time of a 20-item invoice,
// and the function it returns writes into a shared buffer, so one instance cannot serve
// concurrent renders. The map is never written after this, so every render may read it.
var cp1252 = sync.OnceValue(func() map[rune]byte {
	tr := gofpdf.New("P", "mm", "A4", "").UnicodeTranslatorFromDescriptor("")
	m := make(map[rune]byte, 128)
	// U+2122 (™) is the highest code point cp1252 encodes.
	for r := rune(0x80); r <= 0x2122; r++ {
		if b := tr(string(r)); len(b) == 1 && b != "." {
			m[r] = b[0]
		}
	}
	return m
})

// toCP1252 encodes s for the core fonts. Runes cp1252 lacks (CJK, emoji, U+2212 minus...)
// print as "?", which core fonts cannot avoid; ASCII strings come back as they are.
func toCP1252(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	table := cp1252()
	b := make([]byte, 0, len(s))
	for _, r := range s {
		switch c, ok := table[r]; {
		case r < 0x80:
			b = append(b, byte(r))
		case ok:
			b = append(b, c)
		default:
			b = append(b, '?')
		}
	}
	return string(b)
}
