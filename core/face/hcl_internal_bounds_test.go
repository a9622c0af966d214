package face

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// checkScanBound fails unless the scan counts at least the tokens
// hclsyntax's lexer makes of src.
func checkScanBound(t *testing.T, name string, src []byte) {
	t.Helper()
	if checkText(src) != nil {
		return // the face refuses it before scanning
	}
	toks, _ := hclsyntax.LexConfig(src, name, hcl.InitialPos)
	s := newHCLScan(src)
	s.run(math.MaxInt)
	if s.why == "" && s.tokens < len(toks)-1 { // the lexer's EOF token has no byte
		t.Errorf("%s: counted %d tokens, the lexer makes %d", name, s.tokens, len(toks))
	}
}

// The scan never counts fewer tokens than hclsyntax makes: of the
// real-world jobs, the fuzz seeds and the shapes the scanner follows.
func TestTokenScanBoundsTheLexer(t *testing.T) {
	dir := "../../testdata/real-world/nomad"
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		src, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		checkScanBound(t, e.Name(), src)
	}
	for _, src := range []string{
		"a = \"x\\ny\\\"z$${a}b%%{c}${d + \"${e}\"}%{ if f }g%{ endif }\"\n",
		"a = <<EOF\nl1\nl2 ${x} l3\n$${y}\n  EOF\nEOF\nb = 1\n",
		"a = <<-EOF\n  l1 ${ {a = 1}.a }\n  l2\n  EOF\n",
		"# comment\n// comment\n/* block\n comment */ a = 1.5e+10 // tail",
		"a = [for x in y: x if x != \"\"]\nb = { c = -1, d = !true }\n",
		"a = \"unclosed\nb = 2\n",
		"a = \"" + strings.Repeat("$${", 100) + "\"\n",
		"héllo = \"wörld\"\n",
		"\"0\\", "\"\\", "a = \"x\\\nb = 1\n", "a = \"\\\r\n", // a backslash ending the line or file is a token of its own (found by FuzzTokenScan)
	} {
		checkScanBound(t, src, []byte(src))
	}
}

// FuzzTokenScan checks the bound on any input.
func FuzzTokenScan(f *testing.F) {
	f.Add([]byte("a = \"${b}\"\nc = <<EOF\nd\nEOF\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		checkScanBound(t, "in", src)
	})
}
