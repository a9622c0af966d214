package store

import "testing"

// TestPlainASCIIIsValid checks validPart's fast path against partError: a
// string plainASCII accepts is one partError finds nothing wrong with, for
// every byte alone and in a longer name, and the fast path rejects the
// rest.
func TestPlainASCIIIsValid(t *testing.T) {
	for c := 0; c < 256; c++ {
		for _, s := range []string{string(rune(c)), string([]byte{byte(c)}), "web-" + string([]byte{byte(c)}) + "-0"} {
			if plainASCII(s) && partError("name", s, true) != nil {
				t.Errorf("plainASCII(%q) but partError: %v", s, partError("name", s, true))
			}
			if (validPart("name", s, true) == nil) != (partError("name", s, true) == nil) {
				t.Errorf("validPart(%q) and partError disagree", s)
			}
		}
	}
}
