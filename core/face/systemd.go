package face

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/coreos/go-systemd/v22/unit"

	"revoada.dev/revoada/core/store"
)

// systemd is the systemd face: unit files, stored verbatim.
type systemd struct{}

var _ Face = systemd{}

// unitTypes are the unit kinds systemd knows (systemd.unit(5)).
var unitTypes = []string{
	"service", "socket", "device", "mount", "automount", "swap", "target", "path", "timer", "slice", "scope",
}

// unitNameBytesMax is systemd's UNIT_NAME_MAX less the terminating NUL.
const unitNameBytesMax = 255

func (systemd) Name() string { return Systemd }

func (systemd) Formats() []store.Format { return []store.Format{store.Unit} }

func (s systemd) Decode(file string, data []byte, f store.Format) ([]store.Resource, error) {
	r, err := decodeUnit(file, data, f)
	if err != nil {
		return nil, fmt.Errorf("face: systemd: %s: %w", file, err)
	}
	return []store.Resource{r}, nil
}

func decodeUnit(file string, data []byte, f store.Format) (store.Resource, error) {
	if f != store.Unit {
		return store.Resource{}, errFormat(Systemd, f, systemd{}.Formats())
	}
	kind, err := UnitKind(file)
	if err != nil {
		return store.Resource{}, err
	}
	if err := checkText(data); err != nil {
		return store.Resource{}, err
	}
	if err := checkUnit(data); err != nil {
		return store.Resource{}, err
	}
	ref := store.Ref{Kind: kind, Name: file}
	return store.Resource{Ref: ref, Face: Systemd, Format: store.Unit, Payload: bytes.Clone(data)}, ref.Validate()
}

func (systemd) Encode(r store.Resource, f store.Format) ([]byte, error) {
	if f != store.Unit {
		return nil, fmt.Errorf("face: systemd: %w", errFormat(Systemd, f, systemd{}.Formats()))
	}
	if err := checkOwner(Systemd, r, store.Unit); err != nil {
		return nil, fmt.Errorf("face: systemd: %w", err)
	}
	return bytes.Clone(r.Payload), nil
}

// UnitKind checks a unit file name by systemd's rules (unit_name_is_valid:
// at most 255 bytes of [A-Za-z0-9:_.\-], at most one '@' after a non-empty
// prefix, a known type suffix) and returns its kind, the suffix without the
// dot: "getty@.service" is a "service". Errors name the field "name".
func UnitKind(name string) (string, error) {
	dot := strings.LastIndexByte(name, '.')
	if dot < 0 || !slices.Contains(unitTypes, name[dot+1:]) {
		return "", invalid("name", "%q does not end in a unit type (.%s)", name, strings.Join(unitTypes, ", ."))
	}
	if len(name) > unitNameBytesMax {
		return "", invalid("name", "%d bytes, limit %d", len(name), unitNameBytesMax)
	}
	prefix, _, templated := strings.Cut(name[:dot], "@")
	if prefix == "" {
		return "", invalid("name", "%q has an empty unit prefix", name)
	}
	for i := 0; i < dot; i++ {
		c := name[i]
		if !(isLetter(c) || isDigit(c) || strings.IndexByte(":_.\\-", c) >= 0 || c == '@' && templated) {
			return "", invalid("name", "%q has %q; unit names hold letters, digits and :_.\\- (and one '@')", name, c)
		}
	}
	if strings.Count(name, "@") > 1 {
		return "", invalid("name", "%q has more than one '@'", name)
	}
	return name[dot+1:], nil
}

// checkUnit parses data with go-systemd's unit parser and adds the checks it
// leaves out, each naming the line: an assignment or stray text before the
// first section (go-systemd skips it silently), and at least one section.
func checkUnit(data []byte) error {
	sections, err := unit.DeserializeSections(bytes.NewReader(data))
	if err != nil {
		if n, why := badUnitLine(data); n > 0 {
			return invalid(fmt.Sprintf("line %d", n), "%s (%v)", why, err)
		}
		return invalid("unit", "%v", err)
	}
	if n, why := badUnitLine(data); n > 0 {
		return invalid(fmt.Sprintf("line %d", n), "%s", why)
	}
	if len(sections) == 0 {
		return invalid("unit", "no [Section]; a unit file holds at least one")
	}
	return nil
}

// badUnitLine finds the first line that breaks the unit file grammar
// (systemd.syntax(7)): returns its number and why, or 0.
func badUnitLine(data []byte) (int, string) {
	inSection, continued := false, false
	for i, line := range strings.Split(string(data), "\n") {
		if len(line) >= unit.SYSTEMD_LINE_MAX {
			return i + 1, fmt.Sprintf("line is %d bytes, limit %d", len(line), unit.SYSTEMD_LINE_MAX-1)
		}
		t := strings.TrimSpace(line)
		if continued {
			continued = strings.HasSuffix(t, `\`)
			continue
		}
		switch {
		case t == "" || t[0] == '#' || t[0] == ';':
		case t[0] == '[':
			if !strings.HasSuffix(t, "]") || strings.Count(t, "]") != 1 {
				return i + 1, fmt.Sprintf("malformed section header %q", t)
			}
			inSection = true
		case !inSection:
			return i + 1, fmt.Sprintf("%q before the first [Section]", t)
		case !strings.Contains(t, "="):
			return i + 1, fmt.Sprintf("%q is not Key=Value", t)
		default:
			continued = strings.HasSuffix(t, `\`)
		}
	}
	return 0, ""
}
