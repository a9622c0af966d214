package main

import (
	"fmt"
	"iter"
	"math"
	"strconv"
	"strings"
)

// seedsMax bounds how many seeds one invocation runs, so a typo such as
// 1..10000000000 is an error rather than a run that never ends.
const seedsMax = 1_000_000

// seedRange is the inclusive range of seeds [first, last]; first ≤ last.
type seedRange struct{ first, last uint64 }

// count is the number of seeds in r; it is at most seedsMax for a parsed
// range.
func (r seedRange) count() uint64 { return r.last - r.first + 1 }

// all yields the seeds of r in increasing order.
func (r seedRange) all() iter.Seq[uint64] {
	return func(yield func(uint64) bool) {
		for i := range r.count() {
			if !yield(r.first + i) {
				return
			}
		}
	}
}

func (r seedRange) String() string {
	if r.first == r.last {
		return strconv.FormatUint(r.first, 10)
	}
	return fmt.Sprintf("%d..%d", r.first, r.last)
}

// parseSeed reads one seed: a decimal whole number from 0 to 2⁶⁴−1.
func parseSeed(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("seed %q is not a whole number from 0 to %d", s, uint64(math.MaxUint64))
	}
	return n, nil
}

// parseSeeds reads a range "A..B" of at most seedsMax seeds with A ≤ B.
func parseSeeds(s string) (seedRange, error) {
	a, b, ok := strings.Cut(s, "..")
	if !ok {
		return seedRange{}, fmt.Errorf("seed range %q is not of the form A..B", s)
	}
	first, err := parseSeed(a)
	if err != nil {
		return seedRange{}, fmt.Errorf("seed range %q: %w", s, err)
	}
	last, err := parseSeed(b)
	if err != nil {
		return seedRange{}, fmt.Errorf("seed range %q: %w", s, err)
	}
	if first > last {
		return seedRange{}, fmt.Errorf("seed range %q: the first seed %d is after the last %d", s, first, last)
	}
	if last-first >= seedsMax {
		return seedRange{}, fmt.Errorf("seed range %q: more than %d seeds", s, seedsMax)
	}
	return seedRange{first, last}, nil
}

// seedFlag is a flag.Value holding one seed as a range of one. A required
// flag shows no default in the usage.
type seedFlag struct {
	r        *seedRange
	required bool
}

func (f seedFlag) String() string {
	if f.r == nil || f.required {
		return ""
	}
	return f.r.String()
}

func (f seedFlag) Set(s string) error {
	n, err := parseSeed(s)
	if err != nil {
		return err
	}
	*f.r = seedRange{n, n}
	return nil
}

// seedsFlag is a flag.Value holding a range "A..B".
type seedsFlag struct{ r *seedRange }

func (f seedsFlag) String() string {
	if f.r == nil || *f.r == (seedRange{}) { // no default to show
		return ""
	}
	return f.r.String()
}

func (f seedsFlag) Set(s string) (err error) {
	*f.r, err = parseSeeds(s)
	return err
}
