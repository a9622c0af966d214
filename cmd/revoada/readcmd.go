package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"

	"revoada.dev/revoada/core/store"
)

const (
	getSynopsis  = "get KIND NAME [-n NAMESPACE] [-o FORMAT] " + targetSynopsis
	listSynopsis = "list KIND [-n NAMESPACE] [-o FORMAT] " + targetSynopsis
)

// kindHelp says how KIND is read, for the client verbs' help.
const kindHelp = `KIND is read as kubectl reads it: any case, singular or plural, a short
name (po, svc, deploy, ...), or qualified by its API group (deployments.apps,
jobs.batch, deployments.v1.apps); NomadJob (nomadjobs) is the Nomad face's
kind, the systemd unit types (service, socket, timer, ...) the systemd
face's, qualified as service.systemd; custom kinds are known from their
CustomResourceDefinition or from the store. A built-in kind's names always
mean it, whatever a CRD claims (po is the Pod), as in kubectl. A kind
spelled exactly wins ("Service" is Kubernetes', "service" systemd's). An
ambiguous or unknown kind is an error (exit 2), with the candidates or "did
you mean".`

// outputHelp says what -o does, for get's and list's help.
const outputHelp = `-o depends on the resource's face: each renders its own formats (-o json
for a NomadJob, -o unit for a systemd unit or a baremetal Pod, -o yaml|json
for Kubernetes), and -o native, the store's envelope, works for every
resource. Asking a face for a format it does not render is an error (exit
2) that names the formats it does.`

const getAbout = `Print one resource, rendered by its face in the -o format (default: the
format it is stored in). Without -n the name is looked up in every namespace;
a name held by several namespaces needs -n. The read is linearizable.

` + kindHelp + "\n\n" + outputHelp

const listAbout = `List the resources of KIND (in NAMESPACE with -n): a table of namespace,
name, revision, face and format, or with -o every resource rendered in that
format (YAML documents separated by "---").

` + kindHelp + "\n\n" + outputHelp

// getFlags defines get's flags and returns the function that runs it.
func getFlags(e *env) (*flag.FlagSet, func() int) {
	fs := newFlagSet(e, "get")
	ns, out, data, srv := namespaceFlag(fs), outputFlag(fs), dataFlag(fs), storeFlags(fs)
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
		return withTarget(e, "get", *data, srv, func(ctx context.Context, n nodeClient) int {
			kind, err := resolveKind(ctx, n, pos[0])
			if err != nil {
				return clientError(e, "get", err)
			}
			r, err := resolve(ctx, n, kind.kind.Kind, pos[1], *ns, nsSet)
			if err != nil {
				return kind.notFound(e, "get", err)
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
	ns, out, data, srv := namespaceFlag(fs), outputFlag(fs), dataFlag(fs), storeFlags(fs)
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
		return withTarget(e, "list", *data, srv, func(ctx context.Context, n nodeClient) int {
			kind, err := resolveKind(ctx, n, pos[0])
			if err != nil {
				return clientError(e, "list", err)
			}
			l, err := n.List(ctx, kind.kind.Kind, *ns)
			if err != nil {
				return clientError(e, "list", err)
			}
			if len(l.Items) == 0 {
				kind.note(e, "list")
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
// separated by "---" lines, as kubectl writes a stream. A resource whose
// face does not render f fails the whole list before anything is printed.
func printAll(e *env, rs []store.Resource, f store.Format) int {
	for _, r := range rs {
		if err := checkOutput(r, f); err != nil {
			return clientError(e, "list", err)
		}
	}
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
