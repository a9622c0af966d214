package report

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"revoada.dev/revoada/checkers"
)

// browserNames are the names a headless Chromium goes by, tried in order.
var browserNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// browser answers the path of a Chromium to drive. Without one the test is
// skipped, unless REVOADA_REQUIRE_CHROMIUM=1 (as CI sets after installing
// the Debian package chromium), when it fails.
func browser(t *testing.T) string {
	t.Helper()
	for _, name := range browserNames {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium on PATH (tried " + strings.Join(browserNames, ", ") + "); apt-get install chromium"
	if os.Getenv("REVOADA_REQUIRE_CHROMIUM") == "1" {
		t.Fatal(msg + ", and REVOADA_REQUIRE_CHROMIUM=1 requires it")
	}
	t.Skip(msg)
	return ""
}

// dumpDOM loads the page in headless Chromium and answers the DOM after its
// scripts ran. A real browser is an external process, so it gets a
// wall-clock deadline.
func dumpDOM(t *testing.T, bin, page string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "report.html")
	if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-dev-shm-usage", "--user-data-dir="+filepath.Join(dir, "profile"),
		"--dump-dom", "file://"+path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", bin, err, stderr.String())
	}
	return stdout.String()
}

func TestChromiumDrawsTheTimeline(t *testing.T) {
	bin := browser(t)
	const evil = `</script><script>document.body.setAttribute('data-pwned','1')</script><img id="pwned" src="x">`
	in := sample()
	in.Violations = append(in.Violations, Violation{Property: "watch-order", At: 6200 * time.Millisecond, Detail: evil})
	in.History = append(in.History, checkers.Op{Client: 4, Node: "n5", Verb: "apply", Key: evil, Value: evil,
		Invoke: 7 * time.Second, Return: 7100 * time.Millisecond, Outcome: checkers.OutcomeOK})
	in.Marks = append(in.Marks, checkers.Mark{At: 7 * time.Second, Node: "n5", Kind: checkers.MarkFault, Detail: evil})
	var b bytes.Buffer
	if err := Write(&b, in); err != nil {
		t.Fatal(err)
	}
	dom := dumpDOM(t, bin, b.String())
	if i := strings.Index(dom, "data-error="); i >= 0 {
		t.Fatalf("the page's script failed: %.200s", dom[i:])
	}
	if !strings.Contains(dom, `data-rendered="true"`) {
		t.Fatalf("the page's script did not finish:\n%.2000s", dom)
	}
	counts := []struct {
		what string
		want int
	}{
		{`data-node="`, len(in.Nodes)},
		{`class="op `, len(in.History)},
		{`class="violation"`, len(in.Violations)},
		{`data-client="`, 4},
		{`class="row monitor`, len(in.Monitors)},
		{`class="partition"`, 1},
		{`class="st st-leader"`, 2},
		{`class="down"`, 1},
		{`class="paused"`, 1},
		{`class="role role-control-plane"`, 1},
		{`class="mark mark-fault"`, 2},
		{`class="tick"`, -1}, // some
	}
	for _, c := range counts {
		got := strings.Count(dom, c.what)
		if c.want < 0 && got == 0 || c.want >= 0 && got != c.want {
			t.Errorf("%d of %s in the DOM, want %d", got, c.what, c.want)
		}
	}
	if strings.Contains(dom, `data-pwned="1"`) || strings.Contains(dom, `<img id="pwned"`) {
		t.Errorf("a hostile string ran or became an element")
	}
	if !strings.Contains(dom, "leader t1") || !strings.Contains(dom, "n1,n2 | n3,n4,n5") {
		t.Errorf("leader or partition labels missing")
	}
}
