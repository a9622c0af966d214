package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"revoada.dev/revoada/core/store"
)

const watchSynopsis = "watch KIND [--from REVISION] " + targetSynopsis

const watchAbout = `Print the changes to resources of KIND, one line per event, until Ctrl-C:
"ADDED REF rev N", MODIFIED, DELETED, and "BOOKMARK rev N" when the stream
has caught up. Ctrl-C ends it (exit 0), as it is meant to end. Without --from it first prints every existing resource as
ADDED, then a BOOKMARK; with --from it replays the history from that
revision (exit 1 if it was compacted: watch without --from).

Other commands apply and delete while the watch runs, and it prints their
changes as they commit: the revoada process that holds the data directory
serves the others on DIR/revoada.sock. When the process the watch follows
through exits, the watch carries on from the next revision through the
process that holds the directory next (itself, if none other does).

` + kindHelp

// watchResumesMax bounds how often one watch carries on through another
// process.
const watchResumesMax = 1000

// watchPoint is where a watch stands: the revision to resume from, and
// whether it is past its initial listing (a watch from revision 0 can only
// resume once its Bookmark has come).
type watchPoint struct {
	from   store.Revision
	listed bool
}

// watchFlags defines watch's flags and returns the function that runs it.
func watchFlags(e *env) (*flag.FlagSet, func() int) {
	fs := newFlagSet(e, "watch")
	from := fs.Uint64("from", 0, "replay the history from `REVISION` (0: the current state, then changes)")
	data, srv := dataFlag(fs), storeFlags(fs)
	return fs, func() int {
		pos, code := positionals(e, command{name: "watch", synopsis: watchSynopsis, about: watchAbout}, fs)
		if code >= 0 {
			return code
		}
		if len(pos) != 1 {
			return usageError(e, "watch", "want KIND, got %d arguments", len(pos))
		}
		at := watchPoint{from: store.Revision(*from), listed: *from > 0}
		for resumes := 0; ; resumes++ {
			resume := false
			code := withTarget(e, "watch", *data, srv, func(ctx context.Context, n nodeClient) int {
				kind, err := resolveKind(ctx, n, pos[0])
				if err != nil {
					return clientError(e, "watch", err)
				}
				code, again := watch(ctx, e, n, kind.kind.Kind, &at)
				resume = again && resumes < watchResumesMax
				return code
			})
			switch {
			case code == exitInterrupted: // Ctrl-C before the watch began
				return exitOK
			case !resume:
				return code
			}
		}
	}
}

// watch prints events until ctx ends (exit 0) or the watch does (exit 1),
// keeping at up to date. When the process it follows through exits past
// the initial listing, it returns resume.
func watch(ctx context.Context, e *env, n nodeClient, kind string, at *watchPoint) (code int, resume bool) {
	w, err := n.Watch(ctx, kind, at.from)
	if err != nil {
		return clientError(e, "watch", err), false
	}
	defer w.Close()
	for ev := range w.Events() {
		if ev.Type == store.Bookmark || ev.Type == store.Reset {
			fmt.Fprintf(e.stdout, "%s rev %d\n", ev.Type, ev.Revision)
		} else {
			fmt.Fprintf(e.stdout, "%s %s rev %d\n", ev.Type, ev.Resource.Ref, ev.Revision)
		}
		at.listed = at.listed || ev.Type == store.Bookmark
		if at.listed {
			at.from = ev.Revision + 1
		}
	}
	switch err := w.Err(); {
	case ctx.Err() != nil:
		return exitOK, false // Ctrl-C
	case errors.Is(err, errNodeGone) && at.listed:
		return exitOK, true
	case errors.Is(err, errNodeGone):
		return clientError(e, "watch", fmt.Errorf("%w during the initial listing; watch again", err)), false
	case err == nil:
		return clientError(e, "watch", errors.New("the store was reset; watch again")), false
	default:
		return clientError(e, "watch", err), false
	}
}
