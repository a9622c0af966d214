package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/store"
)

const (
	getSynopsis  = "get KIND NAME [-n NAMESPACE] [-o yaml|json|hcl|unit|native] [--data DIR]"
	listSynopsis = "list KIND [-n NAMESPACE] [-o yaml|json|hcl|unit|native] [--data DIR]"
)

const getAbout = `Print one resource, rendered by its face in the -o format (default: the
format it is stored in). Without -n the name is looked up in every namespace;
a name held by several namespaces needs -n. The read is linearizable.`

const listAbout = `List the resources of KIND (in NAMESPACE with -n): a table of namespace,
name, revision, face and format, or with -o every resource rendered in that
format (YAML documents separated by "---").`

// getFlags defines get's flags and returns the function that runs it.
func getFlags(e *env) (*flag.FlagSet, func() int) {
	fs := newFlagSet(e, "get")
	ns, out, data := namespaceFlag(fs), outputFlag(fs), dataFlag(fs)
	return fs, func() int {
		pos, code := positionals(e, command{name: "get", synopsis: getSynopsis, about: getAbout}, fs)
		if code >= 0 {
			return code
		}
		if len(pos) != 2 {
			return usageError(e, "get", "want KIND NAME, got %d arguments", len(pos))
		}
		f, err := parseOutput(*out)
		if err != nil {
			return usageError(e, "get", "-o: %v", err)
		}
		nsSet := setFlags(fs)["n"]
		return withNode(e, "get", *data, func(ctx context.Context, b backend.Backend) int {
			r, err := resolve(ctx, b, pos[0], pos[1], *ns, nsSet)
			if err != nil {
				return clientError(e, "get", err)
			}
			text, err := encode(r, f)
			if err != nil {
				return clientError(e, "get", err)
			}
			e.stdout.Write(text)
			return exitOK
		})
	}
}

// listFlags defines list's flags and returns the function that runs it.
func listFlags(e *env) (*flag.FlagSet, func() int) {
	fs := newFlagSet(e, "list")
	ns, out, data := namespaceFlag(fs), outputFlag(fs), dataFlag(fs)
	return fs, func() int {
		pos, code := positionals(e, command{name: "list", synopsis: listSynopsis, about: listAbout}, fs)
		if code >= 0 {
			return code
		}
		if len(pos) != 1 {
			return usageError(e, "list", "want KIND, got %d arguments", len(pos))
		}
		f, err := parseOutput(*out)
		if err != nil {
			return usageError(e, "list", "-o: %v", err)
		}
		return withNode(e, "list", *data, func(ctx context.Context, b backend.Backend) int {
			l, err := b.List(ctx, pos[0], *ns, backend.ReadOptions{})
			if err != nil {
				return clientError(e, "list", err)
			}
			if *out == "" {
				return printTable(e, l.Items)
			}
			return printAll(e, l.Items, f)
		})
	}
}

// printTable prints one aligned line per resource, under a header.
func printTable(e *env, rs []store.Resource) int {
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tREVISION\tFACE\tFORMAT")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", r.Ref.Namespace, r.Ref.Name, r.ModRevision, r.Face, r.Format)
	}
	tw.Flush()
	return exitOK
}

// printAll renders every resource in format f; YAML documents are
// separated by "---" lines, as kubectl writes a stream.
func printAll(e *env, rs []store.Resource, f store.Format) int {
	var all []byte
	for i, r := range rs {
		text, err := encode(r, f)
		if err != nil {
			return clientError(e, "list", fmt.Errorf("%s: %w", r.Ref, err))
		}
		if f == store.YAML && i > 0 {
			all = append(all, "---\n"...)
		}
		all = append(all, text...)
	}
	e.stdout.Write(all)
	return exitOK
}
