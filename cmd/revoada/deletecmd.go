package main

import (
	"context"
	"flag"
	"fmt"

	"revoada.dev/revoada/core/store"
)

const deleteSynopsis = "delete KIND NAME [-n NAMESPACE] " + targetSynopsis

const deleteAbout = `Delete one resource and print "REF deleted revision N". Without -n the name
is looked up in every namespace; a name held by several namespaces needs -n.

` + kindHelp

// deleteFlags defines delete's flags and returns the function that runs it.
func deleteFlags(e *env) (*flag.FlagSet, func() int) {
	fs := newFlagSet(e, "delete")
	ns, data, srv := namespaceFlag(fs), dataFlag(fs), storeFlags(fs)
	return fs, func() int {
		pos, code := positionals(e, command{name: "delete", synopsis: deleteSynopsis, about: deleteAbout}, fs)
		if code >= 0 {
			return code
		}
		if len(pos) != 2 {
			return usageError(e, "delete", "want KIND NAME, got %d arguments", len(pos))
		}
		nsSet := setFlags(fs)["n"]
		return withTarget(e, "delete", *data, srv, func(ctx context.Context, n nodeClient) int {
			kind, err := resolveKind(ctx, n, pos[0])
			if err != nil {
				return clientError(e, "delete", err)
			}
			ref := store.Ref{Kind: kind.kind.Kind, Namespace: *ns, Name: pos[1]}
			if !nsSet {
				r, err := resolve(ctx, n, ref.Kind, ref.Name, "", false)
				if err != nil {
					return kind.notFound(e, "delete", err)
				}
				ref = r.Ref
			}
			gone, err := n.Delete(ctx, ref, store.Expect{})
			if err != nil {
				return kind.notFound(e, "delete", err)
			}
			fmt.Fprintf(e.stdout, "%s deleted revision %d\n", gone.Ref, gone.ModRevision)
			return exitOK
		})
	}
}
