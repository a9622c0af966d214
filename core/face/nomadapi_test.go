package face_test

import (
	"errors"
	"testing"

	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
)

// TestNomadAPIForm: the face stores what Nomad's parser (jobspec2) makes of
// a file, in the API's shape. Each case is checked against nomad job run
// -output in real/nomad's TestFaceMatchesNomadParser for the real-world
// files; these are the rules one at a time.
func TestNomadAPIForm(t *testing.T) {
	for _, c := range []struct {
		name, file string
		format     store.Format
		in, want   string
	}{
		{"a task under the job gets a group of its name, cpu a number", "a.nomad", store.HCL,
			"job \"a\" {\n task \"t\" {\n  driver = \"exec\"\n  resources {\n   cpu = \"500\"\n  }\n }\n}\n",
			`{"Job":{"ID":"a","Name":"a","TaskGroups":[{"Name":"t","Tasks":[{"Driver":"exec","Name":"t","Resources":{"CPU":500}}]}]}}`},
		{"durations in nanoseconds, meta values as strings", "a.nomad", store.HCL,
			"job \"a\" {\n update {\n  min_healthy_time = \"10s\"\n }\n meta {\n  n = 3\n }\n}\n",
			`{"Job":{"ID":"a","Meta":{"n":"3"},"Name":"a","Update":{"MinHealthyTime":10000000000}}}`},
		{"constraint shorthands set the operator", "a.nomad", store.HCL,
			"job \"a\" {\n constraint {\n  distinct_hosts = true\n }\n constraint {\n  attribute = \"${attr.os}\"\n  version = \">= 1\"\n }\n}\n",
			`{"Job":{"Constraints":[{"Operand":"distinct_hosts","RTarget":"true"},{"LTarget":"${attr.os}","Operand":"version","RTarget":">= 1"}],"ID":"a","Name":"a"}}`},
		{"static ports are reserved ports", "a.nomad", store.HCL,
			"job \"a\" {\n group \"g\" {\n  network {\n   port \"http\" {\n    static = 80\n   }\n   port \"db\" {}\n  }\n }\n}\n",
			`{"Job":{"ID":"a","Name":"a","TaskGroups":[{"Name":"g","Networks":[{"DynamicPorts":[{"Label":"db"}],"ReservedPorts":[{"Label":"http","Value":80}]}]}]}}`},
		{"HCL's JSON syntax converts the same way", "a.nomad.json", store.JSON,
			`{"job": {"a": {"task": {"t": {"driver": "exec", "resources": {"cpu": "500"}}}}}}`,
			`{"Job":{"ID":"a","Name":"a","TaskGroups":[{"Name":"t","Tasks":[{"Driver":"exec","Name":"t","Resources":{"CPU":500}}]}]}}`},
		{"the API form is kept", "a.json", store.JSON,
			`{"Job": {"ID": "a", "TaskGroups": [{"Name": "g"}]}}`,
			`{"Job":{"ID":"a","TaskGroups":[{"Name":"g"}]}}`},
	} {
		r := decode(t, face.Nomad, c.file, c.format, c.in)[0]
		if string(r.Payload) != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, r.Payload, c.want)
		}
	}
}

// TestNomadAPIFormRefuses: what Nomad's parser refuses, the face refuses,
// naming the place.
func TestNomadAPIFormRefuses(t *testing.T) {
	n := mustFace(t, face.Nomad)
	for _, c := range []struct{ in, field string }{
		{"job \"a\" {\n colour = \"red\"\n}\n", `job["a"].colour`},
		{"job \"a\" {\n group \"g\" {\n  count = \"many\"\n }\n}\n", `job["a"].group["g"].count`},
		{"job \"a\" {\n update {\n  stagger = \"soon\"\n }\n}\n", `job["a"].update.stagger`},
		{"job \"a\" {\n update {}\n update {}\n}\n", `job["a"].update`},
		{"job \"a\" {\n affinity {\n  weight = 300\n }\n}\n", `job["a"].affinity.weight`}, // jobspec2 would wrap it to int8 44; refused instead
	} {
		_, err := n.Decode("a.nomad", []byte(c.in), store.HCL)
		var ie *store.InvalidError
		if !errors.As(err, &ie) || ie.Field != c.field {
			t.Errorf("%s: got %v, want ErrInvalid at %s", c.in, err, c.field)
		}
	}
}
