package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"sync"
)

// Seeds run in worker processes because runs in one process execute one
// after another (sim.Run holds a process-wide lock). A worker is the
// running executable restarted with a command's --worker flag: the parent
// writes it seeds on stdin, one decimal seed a line, and reads back one
// JSON outcome a line on stdout, in the same order. Both sides are here;
// explore and sim supply what runs a seed and the outcome's type.

// workersMax bounds --parallel.
const workersMax = 256

// seeded is a worker's outcome of one seed; it names the seed, so that the
// parent checks a worker answered the seed it was given.
type seeded interface{ seedOf() uint64 }

// serveSeeds is a worker process's loop: it runs each seed it reads from
// in, one decimal seed a line, and writes the outcome as one JSON line to
// e.stdout as soon as the seed is done. It ends when in ends: the parent
// closed it, or exited. It ignores SIGINT, which a terminal sends the whole
// process group: the parent decides when to stop, and a worker finishes its
// current seed. cmd names the command in its messages.
func serveSeeds[T seeded](e *env, cmd string, in io.Reader, run func(seed uint64) T) int {
	signal.Ignore(os.Interrupt)
	sc := bufio.NewScanner(in)
	out := bufio.NewWriter(e.stdout)
	for sc.Scan() {
		seed, err := parseSeed(strings.TrimSpace(sc.Text()))
		if err != nil {
			fmt.Fprintf(e.stderr, "revoada %s --worker: %v\n", cmd, err)
			return exitUsage
		}
		data, err := json.Marshal(run(seed))
		if err != nil { // outcomes hold strings and finite numbers
			panic(fmt.Sprintf("revoada: encoding the outcome of %s seed %d: %v", cmd, seed, err))
		}
		out.Write(append(data, '\n'))
		if err := out.Flush(); err != nil {
			return exitFailed // the parent is gone
		}
	}
	return exitOK
}

// runWorkers runs seeds in n worker processes, each the running executable
// started with args (a command's --worker mode, which calls serveSeeds),
// handing each worker its next seed when it returns an outcome, and passes
// the outcomes to add in seed order. Worker stderr goes to stderr. After
// ctx is cancelled no seed is handed out, and the seeds running finish. A
// worker that fails stops the handing out; the outcomes already in are
// passed on, in seed order across the gap. Every worker has exited when it
// returns.
func runWorkers[T seeded](ctx context.Context, args []string, seeds seedRange, n int, stderr io.Writer, add func(T)) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the executable for workers: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan uint64)
	go func() {
		defer close(next)
		for seed := range seeds.all() {
			select {
			case next <- seed:
			case <-ctx.Done():
				return
			}
		}
	}()
	results := make(chan T)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range min(uint64(n), seeds.count()) {
		w, err := startWorker[T](exe, args, stderr)
		if err != nil {
			cancel()
			errs <- err
			break
		}
		wg.Go(func() {
			if err := w.serve(ctx, next, results); err != nil {
				cancel()
				errs <- err
			}
		})
	}
	go func() { wg.Wait(); close(results) }()
	inOrder(seeds.first, results, add)
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// inOrder passes the outcomes it receives to add in seed order from first,
// holding back those that come early; when results closes with a gap (a
// seed no worker answered), the rest follow in seed order.
func inOrder[T seeded](first uint64, results <-chan T, add func(T)) {
	pending := map[uint64]T{}
	for x := range results {
		pending[x.seedOf()] = x
		for {
			x, ok := pending[first]
			if !ok {
				break
			}
			delete(pending, first)
			add(x)
			first++
		}
	}
	for _, seed := range slices.Sorted(maps.Keys(pending)) {
		add(pending[seed])
	}
}

// worker is one worker process, answering with outcomes of type T.
type worker[T seeded] struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func startWorker[T seeded](exe string, args []string, stderr io.Writer) (*worker[T], error) {
	cmd := exec.Command(exe, args...)
	cmd.Stderr = stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting a worker: %w", err)
	}
	return &worker[T]{cmd: cmd, in: in, out: bufio.NewReader(out)}, nil
}

// serve hands the worker seeds until there are none or ctx is done, sends
// each outcome on results, then closes the worker's stdin and waits for it
// to exit.
func (w *worker[T]) serve(ctx context.Context, seeds <-chan uint64, results chan<- T) error {
	err := w.loop(ctx, seeds, results)
	w.in.Close()
	if werr := w.cmd.Wait(); err == nil && werr != nil {
		err = fmt.Errorf("worker %d: %w", w.cmd.Process.Pid, werr)
	}
	return err
}

func (w *worker[T]) loop(ctx context.Context, seeds <-chan uint64, results chan<- T) error {
	for seed := range seeds {
		if ctx.Err() != nil {
			return nil
		}
		if _, err := fmt.Fprintf(w.in, "%d\n", seed); err != nil {
			return fmt.Errorf("worker %d: seed %d: %w", w.cmd.Process.Pid, seed, err)
		}
		line, err := w.out.ReadBytes('\n')
		if err != nil {
			return fmt.Errorf("worker %d: seed %d: no result: %w", w.cmd.Process.Pid, seed, err)
		}
		var x T
		if err := json.Unmarshal(line, &x); err != nil || x.seedOf() != seed {
			return fmt.Errorf("worker %d: seed %d: bad result %.80q: %v", w.cmd.Process.Pid, seed, line, err)
		}
		results <- x
	}
	return nil
}
