package main

import (
	"slices"
	"testing"
)

func TestParseSeeds(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want seedRange
		ok   bool
	}{
		{"1..3", seedRange{1, 3}, true},
		{"0..0", seedRange{0, 0}, true},
		{"0..999999", seedRange{0, 999_999}, true},
		{"18446744073709551615..18446744073709551615", seedRange{1<<64 - 1, 1<<64 - 1}, true},
		{"18446744073709551614..18446744073709551615", seedRange{1<<64 - 2, 1<<64 - 1}, true},
		{"0..1000000", seedRange{}, false},
		{"0..18446744073709551615", seedRange{}, false},
		{"5..2", seedRange{}, false},
		{"-1..2", seedRange{}, false},
		{"1..-2", seedRange{}, false},
		{"1..18446744073709551616", seedRange{}, false},
		{"3", seedRange{}, false},
		{"1...3", seedRange{}, false},
		{"..3", seedRange{}, false},
		{"", seedRange{}, false},
	} {
		got, err := parseSeeds(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseSeeds(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestSeedRangeAll(t *testing.T) {
	top := seedRange{1<<64 - 3, 1<<64 - 1}
	if got, want := slices.Collect(top.all()), []uint64{1<<64 - 3, 1<<64 - 2, 1<<64 - 1}; !slices.Equal(got, want) {
		t.Errorf("%v.all() = %v, want %v", top, got, want)
	}
	if n := top.count(); n != 3 {
		t.Errorf("count = %d, want 3", n)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"smoke":                "smoke",
		"dir/leader-kill.yaml": "dir/leader-kill.yaml",
		"my scenario.yaml":     "'my scenario.yaml'",
		"it's.yaml":            `'it'\''s.yaml'`,
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
