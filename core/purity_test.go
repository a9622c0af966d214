// Package core_test enforces that core/ stays pure: no clock, goroutines,
// channels, locks, operating system, network or global randomness in any
// non-test file under core/. The same state machines must run unchanged under
// the simulator, where only the simulator decides time and chance.
package core_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	raftpb "go.etcd.io/raft/v3/raftpb"
	"lukechampine.com/blake3"

	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/internal/testalloc"
)

var forbiddenImports = map[string]string{
	"os": "the operating system", "os/exec": "the operating system", "os/signal": "the operating system",
	"syscall": "the operating system", "net": "the network", "net/http": "the network",
	"sync": "locks (drive core from one goroutine)", "sync/atomic": "locks (drive core from one goroutine)",
	"math/rand": "global randomness (use math/rand/v2 values)", "crypto/rand": "ambient randomness",
	"unsafe": "memory tricks", "io/ioutil": "the file system", "log": "printing from library code",
}

// Clock functions of package time; types and arithmetic (time.Duration) are fine.
var forbiddenTime = map[string]bool{
	"Now": true, "Since": true, "Until": true, "Sleep": true, "After": true, "AfterFunc": true,
	"Tick": true, "NewTicker": true, "NewTimer": true,
}

// Types and constructors of math/rand/v2 that make a seeded value; every other
// package-level function draws from the global source.
var allowedRandV2 = map[string]bool{
	"New": true, "NewPCG": true, "NewChaCha8": true, "NewZipf": true,
	"Rand": true, "Source": true, "PCG": true, "ChaCha8": true, "Zipf": true, // types
}

// violations lists the impurities in one parsed file.
func violations(fset *token.FileSet, f *ast.File) []string {
	var out []string
	report := func(n ast.Node, format string, args ...any) {
		out = append(out, fset.Position(n.Pos()).String()+": "+fmt.Sprintf(format, args...))
	}
	names := map[string]string{} // local name -> import path
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		if why, bad := forbiddenImports[path]; bad || strings.HasPrefix(path, "net/") {
			report(imp, "imports %s (%s)", path, why)
		}
		name := filepath.Base(path)
		if path == "math/rand/v2" {
			name = "rand"
		}
		if imp.Name != nil {
			name = imp.Name.Name
		}
		names[name] = path
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			report(n, "starts a goroutine")
		case *ast.ChanType:
			report(n, "uses a channel")
		case *ast.SelectStmt:
			report(n, "uses select")
		case *ast.SelectorExpr:
			pkg, ok := n.X.(*ast.Ident)
			if !ok {
				break
			}
			switch names[pkg.Name] {
			case "time":
				if forbiddenTime[n.Sel.Name] {
					report(n, "reads the clock (time.%s); time is ticks", n.Sel.Name)
				}
			case "math/rand/v2":
				if !allowedRandV2[n.Sel.Name] {
					report(n, "draws global randomness (rand.%s); use the node's *rand.Rand", n.Sel.Name)
				}
			}
		}
		return true
	})
	return out
}

func TestCoreIsPure(t *testing.T) {
	fset := token.NewFileSet()
	files := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		for _, v := range violations(fset, f) {
			t.Error(v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 5 {
		t.Fatalf("checked only %d files; is the walk rooted at core/?", files)
	}
}

// TestPurityCheckBites proves each rule fires on a planted impurity.
func TestPurityCheckBites(t *testing.T) {
	src := `package p
import (
	"os"
	"sync"
	r "math/rand/v2"
	"time"
	"net/netip"
)
var mu sync.Mutex
func f() {
	_ = time.Now()
	_ = time.Duration(3) * time.Second
	go f()
	c := make(chan int)
	select { case <-c: }
	_ = r.IntN(3)
	_ = r.New(r.NewPCG(1, 2))
	_, _ = os.Getwd()
	_ = netip.Addr{}
}`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "planted.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(violations(fset, f), "\n")
	for _, want := range []string{"imports os", "imports sync", "imports net/netip", "time.Now", "goroutine", "channel", "select", "rand.IntN"} {
		if !strings.Contains(got, want) {
			t.Errorf("planted %q not reported; got:\n%s", want, got)
		}
	}
	for _, allowed := range []string{"time.Second", "time.Duration", "rand.New", "rand.NewPCG"} {
		if strings.Contains(got, allowed) {
			t.Errorf("%s reported but allowed:\n%s", allowed, got)
		}
	}
}

// TestHashingStartsNoGoroutine: the BLAKE3 library core hashes with must
// not start goroutines, as lukechampine.com/blake3 from v1.4 does inside
// Write and Sum for inputs over 1 KiB (and v1.5 in its guts): core runs on
// its caller's goroutine alone. v1.3.0 is pinned for that; it was also
// the fastest on this 2-core machine for 4 KiB inputs (1.0–1.2 GB/s, v1.4.1
// 0.04–0.33, v1.5.1 0.95–1.14) and on a par for 1 MiB (3.5–3.9 GB/s,
// v1.4.1 2.4–2.9, v1.5.1 3.8–4.0 on one core).
func TestHashingStartsNoGoroutine(t *testing.T) {
	big := make([]byte, 1<<20)
	entry := &raftpb.Entry{Index: new(uint64(1)), Term: new(uint64(1)), Type: raftpb.EntryNormal.Enum(), Data: big}
	hash := func() {
		blake3.Sum256(big)
		h := blake3.New(32, nil)
		h.Write(big)
		h.Sum(nil)
		node.EntryDigest(entry)
	}
	if started := testalloc.Goroutines(hash); started != 0 {
		t.Fatalf("hashing 1 MiB started %d goroutines: the BLAKE3 library must run on its caller's goroutine (pin a version that does)", started)
	}
}
