package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
)

const applySynopsis = "apply -f FILE [--format F] [--face NAME] [--data DIR]"

const applyAbout = `Apply every resource in FILE (a Kubernetes manifest, a Nomad job, a systemd
unit, native envelopes) to the single-node mesh in the data directory,
creating or updating each, and print "REF revision N" for each. The face and
format are recognised from the file's name and content; --format and --face
override them (the baremetal face is only ever chosen with --face).`

// formatFaces is the face an input format implies when detection fails and
// only --format was given.
var formatFaces = map[store.Format]string{
	store.YAML: face.Kubernetes, store.JSON: face.Kubernetes, store.HCL: face.Nomad,
	store.Unit: face.Systemd, store.Native: face.PureRaft,
}

// applyFlags defines apply's flags and returns the function that runs it.
func applyFlags(e *env) (*flag.FlagSet, func() int) {
	fs := newFlagSet(e, "apply")
	file := fs.String("f", "", "the `FILE` to apply")
	format := fs.String("format", "", "the input `FORMAT` (yaml, json, hcl, unit, native), overriding detection")
	faceName := fs.String("face", "", "the `FACE` to decode with (kubernetes, nomad, systemd, pureraft, baremetal), overriding detection")
	data := dataFlag(fs)
	return fs, func() int {
		pos, code := positionals(e, command{name: "apply", synopsis: applySynopsis, about: applyAbout}, fs)
		switch {
		case code >= 0:
			return code
		case len(pos) > 0:
			return usageError(e, "apply", "unexpected argument %q", pos[0])
		case *file == "":
			return usageError(e, "apply", "-f FILE is required")
		}
		input, err := os.ReadFile(*file)
		if err != nil {
			fmt.Fprintf(e.stderr, "revoada apply: %v\n", err)
			return exitUsage
		}
		resources, code := decodeInput(e, *file, input, *faceName, *format)
		if code >= 0 {
			return code
		}
		return withNode(e, "apply", *data, func(ctx context.Context, b backend.Backend) int {
			return applyAll(ctx, e, b, resources)
		})
	}
}

// decodeInput picks the face and format of a file and decodes it. It
// returns the exit status to end with, or -1.
func decodeInput(e *env, file string, data []byte, faceName, format string) ([]store.Resource, int) {
	var f store.Format
	if format != "" {
		var err error
		if f, err = store.ParseFormat(format); err != nil {
			return nil, usageError(e, "apply", "--format: %v", err)
		}
	}
	fc, detected, err := face.Detect(file, data)
	switch {
	case faceName != "":
		var byName error
		if fc, byName = face.ByName(faceName); byName != nil {
			return nil, usageError(e, "apply", "--face: %v", byName)
		}
		if err != nil { // nothing detected: the face's first format
			detected = fc.Formats()[0]
		}
	case err != nil && f != 0:
		fc, _ = face.ByName(formatFaces[f])
	case err != nil:
		return nil, clientError(e, "apply", fmt.Errorf("%s: %w (give --format or --face)", file, err))
	}
	if f == 0 {
		f = detected
	}
	rs, err := fc.Decode(filepath.Base(file), data, f)
	if err != nil {
		return nil, clientError(e, "apply", fmt.Errorf("%s: %w", file, err))
	}
	return rs, -1
}

// applyAll applies the resources one by one, printing each one's revision;
// it stops at the first error.
func applyAll(ctx context.Context, e *env, b backend.Backend, rs []store.Resource) int {
	for _, r := range rs {
		got, err := b.Apply(ctx, r, store.Expect{})
		if err != nil {
			return clientError(e, "apply", err)
		}
		fmt.Fprintf(e.stdout, "%s revision %d\n", got.Ref, got.ModRevision)
	}
	return exitOK
}
