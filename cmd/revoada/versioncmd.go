package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

const versionSynopsis = "version"

const versionAbout = `Print the module's version, the VCS revision and time it was built from
("modified" when the working tree had changes), and the Go version, as the
binary's build information records them (runtime/debug.ReadBuildInfo).`

// versionFlags defines version's flags (none) and returns the function that
// runs it.
func versionFlags(e *env) (*flag.FlagSet, func() int) {
	fs := newFlagSet(e, "version")
	return fs, func() int {
		if fs.NArg() > 0 {
			return usageError(e, "version", "unexpected argument %q", fs.Arg(0))
		}
		bi, _ := debug.ReadBuildInfo() // nil when the binary records none
		printVersion(e.stdout, bi)
		return exitOK
	}
}

// printVersion writes the build information bi (nil: none recorded) as
// aligned "key value" lines, the first "revoada VERSION".
func printVersion(w io.Writer, bi *debug.BuildInfo) {
	if bi == nil {
		fmt.Fprintf(w, "revoada (no build information)\ngo        %s\n", runtime.Version())
		return
	}
	fmt.Fprintf(w, "revoada %s\n", bi.Main.Version)
	fmt.Fprintf(w, "module    %s\n", bi.Main.Path)
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		if settings["vcs.modified"] == "true" {
			rev += " (modified)"
		}
		fmt.Fprintf(w, "revision  %s\n", rev)
	}
	if t := settings["vcs.time"]; t != "" {
		fmt.Fprintf(w, "time      %s\n", t)
	}
	fmt.Fprintf(w, "go        %s\n", bi.GoVersion)
}
