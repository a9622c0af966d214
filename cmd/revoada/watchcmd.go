package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"revoada.dev/revoada/core/store"
)

const watchSynopsis = "watch KIND [--from REVISION] [--data DIR]"

const watchAbout = `Print the changes to resources of KIND, one line per event, until Ctrl-C:
"ADDED REF rev N", MODIFIED, DELETED, and "BOOKMARK rev N" when the stream
has caught up. Without --from it first prints every existing resource as
ADDED, then a BOOKMARK; with --from it replays the history from that
revision (exit 1 if it was compacted: watch without --from).

The data directory stays in use while the watch runs.

` + kindHelp

// watchFlags defines watch's flags and returns the function that runs it.
func watchFlags(e *env) (*flag.FlagSet, func() int) {
	fs := newFlagSet(e, "watch")
	from := fs.Uint64("from", 0, "replay the history from `REVISION` (0: the current state, then changes)")
	data := dataFlag(fs)
	return fs, func() int {
		pos, code := positionals(e, command{name: "watch", synopsis: watchSynopsis, about: watchAbout}, fs)
		if code >= 0 {
			return code
		}
		if len(pos) != 1 {
			return usageError(e, "watch", "want KIND, got %d arguments", len(pos))
		}
		return withNode(e, "watch", *data, func(ctx context.Context, n nodeClient) int {
			kind, err := resolveKind(ctx, n, pos[0])
			if err != nil {
				return clientError(e, "watch", err)
			}
			return watch(ctx, e, n, kind.kind.Kind, store.Revision(*from))
		})
	}
}

// watch prints events until ctx ends (exit 0) or the watch does (exit 1).
func watch(ctx context.Context, e *env, n nodeClient, kind string, from store.Revision) int {
	w, err := n.Watch(ctx, kind, from)
	if err != nil {
		return clientError(e, "watch", err)
	}
	defer w.Close()
	for ev := range w.Events() {
		if ev.Type == store.Bookmark || ev.Type == store.Reset {
			fmt.Fprintf(e.stdout, "%s rev %d\n", ev.Type, ev.Revision)
			continue
		}
		fmt.Fprintf(e.stdout, "%s %s rev %d\n", ev.Type, ev.Resource.Ref, ev.Revision)
	}
	switch err := w.Err(); {
	case ctx.Err() != nil:
		return exitOK // Ctrl-C
	case err == nil:
		return clientError(e, "watch", errors.New("the store was reset; watch again"))
	default:
		return clientError(e, "watch", err)
	}
}
