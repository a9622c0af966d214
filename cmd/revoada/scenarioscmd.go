package main

import (
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"revoada.dev/revoada/scenarios"
)

const scenariosSynopsis = "scenarios [--show NAME]"

const scenariosAbout = `List the built-in scenarios, one per line: name, nodes (control plane),
simulated duration and the first sentence of the description. With --show,
print one scenario's YAML source, which is also a starting point for a
scenario file of your own.`

// scenariosFlags defines the scenarios command's flags and returns the
// function that runs it.
func scenariosFlags(e *env) (*flag.FlagSet, func() int) {
	fs := newFlagSet(e, "scenarios")
	show := fs.String("show", "", "print the YAML source of the built-in scenario `NAME`")
	return fs, func() int {
		switch {
		case fs.NArg() > 0:
			return usageError(e, "scenarios", "unexpected argument %q", fs.Arg(0))
		case *show != "":
			return showScenario(e, *show)
		}
		return listScenarios(e)
	}
}

// showScenario prints the YAML source of the built-in name.
func showScenario(e *env, name string) int {
	src, err := scenarios.Source(name)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitUsage
	}
	e.stdout.Write(src)
	return exitOK
}

// listScenarios prints one aligned line per built-in scenario, in name
// order.
func listScenarios(e *env) int {
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	for _, name := range scenarios.Names() {
		p, err := scenarios.Builtin(name)
		if err != nil { // every built-in parses; scenarios tests it
			fmt.Fprintln(e.stderr, err)
			return exitUsage
		}
		fmt.Fprintf(tw, "%s\t%d nodes (%d cp)\t%v\t%s\n", name, p.Nodes, p.ControlPlane, p.Duration, firstSentence(p.Description))
	}
	tw.Flush()
	return exitOK
}

// firstSentence is the text up to and including the first ". ", with runs
// of white space made single spaces; all of it if there is no such break.
func firstSentence(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}
