package face

import (
	"bytes"
	"encoding/json"
	"path"
	"slices"
	"strings"

	"revoada.dev/revoada/core/store"
)

// Detect recognises the face and format of a file from its name, then its
// content:
//
//	*.yaml, *.yml                      kubernetes YAML (nomad JSON if the content is a {"Job": ...} object)
//	*.json                             kubernetes JSON with top-level apiVersion and kind;
//	                                   nomad JSON with a top-level "Job" (or HCL-JSON "job")
//	*.hcl, *.nomad, *.nomad.hcl        nomad HCL
//	*.service, *.socket, *.timer, ...  systemd unit (every unit type systemd knows)
//	*.native                           pureraft native envelopes
//
// A name that says nothing is sniffed: a native envelope, a JSON object (as
// for *.json), `job "` → nomad HCL, a [Section] line → systemd unit,
// `apiVersion:` → kubernetes YAML. Pods are detected as kubernetes; the
// baremetal face is chosen by name, never detected.
//
// Errors: ErrUnsupported (wrapped) when nothing matches; ErrInvalid for an
// oversize input.
func Detect(file string, data []byte) (Face, store.Format, error) {
	if err := checkSize(data); err != nil {
		return nil, 0, err
	}
	name := strings.ToLower(path.Base(file))
	ext := path.Ext(name)
	switch {
	case ext == ".yaml" || ext == ".yml":
		if f, ok := detectJSON(data); ok && f.Name() == Nomad {
			return f, store.JSON, nil
		}
		return kubernetes{}, store.YAML, nil
	case ext == ".json":
		if f, ok := detectJSON(data); ok {
			return f, store.JSON, nil
		}
		return nil, 0, unsupported("file", "%s: JSON with neither apiVersion and kind (kubernetes) nor Job (nomad)", file)
	case ext == ".hcl" || ext == ".nomad":
		return nomad{}, store.HCL, nil
	case ext != "" && slices.Contains(unitTypes, ext[1:]):
		return systemd{}, store.Unit, nil
	case ext == ".native":
		return pureRaft{}, store.Native, nil
	}
	return sniff(file, data)
}

// sniff guesses from content alone.
func sniff(file string, data []byte) (Face, store.Format, error) {
	if _, _, err := store.DecodeResource(data); err == nil && len(data) > 0 {
		return pureRaft{}, store.Native, nil
	}
	if f, ok := detectJSON(data); ok {
		return f, store.JSON, nil
	}
	for _, line := range bytes.Split(data, []byte{'\n'}) {
		t := bytes.TrimSpace(line)
		switch {
		case len(t) == 0 || t[0] == '#' || t[0] == ';' || bytes.HasPrefix(t, []byte("//")):
			continue
		case bytes.HasPrefix(t, []byte(`job "`)):
			return nomad{}, store.HCL, nil
		case t[0] == '[' && t[len(t)-1] == ']':
			return systemd{}, store.Unit, nil
		case bytes.HasPrefix(line, []byte("apiVersion:")):
			return kubernetes{}, store.YAML, nil
		}
	}
	return nil, 0, unsupported("file", "%s: cannot tell the face from the name or the content", file)
}

// detectJSON tells a Kubernetes manifest from a Nomad job by the top-level
// keys of a JSON object.
func detectJSON(data []byte) (Face, bool) {
	t := bytes.TrimSpace(data)
	if len(t) == 0 || t[0] != '{' {
		return nil, false
	}
	if checkNesting(t, false) != nil {
		return kubernetes{}, true // whose decoder refuses the nesting, naming it
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(t, &top) != nil {
		return nil, false
	}
	_, api := top["apiVersion"]
	_, kind := top["kind"]
	_, job := top["Job"]
	_, hclJob := top["job"]
	switch {
	case api && kind:
		return kubernetes{}, true
	case job || hclJob:
		return nomad{}, true
	}
	return nil, false
}
