package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/real/host"
)

// The client verbs (apply, get, list, delete, watch) run against an
// in-process single-node mesh: a real/host node on its data directory, made
// on first use. The node holds the directory's lock while the command runs,
// so one command at a time uses a directory.

// errAmbiguous: a name given without -n exists in several namespaces.
var errAmbiguous = errors.New("ambiguous name")

// defaultDataDir is $REVOADA_DATA, else $XDG_DATA_HOME/revoada, else
// ~/.local/share/revoada.
func defaultDataDir() string {
	if d := os.Getenv("REVOADA_DATA"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "revoada")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "revoada")
	}
	return ".revoada"
}

// dataFlag defines --data.
func dataFlag(fs *flag.FlagSet) *string {
	return fs.String("data", defaultDataDir(), "the node's data `DIR` (default $REVOADA_DATA, $XDG_DATA_HOME/revoada or ~/.local/share/revoada)")
}

// namespaceFlag defines -n.
func namespaceFlag(fs *flag.FlagSet) *string {
	return fs.String("n", "", "the `NAMESPACE`; without it, a name is looked up in every namespace")
}

// outputFlag defines -o.
func outputFlag(fs *flag.FlagSet) *string {
	return fs.String("o", "", "the output `FORMAT`: yaml, json, hcl, unit or native (default: the stored format)")
}

// positionals parses what fs left after its first positional argument, so
// that flags may follow positional arguments (get KIND NAME -n ns), and
// returns the positional arguments. On a parse error, or -h, it returns the
// exit status to end with; otherwise -1.
func positionals(e *env, cmd command, fs *flag.FlagSet) ([]string, int) {
	var pos []string
	for fs.NArg() > 0 {
		pos = append(pos, fs.Arg(0))
		if err := fs.Parse(fs.Args()[1:]); errors.Is(err, flag.ErrHelp) {
			printUsage(e.stdout, cmd, fs)
			return nil, exitOK
		} else if err != nil {
			return nil, flagError(e, cmd.name, fs, err)
		}
	}
	return pos, -1
}

// parseOutput parses -o; "" is the stored format (0).
func parseOutput(o string) (store.Format, error) {
	if o == "" {
		return 0, nil
	}
	return store.ParseFormat(o)
}

// withNode starts the node on dir, runs f against its backend with a
// context that Ctrl-C cancels, and closes the node.
func withNode(e *env, verb, dir string, f func(ctx context.Context, b backend.Backend) int) int {
	h, err := host.Start(host.Config{Dir: dir})
	if err != nil {
		return clientError(e, verb, err)
	}
	ctx, stop := interruptible()
	defer stop()
	code := f(ctx, h.Backend())
	if err := h.Close(); err != nil && code == exitOK {
		return clientError(e, verb, err)
	}
	return code
}

// clientError prints err and returns the exit status: 2 for a usage
// problem (an ambiguous name), 1 for the rest (typed store errors, a data
// directory in use, ...).
func clientError(e *env, verb string, err error) int {
	fmt.Fprintf(e.stderr, "revoada %s: %v\n", verb, err)
	if errors.Is(err, errAmbiguous) {
		return exitUsage
	}
	return exitFailed
}

// resolve finds kind/name: in namespace ns when nsSet, else in whichever
// namespace holds it (errAmbiguous when several do).
func resolve(ctx context.Context, b backend.Backend, kind, name, ns string, nsSet bool) (store.Resource, error) {
	if nsSet {
		return b.Get(ctx, store.Ref{Kind: kind, Namespace: ns, Name: name}, backend.ReadOptions{})
	}
	l, err := b.List(ctx, kind, "", backend.ReadOptions{})
	if err != nil {
		return store.Resource{}, err
	}
	var found []store.Resource
	for _, r := range l.Items {
		if r.Ref.Name == name {
			found = append(found, r)
		}
	}
	switch len(found) {
	case 0:
		return store.Resource{}, fmt.Errorf("%w: %s %s in any namespace", store.ErrNotFound, kind, name)
	case 1:
		return found[0], nil
	}
	var nss []string
	for _, r := range found {
		nss = append(nss, fmt.Sprintf("%q", r.Ref.Namespace))
	}
	return store.Resource{}, fmt.Errorf("%w: %s %s is in namespaces %v; give -n", errAmbiguous, kind, name, nss)
}

// encode renders r through its face in format f (0: the stored format),
// ending with a newline.
func encode(r store.Resource, f store.Format) ([]byte, error) {
	fc, err := face.ByName(r.Face)
	if err != nil {
		return nil, err
	}
	if f == 0 {
		f = r.Format
	}
	out, err := fc.Encode(r, f)
	if err != nil {
		return nil, err
	}
	if len(out) > 0 && out[len(out)-1] != '\n' && f != store.Native {
		out = append(out, '\n')
	}
	return out, nil
}
