package scenarios

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"revoada.dev/revoada/sim"
)

// Default is the scenario run when none is named.
const Default = "smoke"

// builtinFS holds the built-in scenarios, one file per scenario named after
// it: builtin/<name>.yaml.
//
//go:embed builtin/*.yaml
var builtinFS embed.FS

// Names lists the built-in scenarios, sorted.
func Names() []string {
	entries, err := builtinFS.ReadDir("builtin")
	if err != nil {
		panic(fmt.Sprintf("scenarios: the embedded builtin directory cannot be read: %v", err))
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	slices.Sort(names)
	return names
}

// Source returns the YAML text of the built-in scenario name. The caller owns
// the returned slice. An unknown name matches ErrUnknown.
func Source(name string) ([]byte, error) {
	if !slices.Contains(Names(), name) {
		return nil, unknown(name)
	}
	data, err := builtinFS.ReadFile("builtin/" + name + ".yaml")
	if err != nil {
		panic(fmt.Sprintf("scenarios: built-in %q is listed but cannot be read: %v", name, err))
	}
	return data, nil
}

// Builtin parses the built-in scenario name. Every built-in is valid (a test
// checks it), so the only error is an unknown name, which matches ErrUnknown.
func Builtin(name string) (*sim.Plan, error) {
	data, err := Source(name)
	if err != nil {
		return nil, err
	}
	return Parse(name+".yaml", data)
}

// Resolve returns the built-in scenario arg if there is one, and otherwise
// loads the file at path arg. An arg that is neither gives an error matching
// ErrUnknown and fs.ErrNotExist that lists the built-ins.
func Resolve(arg string) (*sim.Plan, error) {
	if slices.Contains(Names(), arg) {
		return Builtin(arg)
	}
	if _, err := os.Stat(arg); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w %q: it is not a built-in (%s), and %w", ErrUnknown, arg, strings.Join(Names(), ", "), err)
	}
	return LoadFile(arg)
}

func unknown(name string) error {
	return fmt.Errorf("%w %q: the built-ins are %s", ErrUnknown, name, strings.Join(Names(), ", "))
}
