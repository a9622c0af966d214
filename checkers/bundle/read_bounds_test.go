package bundle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Issue 10: Read refuses, before reading it, a bundle whose files are
// many or large — sparse files here, claiming gigabytes on no disk — and
// allocates next to nothing doing so.
func TestReadDoesNotTrustSizes(t *testing.T) {
	many := map[string]int64{}
	for i := range FilesMax {
		many[fmt.Sprintf("extra%d", i)] = 0
	}
	for name, files := range map[string]map[string]int64{
		"4 GiB trace":     {"trace.jsonl": 4 << 30},
		"64 MiB run.json": {"run.json": 64 << 20},
		"2 MiB scenario":  {"scenario.yaml": 2 << 20},
		"many files":      many,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for name, data := range map[string]string{"run.json": "{}", "scenario.yaml": "name: x\n"} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for name, size := range files {
				if err := sparseFile(filepath.Join(dir, name), size); err != nil {
					t.Fatal(err)
				}
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := Read(dir)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrBadBundle) {
				t.Fatalf("read: %v, want ErrBadBundle", err)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
				t.Fatalf("refusing it allocated %d bytes", grew)
			}
		})
	}
}

// sparseFile makes path size bytes long, taking no disk for them.
func sparseFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
