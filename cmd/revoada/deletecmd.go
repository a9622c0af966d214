package main

import (
	"context"
	"flag"
	"fmt"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/store"
)

const deleteSynopsis = "delete KIND NAME [-n NAMESPACE] [--data DIR]"

const deleteAbout = `Delete one resource and print "REF deleted revision N". Without -n the name
is looked up in every namespace; a name held by several namespaces needs -n.`

// deleteFlags defines delete's flags and returns the function that runs it.
func deleteFlags(e *env) (*flag.FlagSet, func() int) {
	fs := newFlagSet(e, "delete")
	ns, data := namespaceFlag(fs), dataFlag(fs)
	return fs, func() int {
		pos, code := positionals(e, command{name: "delete", synopsis: deleteSynopsis, about: deleteAbout}, fs)
		if code >= 0 {
			return code
		}
		if len(pos) != 2 {
			return usageError(e, "delete", "want KIND NAME, got %d arguments", len(pos))
		}
		nsSet := setFlags(fs)["n"]
		return withNode(e, "delete", *data, func(ctx context.Context, b backend.Backend) int {
			ref := store.Ref{Kind: pos[0], Namespace: *ns, Name: pos[1]}
			if !nsSet {
				r, err := resolve(ctx, b, pos[0], pos[1], "", false)
				if err != nil {
					return clientError(e, "delete", err)
				}
				ref = r.Ref
			}
			gone, err := b.Delete(ctx, ref, store.Expect{})
			if err != nil {
				return clientError(e, "delete", err)
			}
			fmt.Fprintf(e.stdout, "%s deleted revision %d\n", gone.Ref, gone.ModRevision)
			return exitOK
		})
	}
}
