// Command revoada is the one command-line front door to revoada.
//
//	revoada sim        run a scenario in the simulator, for one seed or many
//	revoada explore    draw a whole plan from every seed of a range (VOPR-style), run and judge it
//	revoada replay     rerun a failure bundle, or one scenario and seed, and show everything it found
//	revoada shrink     minimise a failure bundle into a small scenario file
//	revoada real       run a scenario against local 'revoada node' processes, judged as sim judges
//	revoada scenarios  list the built-in scenarios, or print one's YAML
//	revoada apply      apply a file's resources to the single-node mesh in a data directory
//	revoada get, list, delete, watch   read, remove and follow its resources
//	revoada node       run one node of a mesh over TCP with mutual TLS, until SIGTERM
//	revoada id         print a data directory's node ID
//	revoada mesh status  the mesh as a running node sees it
//	revoada chain      verify or show the attested role history
//	revoada version    the module version, VCS revision and time, Go version
//	revoada help       usage
//
// Exit status: 0 when every run passed; 1 when a check failed in some run (or
// a trace could not be written); 2 for bad usage (an unknown command or
// flag, with "did you mean" when one is close), a bad scenario, seed or
// seed range; 130 when a multi-seed run was interrupted and no run that
// completed failed, or a client verb other than watch was interrupted (a
// watch runs until Ctrl-C, and exits 0 then). The client verbs exit 1 when the store or the node
// says no (not found, conflict, a resource the store refuses, a node that
// cannot start or went away) and when apply applied some documents of a
// file but not all; they exit 2 for bad usage: an unknown or ambiguous
// KIND, a name in several namespaces without -n, an -o format the
// resource's face does not render, and an input file that cannot be read
// or of which no part decodes (nothing is applied then).
//
// # The client verbs and the data directory
//
// The client verbs run a single-node mesh (packages real/host and
// real/disk) on a data directory. bbolt locks raft.db for one process, so
// the process that starts the node holds the directory for as long as it
// runs, and serves the client verbs of other processes on a unix socket in
// it, DIR/revoada.sock (mode 0600 in a 0700 directory, so only its owner
// connects; removed on exit). A verb first dials that socket: when a
// process answers, the verb sends its requests there; when none does (no
// socket, or a stale one left by a killed process: only a process that
// took the lock serves, so the next one to take it removes a stale file),
// the verb starts the node itself. A directory whose socket path would not
// fit a unix socket address (socketPathBytesMax) cannot be shared: its
// holder says so, and another verb fails once the lock wait is over,
// saying why. That is how watch follows live changes
// while other commands apply and delete: whichever of them holds the
// directory serves the rest, and a watch whose serving process exits
// resumes from the next revision through the process that holds it next,
// possibly itself. A process that holds the directory closes its node only
// once the connections to it have ended (a watch is told to move on), so a
// request a holder accepted is answered, with two bounds that keep one
// client from holding the directory: a client that does not take a frame
// within frameWriteWaitMax is dropped, and closing waits at most
// closeWaitMax before it drops whatever connection is still open.
//
// The socket speaks a small protocol (socket.go): length-prefixed JSON
// frames of at most frameBytesMax bytes, each with a protocol version
// (other versions refused), connections limited to connsMax (a verb
// refused as busy tries again, busyAttemptsMax times; a connection idle
// for requestWaitMax is closed, a watch never), every decode error typed. Writes cross it as input files that the serving process
// decodes with their face, never as resources, so the socket is no way
// around a face's checks. It is an interim, local-only path until the
// HTTPS API of issue 13; it never listens on a network.
//
// The command is thin: parsing and printing live here, simulating in package
// sim, scenario files in package scenarios, the client verbs' node in
// packages real/host and real/disk. Runs in one process execute one
// after another (sim.Run holds a process-wide lock), so sim and explore run
// a seed range in parallel worker processes (--parallel N, workers.go),
// their output the same as a sequential run's. Of the simulation, only this command reads the wall clock,
// to report how much faster than real time a run went.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"revoada.dev/revoada/core/face"
)

// Exit statuses.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitInterrupted = 130 // 128 + SIGINT, as a shell reports it
)

const usageText = `revoada runs the revoada mesh in a deterministic simulator, and as a
single-node mesh on this machine.

Usage:
  revoada <command> [flags]

Commands:
  sim        run a scenario for one seed or a range of seeds
               revoada sim [--scenario NAME|FILE] [--seed N | --seeds A..B [--parallel N]] [--json]
               [--trace FILE] [--report DIR] [--bundles DIR] [--plant BUGS]
  explore    draw a whole simulation plan from every seed of a range, run and judge it
               revoada explore --seeds A..B [--parallel N] [--json] [--bundles DIR] [--plant BUGS]
  replay     rerun a failure bundle, or one scenario and seed; print every violation
             and the full fingerprint
               revoada replay BUNDLE
               revoada replay --scenario NAME|FILE --seed N [--json] [--trace FILE]
  shrink     minimise a failure bundle into a small scenario file that still fails
               revoada shrink BUNDLE [-o FILE] [--runs N]
  real       run a scenario against local 'revoada node' processes, faults injected
             for real, judged with the simulator's checkers
               revoada real --scenario NAME|FILE [--time-scale F] [--seed N] [--bundles DIR]
  scenarios  list the built-in scenarios, or print one's YAML
               revoada scenarios [--show NAME]
  apply      apply a manifest, job, unit file or native envelopes; each YAML
             document on its own, as kubectl does
               revoada apply -f FILE [--format F] [--face NAME] [--data DIR]
  get        print one resource in its face's format
               revoada get KIND NAME [-n NAMESPACE] [-o FORMAT]
  list       list the resources of a kind
               revoada list KIND [-n NAMESPACE] [-o FORMAT]
  delete     delete one resource
               revoada delete KIND NAME [-n NAMESPACE]
  watch      print changes to a kind as they happen, until Ctrl-C
               revoada watch KIND [--from REVISION]
  node       run one node of a mesh over TCP with mutual TLS, until SIGTERM;
             a new mesh's nodes are each given the others' addresses
               revoada node --listen HOST:PORT [--join HOST:PORT,...] [--peer ID@HOST:PORT ...]
               [--mesh NAME] [--target STRATEGY] [--data DIR]
  id         print the node ID of a data directory (made if absent)
               revoada id [--data DIR]
  mesh       show the mesh as a running node sees it: roles, health, leader, term,
             the policy's last decision
               revoada mesh status [--json] [--data DIR]
  chain      verify or show the attested role history: every role change a block
             signed by the leader that proposed it, in a BLAKE3 hash chain
               revoada chain verify|show [FILE] [--data DIR | --server URL] [--attested] [--json]
  version    print the module version, VCS revision and time, and Go version
  help       print this text, or a command's flags: revoada help <command>

The client verbs keep the node's state in --data DIR (default $REVOADA_DATA,
$XDG_DATA_HOME/revoada or ~/.local/share/revoada); while one runs, it serves
the others on DIR/revoada.sock, so watch sees what apply and delete do.
KIND is read as kubectl reads it (pods, po, deployments.apps, ...). -o
depends on the resource's face: kubernetes yaml|json, nomad json, systemd
unit, baremetal yaml|json|unit, pureraft native; native works for every
resource.

Exit status: 0 success; 1 a check failed in some run, the store refused
(not found, conflict, ...), or apply applied only part of a file; 2 bad
usage (unknown command, flag, KIND or -o format for the resource), bad
scenario or seed, or an input file that cannot be read or decoded; 130
interrupted (Ctrl-C) with no failure so far (a watch ends with Ctrl-C, exit 0).
`

// command is one subcommand: its usage text, and its flags with what it does
// with them. flags defines a fresh flag set and returns the function that
// runs the command once the set has parsed the arguments.
type command struct {
	name     string
	synopsis string // the usage line after "revoada "
	about    string // what the command does, for its help
	flags    func(*env) (*flag.FlagSet, func() int)
}

// env is the process's outside world, passed down so that nothing below main
// touches os.Stdout or os.Stderr directly.
type env struct {
	stdout, stderr io.Writer
	live           bool            // stderr is a terminal: show progress there
	ctx            context.Context // nil: the process's; a test cancels its own as Ctrl-C would
	// sleep waits d or until ctx ends (its error then); nil: the wall
	// clock's. A test counts the waits instead.
	sleep func(ctx context.Context, d time.Duration) error
}

// pause is e.sleep, or the wall clock's.
func (e *env) pause(ctx context.Context, d time.Duration) error {
	if e.sleep != nil {
		return e.sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var commands = []command{
	{"sim", simSynopsis, simAbout, simFlags},
	{"replay", replaySynopsis, replayAbout, replayFlags},
	{"explore", exploreSynopsis, exploreAbout, exploreFlags},
	{"shrink", shrinkSynopsis, shrinkAbout, shrinkFlags},
	{"real", realSynopsis, realAbout, realFlags},
	{"scenarios", scenariosSynopsis, scenariosAbout, scenariosFlags},
	{"apply", applySynopsis, applyAbout, applyFlags},
	{"get", getSynopsis, getAbout, getFlags},
	{"list", listSynopsis, listAbout, listFlags},
	{"delete", deleteSynopsis, deleteAbout, deleteFlags},
	{"watch", watchSynopsis, watchAbout, watchFlags},
	{"node", nodeSynopsis, nodeAbout, nodeFlags},
	{"id", idSynopsis, idAbout, idFlags},
	{"mesh", meshSynopsis, meshAbout, meshFlags},
	{"chain", chainSynopsis, chainAbout, chainFlags},
	{"version", versionSynopsis, versionAbout, versionFlags},
}

func main() {
	e := &env{stdout: os.Stdout, stderr: os.Stderr, live: isTerminal(os.Stderr)}
	tuneGC(os.Args[1:])
	os.Exit(run(e, os.Args[1:]))
}

// run executes the command line args (without the program name) and returns
// the exit status.
func run(e *env, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usageText)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		return help(e, args[1:])
	case "-version", "--version":
		args = append([]string{"version"}, args[1:]...)
	}
	cmd, ok := lookup(args[0])
	if !ok {
		fmt.Fprintf(e.stderr, "revoada: unknown command %q%s\nrun 'revoada help' for the commands\n", args[0], didYouMean(args[0]))
		return exitUsage
	}
	fs, exec := cmd.flags(e)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(e.stdout, cmd, fs)
			return exitOK
		}
		return flagError(e, cmd.name, fs, err)
	}
	return exec()
}

// didYouMean suggests the commands closest to a mistyped one:
// "; did you mean \"apply\"?", or "".
func didYouMean(name string) string {
	pool := []string{"help"}
	for _, c := range commands {
		pool = append(pool, c.name)
	}
	s := face.Suggest(name, pool)
	if len(s) == 0 {
		return ""
	}
	return "; did you mean " + quoteOr(s) + "?"
}

// quoteOr writes names as "a", "b" or "c".
func quoteOr(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// flagError ends a command whose flags did not parse (the flag package has
// printed why): it suggests the closest flags to an undefined one, points
// at the command's help, and returns exitUsage.
func flagError(e *env, cmd string, fs *flag.FlagSet, err error) int {
	if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -"); ok {
		var pool []string
		fs.VisitAll(func(f *flag.Flag) { pool = append(pool, f.Name) })
		if s := face.Suggest(name, pool); len(s) > 0 {
			fmt.Fprintf(e.stderr, "did you mean --%s?\n", strings.Join(s, " or --"))
		}
	}
	fmt.Fprintf(e.stderr, "run 'revoada help %s' for its flags\n", cmd)
	return exitUsage
}

// help prints the usage text, or with one argument that command's flags, to
// stdout.
func help(e *env, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(e.stdout, usageText)
		return exitOK
	}
	cmd, ok := lookup(args[0])
	switch {
	case !ok:
		fmt.Fprintf(e.stderr, "revoada help: unknown command %q%s\n", args[0], didYouMean(args[0]))
		return exitUsage
	case len(args) > 1:
		fmt.Fprintf(e.stderr, "revoada help: unexpected argument %q\n", args[1])
		return exitUsage
	}
	fs, _ := cmd.flags(e)
	printUsage(e.stdout, cmd, fs)
	return exitOK
}

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// newFlagSet makes a subcommand's flag set. It prints parse errors to
// stderr but no usage: run prints a hint, or the usage when asked with -h.
func newFlagSet(e *env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {}
	return fs
}

// printUsage prints cmd's usage line, description and flags to w.
func printUsage(w io.Writer, cmd command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: revoada %s\n\n%s\n\nFlags (one dash or two):\n", cmd.synopsis, cmd.about)
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// usageError prints a usage problem of the named command and returns
// exitUsage.
func usageError(e *env, cmd, format string, args ...any) int {
	fmt.Fprintf(e.stderr, "revoada %s: %s\n", cmd, fmt.Sprintf(format, args...))
	fmt.Fprintf(e.stderr, "run 'revoada help %s' for its flags\n", cmd)
	return exitUsage
}

// isTerminal reports whether f is a character device, which is how a
// terminal looks to the standard library.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// interruptible returns a context cancelled by the first SIGINT or SIGTERM.
// After that first signal the handler is removed, so a second Ctrl-C ends
// the process at once. The caller must call stop.
func interruptible() (ctx context.Context, stop func()) {
	return interruptibleFrom(context.Background())
}

// interruptible is the package function under e's context, when it has
// one.
func (e *env) interruptible() (ctx context.Context, stop func()) {
	if e.ctx != nil {
		return interruptibleFrom(e.ctx)
	}
	return interruptible()
}

func interruptibleFrom(parent context.Context) (ctx context.Context, stop func()) {
	ctx, stop = signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	return ctx, stop
}
