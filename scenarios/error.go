package scenarios

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid matches, under errors.Is, every error about a scenario's
// content. The concrete error is always an *Error.
var ErrInvalid = errors.New("scenarios: invalid scenario")

// ErrUnknown matches the error for a scenario name that is neither a built-in
// nor (for Resolve) a file.
var ErrUnknown = errors.New("scenarios: unknown scenario")

// Error is one problem with a scenario file. Its text is
// "file:line: field: msg", leaving out the line when it is 0 and the field
// when it is empty, so that editors and terminals can jump to it.
type Error struct {
	File  string // the name given to Parse, or the path given to LoadFile
	Line  int    // 1-based; 0 when no line applies
	Field string // the field's path, such as "faults[1].at"; empty for the whole file
	Msg   string
	// Err is the underlying error, if there is one (sim.Plan.Validate's, for
	// instance); Unwrap returns it. Its text is already part of Msg.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Is reports whether target is ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Unwrap returns the underlying error, or nil.
func (e *Error) Unwrap() error { return e.Err }
