package face_test

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
)

// Issue 10, defect 2: parsing and evaluating an HCL job is bounded per
// file — in tokens (HCLTokensMax), in the cost of joining template literals
// (LiteralJoinBytesMax), in function calls (EvalCallsMax), in the bytes
// functions and templates produce (EvalBytesMax) and in the digits a
// number may be read from (DigitRunMax) — whatever the file repeats. Before, the 185 KB job below took 109 s and 13 GB and was
// accepted, and 1000 nested replaces took 7 s and 533 MB.

// hostileAttrs are attributes that each make a few bytes of source produce
// about a MiB, every function call within the per-call limit: jsonencode
// over a large string, a format width, replace over a large string. Only
// strlen's small result is kept, so the job's own size never grows.
var hostileAttrs = []string{
	`strlen(jsonencode(replace(format("%170000s", ""), " ", "<")))`,
	`strlen(format("%999999d", I))`,
	`strlen(replace(format("%500000s", "I"), " ", "b"))`,
	`"${strlen(jsonencode(format("%-150000s", "<")))}"`,
}

// hostileJob is a Nomad job of about size bytes made of hostileAttrs.
func hostileJob(size int) string {
	var b strings.Builder
	b.WriteString("job \"hostile\" {\n  group \"g\" {\n    task \"t\" {\n      config {\n")
	for i := 0; b.Len() < size-64; i++ {
		attr := strings.ReplaceAll(hostileAttrs[i%len(hostileAttrs)], "I", fmt.Sprint(i))
		fmt.Fprintf(&b, "        a%d = %s\n", i, attr)
	}
	b.WriteString("      }\n    }\n  }\n}\n")
	return b.String()
}

// nestedReplaceJob is one template holding calls replace calls over a
// string of half a MiB, in chains as deep as NestingMax lets them be (each
// call swaps one letter for another, so none is over any per-call limit).
func nestedReplaceJob(calls int) string {
	const depth = face.NestingMax/2 - 4
	var b strings.Builder
	b.WriteString("job \"hostile\" {\n  meta {\n    x = \"")
	for calls > 0 {
		n := min(depth, calls)
		calls -= n
		b.WriteString("${strlen(")
		b.WriteString(strings.Repeat("replace(", n))
		b.WriteString(`format("%500000s", "")`)
		for i := range n {
			b.WriteString([]string{`, " ", "a")`, `, "a", " ")`}[i%2])
		}
		b.WriteString(")}")
	}
	b.WriteString("\"\n  }\n}\n")
	return b.String()
}

// manyAttrs is a job whose meta block repeats attr (with I replaced by the
// attribute's number) n times.
func manyAttrs(n int, attr string) string {
	var b strings.Builder
	b.WriteString("job \"hostile\" {\n  meta {\n")
	for i := range n {
		fmt.Fprintf(&b, "    a%d = %s\n", i, strings.ReplaceAll(attr, "I", fmt.Sprint(i)))
	}
	b.WriteString("  }\n}\n")
	return b.String()
}

// hostileHCL are the hostile jobs, each with the limit that refuses it.
var hostileHCL = []struct {
	name, data, limit string
}{
	{"1 MB job", hostileJob(face.InputBytesMax - 1024), "HCLTokensMax"},
	{"185 KB job", hostileJob(185 << 10), "HCLTokensMax"},
	{"45 KB job", hostileJob(45 << 10), "EvalBytesMax"},
	{"1000 nested replace", nestedReplaceJob(1000), "EvalBytesMax"},
	{"try swallows the overrun", manyAttrs(20, `try(strlen(format("%999999sI", "")), 0)`), "EvalBytesMax"},
	{"numbers written long", manyAttrs(9, "strlen(jsonencode(["+strings.Repeat("1e-300, ", 999)+"I]))"), "could cost more than"},
	{"cheap calls", manyAttrs(60, strings.Repeat("abs(", 90)+"I"+strings.Repeat(")", 90)), "EvalCallsMax"},
	{"1 MB heredoc", "job \"hostile\" {\n  meta {\n    x = <<EOF\n" + strings.Repeat("a line of a config file\n", 40000) + "EOF\n  }\n}\n", "LiteralJoinBytesMax"},
	{"1 MB of escapes", "job \"hostile\" {\n  meta {\n    x = \"" + strings.Repeat("$${", 300000) + "\"\n  }\n}\n", "LiteralJoinBytesMax"},
	{"a long number", manyAttrs(1, strings.Repeat("7", 900000)), "DigitRunMax"},
	{"digits made by a function", manyAttrs(1, `abs(replace(format("%200000s", ""), " ", "7"))`), "DigitRunMax"},
	{"digits joined by a template", manyAttrs(1, `abs("`+strings.Repeat(`${format("%0999d", 7)}`, 200)+`")`), "DigitRunMax"},
	{"digits joined from a variable", "variable \"d\" { default = \"" + strings.Repeat("7", 999) + "\" }\n" + manyAttrs(1, `abs("`+strings.Repeat(`${var.d}`, 200)+`")`), "DigitRunMax"},
	{"deep templates", "job \"hostile\" {\n  meta {\n    x = " + strings.Repeat(`"a${`, 60) + "1" + strings.Repeat(`}"`, 60) + "\n  }\n}\n", "nested more than"},
}

// allocated is the bytes fn allocates. Every goroutine's allocations count,
// so run it alone (no t.Parallel, fuzzing with -parallel 1).
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// fuzzAllocMax is the most that decoding one fuzz input may allocate.
const fuzzAllocMax = 64 << 20

// checkAllocs runs fn, one fuzz input's work, and fails t if it allocated
// more than fuzzAllocMax: the fuzzer then keeps the input.
func checkAllocs(t *testing.T, fn func()) {
	t.Helper()
	if grew := allocated(fn); grew > fuzzAllocMax {
		t.Fatalf("one input allocated %d MiB, limit %d MiB", grew>>20, fuzzAllocMax>>20)
	}
}

// decodeMeasured decodes an HCL job and returns the error and the bytes
// allocated meanwhile.
func decodeMeasured(t testing.TB, data string) (error, uint64) {
	t.Helper()
	n, err := face.ByName(face.Nomad)
	if err != nil {
		t.Fatal(err)
	}
	b := []byte(data)
	alloc := allocated(func() { _, err = n.Decode("hostile.nomad", b, store.HCL) })
	return err, alloc
}

func TestHostileHCLIsBounded(t *testing.T) {
	for _, c := range hostileHCL {
		t.Run(c.name, func(t *testing.T) {
			err, alloc := decodeMeasured(t, c.data)
			t.Logf("%d bytes: %d KB allocated: %v", len(c.data), alloc>>10, err)
			if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), c.limit) {
				t.Fatalf("error %v, want ErrInvalid naming %s", err, c.limit)
			}
			if alloc > 100<<20 {
				t.Fatalf("decoding allocated %d MB", alloc>>20)
			}
		})
	}
}

// Jobs near the limits, written as people write them, still decode.
func TestLargeBenignHCLDecodes(t *testing.T) {
	for name, data := range map[string]string{
		"500-line heredoc": "job \"a\" {\n  group \"g\" {\n    task \"t\" {\n      template {\n        data = <<-EOF\n" +
			strings.Repeat("          key = \"{{ env \\\"NOMAD_ALLOC_ID\\\" }}\" # a line of a config file\n", 500) +
			"          EOF\n      }\n    }\n  }\n}\n",
		"19000 tokens": manyAttrs(860, `"${upper("vI")}-${lower("W")}"`),
	} {
		t.Run(name, func(t *testing.T) {
			err, alloc := decodeMeasured(t, data)
			t.Logf("%d bytes: %d MB allocated", len(data), alloc>>20)
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// BenchmarkHostileHCL decodes the hostile jobs: the 1 MB one is the
// issue's; the 45 KB one is the largest of its kind under HCLTokensMax, so
// evaluation runs until EvalBytesMax stops it.
func BenchmarkHostileHCL(b *testing.B) {
	n, err := face.ByName(face.Nomad)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range hostileHCL {
		data := []byte(c.data)
		b.Run(strings.ReplaceAll(c.name, " ", "_"), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := n.Decode("hostile.nomad", data, store.HCL); !errors.Is(err, store.ErrInvalid) {
					b.Fatalf("error %v, want ErrInvalid", err)
				}
			}
		})
	}
}
