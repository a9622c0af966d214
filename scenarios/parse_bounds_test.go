package scenarios_test

import (
	"errors"
	"strings"
	"testing"

	"revoada.dev/revoada/internal/testalloc"
	"revoada.dev/revoada/scenarios"
)

// denseFiles are files within FileBytesMax whose YAML nodes would cost
// yaml.v3 80 to 150 MB (issue 10); they seed FuzzParse.
func denseFiles() []string {
	const head = "name: x\nnodes: 5\ncontrol_plane: 3\nduration: 60s\n"
	return []string{
		head + "faults: [" + strings.Repeat("1,", 500000) + "1]\n",
		head + "faults:\n" + strings.Repeat("- 1\n", 250000),
		head + "faults: [" + strings.Repeat("{},", 330000) + "{}]\n",
		head + "a: &a [1]\nfaults: [" + strings.Repeat("*a,", 300000) + "*a]\n",
	}
}

// Issue 10: a dense file is refused before it is parsed, with a typed
// error, allocating little.
func TestParseRefusesDenseFiles(t *testing.T) {
	for _, data := range denseFiles() {
		var err error
		testalloc.Check(t, 1<<20, func() { _, err = scenarios.Parse("dense.yaml", []byte(data)) })
		if !errors.Is(err, scenarios.ErrInvalid) || !strings.Contains(err.Error(), "TokensMax") {
			t.Fatalf("a dense file of %d bytes: %v, want ErrInvalid naming TokensMax", len(data), err)
		}
	}
}
