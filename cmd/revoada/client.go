package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/attest"
	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/net/transport"
	"revoada.dev/revoada/real/api"
	"revoada.dev/revoada/real/disk"
	"revoada.dev/revoada/real/host"
)

// The client verbs (apply, get, list, delete, watch) run against a
// single-node mesh on a data directory: a real/host node, made on first
// use. Whichever process starts the node holds the directory (bbolt's lock
// on raft.db) and serves the other verbs on DIR/revoada.sock while it runs;
// a verb that finds the socket answering sends its requests there instead
// of starting a node. See the package doc.

// errMeshNodeDown: a client verb on the directory of a mesh node that is not
// running.
var errMeshNodeDown = errors.New("no node runs on this mesh directory")

// nodeClient is what the client verbs need of the node, here or in the
// process that serves the data directory.
type nodeClient interface {
	// ApplyFile decodes in with its face, document by document
	// (face.DecodeEach), applies each resource, and calls each with every
	// outcome in order. Its error is the node's or the connection's, not a
	// document's.
	ApplyFile(ctx context.Context, in applyInput, each func(docResult)) error
	// Get reads one resource (linearizable), and says at which store
	// revision it was served when the backend tells (0 when not).
	Get(ctx context.Context, ref store.Ref) (store.Resource, store.Revision, error)
	List(ctx context.Context, kind, namespace string) (backend.List, error)
	// Delete deletes one resource if exp holds.
	Delete(ctx context.Context, ref store.Ref, exp store.Expect) (store.Resource, error)
	// Watch follows kind from a revision, as backend.Backend.Watch. A watch
	// through another process ends with errNodeGone when that process exits.
	Watch(ctx context.Context, kind string, from store.Revision) (backend.Watch, error)
	// Kinds lists the kinds the store holds, sorted.
	Kinds(ctx context.Context) ([]string, error)
	// MeshStatus is what the node knows of its mesh (errNoMesh for a
	// node that runs none: the client verbs' own).
	MeshStatus(ctx context.Context) (meshStatus, error)
	// Leave takes the node out of its mesh and waits until it knows it
	// left (errNoMesh for a node that runs none); the node then stops.
	Leave(ctx context.Context) error
	// Admit makes node id, listening at addr, a member of the node's mesh
	// (errNoMesh for a node that runs none).
	Admit(ctx context.Context, id roles.NodeID, addr string) (changed bool, err error)
	// Shift submits an operator's role shift to the mesh and waits for its
	// result: nil when it committed, an error wrapping its roles.RejectCode
	// when refused, node.ErrTimeout when its outcome is unknown (errNoMesh
	// for a node that runs none).
	Shift(ctx context.Context, sh roles.Shift) error
	// SetNetFaults sets the probabilities that the node loses and
	// duplicates a message it sends to a peer (transport.Faulty;
	// errNoMesh for a node that runs none).
	SetNetFaults(ctx context.Context, loss, duplicate float64) error
	// SetClockRate makes the node's clock run at rate times its speed
	// (errNoMesh for a node that runs none).
	SetClockRate(ctx context.Context, rate float64) error
	// Chain is the attested role history the node's replica holds, not
	// yet verified (errNoMesh for a node that runs none).
	Chain(ctx context.Context) ([]attest.Block, error)
}

// The client verbs' inputs and outcomes are the API's (real/api).
type (
	applyInput = api.ApplyInput
	docResult  = api.DocResult
)

// localNode is a nodeClient over a node in this process: its backend, and
// the host when it runs one of a mesh ('revoada node').
type localNode struct {
	b      backend.Backend
	h      *host.Node
	left   func()            // stops the node's process once it left its mesh
	faults *transport.Faulty // the mesh node's transport; nil for none
}

var _ nodeClient = localNode{}

func (n localNode) Chain(ctx context.Context) ([]attest.Block, error) {
	if n.h == nil {
		return nil, errNoMesh
	}
	return n.h.Chain(ctx)
}

// ApplyFile applies as api.ApplyFile does.
func (n localNode) ApplyFile(ctx context.Context, in applyInput, each func(docResult)) error {
	return api.ApplyFile(ctx, n.b, in, each)
}

func (n localNode) Get(ctx context.Context, ref store.Ref) (store.Resource, store.Revision, error) {
	return api.Get(ctx, n.b, ref, backend.ReadOptions{})
}

func (n localNode) List(ctx context.Context, kind, namespace string) (backend.List, error) {
	return n.b.List(ctx, kind, namespace, backend.ReadOptions{})
}

func (n localNode) Delete(ctx context.Context, ref store.Ref, exp store.Expect) (store.Resource, error) {
	return n.b.Delete(ctx, ref, exp)
}

func (n localNode) SetClockRate(ctx context.Context, rate float64) error {
	if n.h == nil {
		return errNoMesh
	}
	return n.h.SetClockRate(ctx, rate)
}

func (n localNode) SetNetFaults(_ context.Context, loss, duplicate float64) error {
	if n.faults == nil {
		return errNoMesh
	}
	return n.faults.SetRates(loss, duplicate)
}

func (n localNode) Shift(ctx context.Context, sh roles.Shift) error {
	if n.h == nil {
		return errNoMesh
	}
	_, err := n.h.Shift(ctx, sh)
	return err
}

func (n localNode) Watch(ctx context.Context, kind string, from store.Revision) (backend.Watch, error) {
	return n.b.Watch(ctx, kind, from)
}

func (n localNode) Kinds(ctx context.Context) ([]string, error) {
	l, err := n.b.List(ctx, "", "", backend.ReadOptions{})
	if err != nil {
		return nil, err
	}
	var kinds []string
	for _, r := range l.Items {
		kinds = append(kinds, r.Ref.Kind)
	}
	slices.Sort(kinds)
	return slices.Compact(kinds), nil
}

// nodeAttemptsMax bounds how often a verb tries to reach the node: dial
// the socket, else start the node, which waits disk.LockWaitMax for a
// process between taking the lock and serving, or between the two on its
// way out.
const nodeAttemptsMax = 5

// withNode runs f against the node on dir, with a context that Ctrl-C
// cancels: through DIR/revoada.sock when a process serves it, else on a
// node it starts here, serving the socket to others while f runs. The node
// closes once f has returned and every connection to it has ended. A
// directory whose path is too long for a socket (errSocketPath) is served
// to nobody: a verb waits for its lock once, then says why it cannot share
// it.
func withNode(e *env, verb, dir string, f func(ctx context.Context, n nodeClient) int) int {
	ctx, stop := e.interruptible()
	defer stop()
	sock := filepath.Join(dir, socketName)
	unshared := checkSocketPath(sock)
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return clientError(e, verb, err)
		}
		if unshared == nil {
			rn, err := dialPatiently(ctx, e, sock)
			if err == nil {
				defer rn.Close()
				return f(ctx, rn)
			}
			if !errors.Is(err, errNotServed) {
				return clientError(e, verb, err)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, membersFile)); err == nil {
			// A mesh node's directory: started alone here it would be a
			// mesh of one that takes writes its mesh never sees.
			return clientError(e, verb, fmt.Errorf("%w: %s holds a node of a mesh, which is not running: start it with 'revoada node --data %s ...' and try again", errMeshNodeDown, dir, dir))
		}
		h, err := host.Start(host.Config{Dir: dir})
		switch {
		case err == nil:
			return runHere(ctx, e, verb, h, sock, f)
		case errors.Is(err, disk.ErrLocked) && unshared != nil:
			return clientError(e, verb, fmt.Errorf("%s is in use by another revoada process, which cannot share it: %w", dir, unshared))
		case errors.Is(err, disk.ErrLocked) && attempt == nodeAttemptsMax:
			return clientError(e, verb, fmt.Errorf("%w; nothing answers on %s: the process holding it serves no socket (a revoada given a path to %s too long for one, or another program)", err, sock, dir))
		case !errors.Is(err, disk.ErrLocked):
			return clientError(e, verb, err)
		}
	}
}

// runHere runs f on node h while serving the socket, then closes both.
func runHere(ctx context.Context, e *env, verb string, h *host.Node, sock string, f func(context.Context, nodeClient) int) int {
	n := localNode{b: h.Backend()}
	srv, err := listen(sock, n)
	if err != nil {
		fmt.Fprintf(e.stderr, "revoada %s: other revoada commands cannot use %s while this one runs: %v\n", verb, filepath.Dir(sock), err)
	}
	code := f(ctx, n)
	if srv != nil {
		srv.Close()
	}
	if err := h.Close(); err != nil && code == exitOK {
		return clientError(e, verb, err)
	}
	return code
}

// Retrying a node that is busy (errBusy): busyAttemptsMax tries, waiting
// busyWaitMin before the second, doubling up to busyWaitMax; 9.75 s in all,
// longer than requestWaitMax, so that connections held by idle clients
// have been closed by the last try.
const (
	busyAttemptsMax = 8
	busyWaitMin     = 250 * time.Millisecond
	busyWaitMax     = 2 * time.Second
)

// dialPatiently is dialNode, trying again while the node is busy. Its
// error after the last try says how often and how long it tried.
func dialPatiently(ctx context.Context, e *env, sock string) (*remoteNode, error) {
	var waited time.Duration
	for attempt := 1; ; attempt++ {
		rn, err := dialNode(ctx, sock)
		if !errors.Is(err, errBusy) {
			return rn, err
		}
		if attempt == busyAttemptsMax {
			return nil, fmt.Errorf("%w: refused %d times in %s; try again when fewer revoada commands use %s",
				err, attempt, waited, filepath.Dir(sock))
		}
		wait := min(busyWaitMin<<(attempt-1), busyWaitMax)
		if err := e.pause(ctx, wait); err != nil {
			return nil, err
		}
		waited += wait
	}
}

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
	return fs.String("o", "", "the output `FORMAT`, one the resource's face renders ("+faceFormats()+
		"); native, the store's own envelope, works for every resource (default: the stored format)")
}

// faceFormats lists each face's output formats: "kubernetes yaml|json, ...".
func faceFormats() string {
	var out []string
	for _, f := range face.All() {
		var names []string
		for _, fm := range f.Formats() {
			names = append(names, fm.String())
		}
		out = append(out, f.Name()+" "+strings.Join(names, "|"))
	}
	return strings.Join(out, ", ")
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

// Errors of the client verbs that are bad usage (exit 2).
var (
	// errAmbiguous: a name given without -n exists in several namespaces.
	errAmbiguous = errors.New("ambiguous name")
	// errOutput: -o names a format the resource's face does not render.
	errOutput = errors.New("cannot render")
	// errInput: the input file cannot be read or decoded at all.
	errInput = errors.New("bad input")
)

// clientError prints err and returns the exit status: 130 for Ctrl-C (the
// context's cancellation), 2 for bad usage (an unknown or ambiguous kind, a
// name in several namespaces, a format the resource's face does not render,
// an input file that cannot be read or decoded), 1 for the rest (typed
// store errors, a data directory in use, a node that went away, ...).
func clientError(e *env, verb string, err error) int {
	if errors.Is(err, context.Canceled) {
		fmt.Fprintf(e.stderr, "revoada %s: interrupted\n", verb)
		return exitInterrupted
	}
	fmt.Fprintf(e.stderr, "revoada %s: %v\n", verb, err)
	for _, usage := range []error{errAmbiguous, errOutput, errInput, face.ErrUnknownKind, face.ErrAmbiguousKind} {
		if errors.Is(err, usage) {
			return exitUsage
		}
	}
	return exitFailed
}

// kindArg is a KIND argument resolved against the node's kinds.
type kindArg struct {
	name  string          // as given
	kind  face.KindInfo   // what it resolved to
	other []face.KindInfo // other kinds the name answers to, ignoring case
}

// resolveKind resolves a KIND argument like kubectl (face.ResolveKind),
// knowing the store's kinds and custom resource definitions.
func resolveKind(ctx context.Context, n nodeClient, name string) (kindArg, error) {
	stored, err := n.Kinds(ctx)
	if err != nil {
		return kindArg{}, err
	}
	crds, err := n.List(ctx, "CustomResourceDefinition", "")
	if err != nil {
		return kindArg{}, err
	}
	kinds := face.Kinds(stored, crds.Items)
	k, err := face.ResolveKind(name, kinds)
	if err != nil {
		return kindArg{}, err
	}
	a := kindArg{name: name, kind: k}
	for _, o := range face.KindsNamed(name, kinds) {
		if o.Kind != k.Kind {
			a.other = append(a.other, o)
		}
	}
	return a, nil
}

// note prints, when a resolved kind held nothing, which other kinds its
// name would have meant in another spelling ("service" is the systemd unit
// type; the Kubernetes Service is "Service" or "svc").
func (a kindArg) note(e *env, verb string) {
	for _, o := range a.other {
		fmt.Fprintf(e.stderr, "revoada %s: note: %q is %s; for %s %s say %s\n",
			verb, a.name, describeKind(a.kind), cmp.Or(o.Face, "the custom kind"), o.Kind, quoteOr(append([]string{o.Kind}, o.Short...)))
	}
}

// notFound prints a lookup's error, and the note when it is not found.
func (a kindArg) notFound(e *env, verb string, err error) int {
	code := clientError(e, verb, err)
	if errors.Is(err, store.ErrNotFound) {
		a.note(e, verb)
	}
	return code
}

func describeKind(k face.KindInfo) string {
	switch k.Face {
	case face.Systemd:
		return "the systemd unit type"
	case "":
		return "a custom kind in the store"
	}
	return "the " + k.Face + " kind " + k.Kind
}

// resolve finds kind/name: in namespace ns when nsSet, else in whichever
// namespace holds it (errAmbiguous when several do).
func resolve(ctx context.Context, n nodeClient, kind, name, ns string, nsSet bool) (store.Resource, error) {
	if nsSet {
		r, _, err := n.Get(ctx, store.Ref{Kind: kind, Namespace: ns, Name: name})
		return r, err
	}
	l, err := n.List(ctx, kind, "")
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

// checkOutput refuses format f for a resource whose face does not render
// it (errOutput), naming the formats it does. 0 (the stored format) and
// native are always rendered.
func checkOutput(r store.Resource, f store.Format) error {
	if f == 0 || f == store.Native {
		return nil
	}
	fc, err := face.ByName(r.Face)
	if err != nil {
		return err
	}
	if slices.Contains(fc.Formats(), f) {
		return nil
	}
	var names []string
	for _, fm := range fc.Formats() {
		names = append(names, fm.String())
	}
	if !slices.Contains(fc.Formats(), store.Native) {
		names = append(names, store.Native.String())
	}
	return fmt.Errorf("-o %s: %w %s: it comes from the %s face, which renders -o %s",
		f, errOutput, r.Ref, r.Face, strings.Join(names, ", -o "))
}

// encode renders r in format f (0: the stored format), ending with a
// newline: through its face, or as its native envelope.
func encode(r store.Resource, f store.Format) ([]byte, error) {
	if err := checkOutput(r, f); err != nil {
		return nil, err
	}
	if f == store.Native {
		return store.AppendResource(nil, r), nil
	}
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
