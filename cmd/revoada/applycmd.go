package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
)

const applySynopsis = "apply -f FILE [--format F] [--face NAME] " + targetSynopsis

const applyAbout = `Apply every resource in FILE (a Kubernetes manifest, a Nomad job, a systemd
unit, native envelopes) to the single-node mesh in the data directory,
creating or updating each, and print "REF revision N" for each. The face and
format are recognised from the file's name and content; --format and --face
override them (the baremetal face is only ever chosen with --face).

A YAML stream read by the kubernetes or baremetal face is applied as kubectl
applies it: each document on its own, in order. An invalid document is
reported with its number ("document 2") and skipped; the others are applied.
Each resource is durable once its line is printed, so an interrupted apply
(even kill -9) leaves the documents before the interruption applied and none
after. Any other file is one unit: all of it or none.

Ctrl-C stops an apply once the resource in flight is applied and printed:
every printed resource is applied, and none after it.

Exit status: 0 when everything was applied; 1 when some document failed
(invalid, or refused by the store) and the rest was applied, or the node
failed; 2 when FILE cannot be read or no part of it decodes (nothing is
applied); 130 when interrupted (Ctrl-C) with no document failed before.`

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
	data, srv := dataFlag(fs), storeFlags(fs)
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
		in, err := readInput(*file, *faceName, *format)
		if err != nil {
			return clientError(e, "apply", err)
		}
		if code := checkDecodes(e, in); code >= 0 {
			return code
		}
		return withTarget(e, "apply", *data, srv, func(ctx context.Context, n nodeClient) int {
			return applyFile(ctx, e, n, *file, in)
		})
	}
}

// readInput reads a file (at most face.InputBytesMax) and picks the face
// and format to decode it with. Errors wrap errInput.
func readInput(file, faceName, format string) (applyInput, error) {
	data, err := readBounded(file)
	if err != nil {
		return applyInput{}, fmt.Errorf("%w: %w", errInput, err)
	}
	var f store.Format
	if format != "" {
		if f, err = store.ParseFormat(format); err != nil {
			return applyInput{}, fmt.Errorf("%w: --format: %w", errInput, err)
		}
	}
	fc, detected, err := face.Detect(file, data)
	switch {
	case faceName != "":
		var byName error
		if fc, byName = face.ByName(faceName); byName != nil {
			return applyInput{}, fmt.Errorf("%w: --face: %w", errInput, byName)
		}
		if err != nil { // nothing detected: the face's first format
			detected = fc.Formats()[0]
		}
	case err != nil && f != 0:
		fc, _ = face.ByName(formatFaces[f])
	case err != nil:
		return applyInput{}, fmt.Errorf("%w: %s: %w (give --format or --face)", errInput, file, err)
	}
	if f == 0 {
		f = detected
	}
	return applyInput{File: filepath.Base(file), Face: fc.Name(), Format: f, Data: data}, nil
}

// readBounded reads a file of at most face.InputBytesMax bytes.
func readBounded(file string) ([]byte, error) {
	fh, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, face.InputBytesMax+1))
	if err == nil && len(data) > face.InputBytesMax {
		err = fmt.Errorf("%s: larger than %d bytes, the limit", file, face.InputBytesMax)
	}
	return data, err
}

// checkDecodes decodes the input here, before any node is involved: when
// no part of it decodes it prints why and returns exitUsage; otherwise -1.
func checkDecodes(e *env, in applyInput) int {
	fc, err := face.ByName(in.Face)
	if err != nil {
		return clientError(e, "apply", fmt.Errorf("%w: %w", errInput, err))
	}
	units := face.DecodeEach(fc, in.File, in.Data, in.Format)
	var errs []error
	for _, u := range units {
		if u.Err != nil {
			errs = append(errs, u.Err)
		}
	}
	if len(errs) < len(units) {
		return -1
	}
	for _, err := range errs {
		fmt.Fprintf(e.stderr, "revoada apply: %v\n", err)
	}
	return exitUsage
}

// applyFile applies the input through the node, printing each applied
// resource to stdout and each failure to stderr.
func applyFile(ctx context.Context, e *env, n nodeClient, path string, in applyInput) int {
	failed, total := 0, 0
	err := n.ApplyFile(ctx, in, func(d docResult) {
		total++
		switch {
		case d.Err == nil:
			fmt.Fprintf(e.stdout, "%s revision %d\n", d.Ref, d.Revision)
		case d.Invalid:
			failed++
			fmt.Fprintf(e.stderr, "revoada apply: %v\n", d.Err)
		default:
			failed++
			where := path + ": "
			if d.Where != "" {
				where += d.Where + ": "
			}
			fmt.Fprintf(e.stderr, "revoada apply: %s%s: %v\n", where, d.Ref, d.Err)
		}
	})
	switch {
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(e.stderr, "revoada apply: %s: interrupted after %d documents; each printed resource is applied, none after it\n", path, total)
		if failed > 0 {
			return exitFailed
		}
		return exitInterrupted
	case err != nil:
		return clientError(e, "apply", err)
	case failed > 0:
		fmt.Fprintf(e.stderr, "revoada apply: %s: %d of %d failed; the rest is applied\n", path, failed, total)
		return exitFailed
	}
	return exitOK
}
