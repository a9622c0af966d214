package face_test

import (
	"errors"
	"strings"
	"testing"

	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
)

// badCase is an input a face must refuse with a typed error naming field.
type badCase struct {
	name   string
	face   string
	file   string
	format store.Format
	data   string
	want   error  // store.ErrInvalid or store.ErrUnsupported
	field  string // a substring of the error's Field
}

// fieldOf digs the field out of a typed error.
func fieldOf(err error) (string, bool) {
	var inv *store.InvalidError
	if errors.As(err, &inv) {
		return inv.Field, true
	}
	var uns *face.UnsupportedError
	if errors.As(err, &uns) {
		return uns.Field, true
	}
	return "", false
}

func checkBad(t *testing.T, c badCase) {
	t.Helper()
	f, err := face.ByName(c.face)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := f.Decode(c.file, []byte(c.data), c.format)
	if err == nil {
		t.Fatalf("accepted: %+v", rs)
	}
	if !errors.Is(err, c.want) {
		t.Fatalf("error %v does not wrap %v", err, c.want)
	}
	field, ok := fieldOf(err)
	if !ok || !strings.Contains(field, c.field) {
		t.Fatalf("error %v names field %q, want %q", err, field, c.field)
	}
}

const pod = `apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: app
    image: nginx
`

var kubernetesBad = []badCase{
	{"malformed yaml", face.Kubernetes, "x.yaml", store.YAML, "apiVersion: v1\nkind: [Pod\n", store.ErrInvalid, "document 1"},
	{"malformed json", face.Kubernetes, "x.json", store.JSON, `{"apiVersion": "v1",`, store.ErrInvalid, "input"},
	{"duplicate json key", face.Kubernetes, "x.json", store.JSON, `{"apiVersion":"v1","kind":"Pod","kind":"Pod","metadata":{"name":"a"}}`, store.ErrInvalid, "input"},
	{"duplicate yaml key", face.Kubernetes, "x.yaml", store.YAML, "apiVersion: v1\nkind: Pod\nkind: Pod\nmetadata: {name: a}\n", store.ErrInvalid, "document 1"},
	{"trailing json", face.Kubernetes, "x.json", store.JSON, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"}} {}`, store.ErrInvalid, "input"},
	{"no apiVersion", face.Kubernetes, "x.yaml", store.YAML, "kind: Pod\nmetadata: {name: a}\n", store.ErrInvalid, "apiVersion"},
	{"no kind", face.Kubernetes, "x.yaml", store.YAML, "apiVersion: v1\nmetadata: {name: a}\n", store.ErrInvalid, "kind"},
	{"bad kind", face.Kubernetes, "x.yaml", store.YAML, "apiVersion: v1\nkind: 'Po d'\nmetadata: {name: a}\n", store.ErrInvalid, "kind"},
	{"no metadata", face.Kubernetes, "x.yaml", store.YAML, "apiVersion: v1\nkind: Pod\n", store.ErrInvalid, "metadata"},
	{"no name", face.Kubernetes, "x.yaml", store.YAML, "apiVersion: v1\nkind: Pod\nmetadata: {labels: {a: b}}\n", store.ErrInvalid, "metadata.name"},
	{"name not a string", face.Kubernetes, "x.yaml", store.YAML, "apiVersion: v1\nkind: Pod\nmetadata: {name: 12}\n", store.ErrInvalid, "metadata.name"},
	{"uppercase name", face.Kubernetes, "x.yaml", store.YAML, "apiVersion: v1\nkind: Pod\nmetadata: {name: Web}\n", store.ErrInvalid, "metadata.name"},
	{"name with slash", face.Kubernetes, "x.yaml", store.YAML, "apiVersion: v1\nkind: Pod\nmetadata: {name: a/b}\n", store.ErrInvalid, "metadata.name"},
	{"name with NUL", face.Kubernetes, "x.yaml", store.YAML, "apiVersion: v1\nkind: Pod\nmetadata: {name: \"a\\0b\"}\n", store.ErrInvalid, "metadata.name"},
	{"name too long", face.Kubernetes, "x.yaml", store.YAML, "apiVersion: v1\nkind: Pod\nmetadata: {name: " + strings.Repeat("a", 254) + "}\n", store.ErrInvalid, "metadata.name"},
	{"service name starts with digit", face.Kubernetes, "x.yaml", store.YAML, "apiVersion: v1\nkind: Service\nmetadata: {name: 1web}\n", store.ErrInvalid, "metadata.name"},
	{"namespace with dot", face.Kubernetes, "x.yaml", store.YAML, "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: a.b}\n", store.ErrInvalid, "metadata.namespace"},
	{"namespace too long", face.Kubernetes, "x.yaml", store.YAML, "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: " + strings.Repeat("n", 64) + "}\n", store.ErrInvalid, "metadata.namespace"},
	{"second document bad", face.Kubernetes, "x.yaml", store.YAML, pod + "---\napiVersion: v1\nkind: Pod\nmetadata: {name: B}\n", store.ErrInvalid, "document 2: metadata.name"},
	{"hidden second document", face.Kubernetes, "x.yaml", store.YAML, pod + "--- !!map\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\n", store.ErrInvalid, "document 1"},
	{"document end marker", face.Kubernetes, "x.yaml", store.YAML, pod + "...\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\n", store.ErrInvalid, "document 1"},
	{"document not an object", face.Kubernetes, "x.yaml", store.YAML, "- a\n- b\n", store.ErrInvalid, "document 1"},
	{"list item not an object", face.Kubernetes, "x.json", store.JSON, `{"apiVersion":"v1","kind":"List","items":[3]}`, store.ErrInvalid, "items[0]"},
	{"list item without name", face.Kubernetes, "x.json", store.JSON, `{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Pod","metadata":{}}]}`, store.ErrInvalid, "items[0].metadata.name"},
	{"not UTF-8", face.Kubernetes, "x.yaml", store.YAML, "apiVersion: v1\nkind: Pod\nmetadata: {name: \xff}\n", store.ErrInvalid, "input"},
	{"oversize", face.Kubernetes, "x.yaml", store.YAML, pod + "#" + strings.Repeat("x", face.InputBytesMax), store.ErrInvalid, "input"},
	{"hcl format", face.Kubernetes, "x.hcl", store.HCL, pod, store.ErrUnsupported, "format"},
}

var nomadBad = []badCase{
	{"malformed hcl", face.Nomad, "x.nomad", store.HCL, `job "a" {`, store.ErrInvalid, "line"},
	{"two jobs", face.Nomad, "x.nomad", store.HCL, "job \"a\" {}\njob \"b\" {}\n", store.ErrInvalid, `job["b"]`},
	{"job without label", face.Nomad, "x.nomad", store.HCL, "job {}\n", store.ErrInvalid, "job"},
	{"only variables", face.Nomad, "x.nomad", store.HCL, "variable \"a\" { default = 1 }\n", store.ErrUnsupported, "job"},
	{"node pool", face.Nomad, "x.nomad", store.HCL, "node_pool \"a\" { description = \"x\" }\n", store.ErrUnsupported, "job"},
	{"top-level attribute", face.Nomad, "x.nomad", store.HCL, "a = 1\njob \"a\" {}\n", store.ErrInvalid, "a"},
	{"undeclared variable", face.Nomad, "x.nomad", store.HCL, "job \"a\" {\n group \"g\" { count = var.n }\n}\n", store.ErrInvalid, `job["a"].group["g"].count`},
	{"variable without default", face.Nomad, "x.nomad", store.HCL, "variable \"n\" {}\njob \"a\" {}\n", store.ErrInvalid, `variable["n"]`},
	{"default needs a variable", face.Nomad, "x.nomad", store.HCL, "variable \"n\" { default = x.y }\njob \"a\" {}\n", store.ErrInvalid, `variable["n"].default`},
	{"default has wrong type", face.Nomad, "x.nomad", store.HCL, "variable \"n\" {\n type = number\n default = \"x\"\n}\njob \"a\" {}\n", store.ErrInvalid, `variable["n"].default`},
	{"failed validation", face.Nomad, "x.nomad", store.HCL, "variable \"n\" {\n default = 1\n validation {\n condition = var.n > 2\n error_message = \"Too small.\"\n }\n}\njob \"a\" {}\n", store.ErrInvalid, `variable["n"]`},
	{"file function", face.Nomad, "x.nomad", store.HCL, "job \"a\" { meta = { k = file(\"/etc/passwd\") } }\n", store.ErrInvalid, `job["a"].meta`},
	{"random function", face.Nomad, "x.nomad", store.HCL, "job \"a\" { meta = { k = uuidv4() } }\n", store.ErrInvalid, `job["a"].meta`},
	{"unknown function", face.Nomad, "x.nomad", store.HCL, "job \"a\" { meta = { k = nope() } }\n", store.ErrInvalid, `job["a"].meta`},
	{"for expression", face.Nomad, "x.nomad", store.HCL, "job \"a\" { datacenters = [for d in [\"a\"] : d] }\n", store.ErrUnsupported, "line 1"},
	{"for directive", face.Nomad, "x.nomad", store.HCL, "job \"a\" { x = \"%{for d in [1]}${d}%{endfor}\" }\n", store.ErrUnsupported, "line 1"},
	{"locals", face.Nomad, "x.nomad", store.HCL, "locals { a = 1 }\njob \"a\" {}\n", store.ErrUnsupported, "locals"},
	{"local reference", face.Nomad, "x.nomad", store.HCL, "job \"a\" { x = local.a }\n", store.ErrUnsupported, `job["a"].x`},
	{"dynamic block", face.Nomad, "x.nomad", store.HCL, "job \"a\" {\n dynamic \"group\" {\n for_each = [\"a\"]\n content {}\n }\n}\n", store.ErrUnsupported, `dynamic["group"]`},
	{"deep nesting", face.Nomad, "x.nomad", store.HCL, "job \"a\" { x = " + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + " }\n", store.ErrInvalid, "line 1"},
	{"deep directives", face.Nomad, "x.nomad", store.HCL, "job \"a\" { x = \"" + strings.Repeat("%{if true}", 200) + strings.Repeat("%{endif}", 200) + "\" }\n", store.ErrInvalid, "line 1"},
	{"unary run", face.Nomad, "x.nomad", store.HCL, "job \"a\" { x = " + strings.Repeat("-", 100000) + "1 }\n", store.ErrInvalid, "line 1"},
	{"too many operators", face.Nomad, "x.nomad", store.HCL, "job \"a\" { x = 1" + strings.Repeat(" + 1", 1001) + " }\n", store.ErrInvalid, "input"},
	{"long list", face.Nomad, "x.nomad", store.HCL, "job \"a\" { x = [" + strings.Repeat("1,", 1001) + "1] }\n", store.ErrInvalid, "line 1"},
	{"long decoded list", face.Nomad, "x.nomad", store.HCL, "job \"a\" { x = jsondecode(\"[" + strings.Repeat("1,", 1001) + "1]\") }\n", store.ErrInvalid, `job["a"].x`},
	{"quadratic distinct", face.Nomad, "x.nomad", store.HCL, "job \"a\" { x = distinct(concat([" + strings.Repeat("1,", 999) + "1], [" + strings.Repeat("1,", 999) + "1])) }\n", store.ErrInvalid, `job["a"].x`},
	{"mismatched brackets", face.Nomad, "x.nomad", store.HCL, "job \"a\" { x = [1) }\n", store.ErrInvalid, "line 1"},
	{"huge number", face.Nomad, "x.nomad", store.HCL, "job \"a\" { x = 1e999999 }\n", store.ErrInvalid, "line 1"},
	{"tiny number", face.Nomad, "x.nomad", store.HCL, "job \"a\" { x = 1e-999999 }\n", store.ErrInvalid, "line 1"},
	{"huge number from a string", face.Nomad, "x.nomad", store.HCL, "job \"a\" { x = \"${1 * \"1e999999999\"}\" }\n", store.ErrInvalid, `job["a"].x`},
	{"huge number in a function", face.Nomad, "x.nomad", store.HCL, "job \"a\" { x = ceil(\"1e999999999\") }\n", store.ErrInvalid, `job["a"].x`},
	{"huge number parsed", face.Nomad, "x.nomad", store.HCL, "job \"a\" { x = \"${parseint(\"" + strings.Repeat("9", 400) + "\", 10)}\" }\n", store.ErrInvalid, `job["a"].x`},
	{"huge number decoded", face.Nomad, "x.nomad", store.HCL, "job \"a\" { x = \"${jsondecode(\"1e999999999\")}\" }\n", store.ErrInvalid, `job["a"].x`},
	{"huge number variable", face.Nomad, "x.nomad", store.HCL, "variable \"n\" {\n type = number\n default = \"1e999999999\"\n validation {\n condition = \"${var.n}\" != \"\"\n error_message = \"No.\"\n }\n}\njob \"a\" { x = \"${var.n}\" }\n", store.ErrInvalid, `variable["n"].default`},
	{"variable blow-up", face.Nomad, "x.nomad", store.HCL, "variable \"v\" { default = \"" + strings.Repeat("x", 400000) + "\" }\njob \"a\" { x = \"${var.v}${var.v}${var.v}\" }\n", store.ErrInvalid, `job["a"].x`},
	{"format blow-up", face.Nomad, "x.nomad", store.HCL, "job \"a\" { x = format(\"%999999999d\", 1) }\n", store.ErrInvalid, `job["a"].x`},
	{"join blow-up", face.Nomad, "x.nomad", store.HCL, "variable \"s\" { default = \"" + strings.Repeat("x", 100000) + "\" }\njob \"a\" { x = join(var.s, [" + strings.Repeat("1,", 20) + "1]) }\n", store.ErrInvalid, `job["a"].x`},
	{"bad namespace", face.Nomad, "x.nomad", store.HCL, "job \"a\" { namespace = \"a b\" }\n", store.ErrInvalid, "namespace"},
	{"namespace not a string", face.Nomad, "x.nomad", store.HCL, "job \"a\" { namespace = [\"a\"] }\n", store.ErrInvalid, "namespace"},
	{"job ID with slash", face.Nomad, "x.nomad", store.HCL, "job \"a/b\" {}\n", store.ErrInvalid, "name"},
	{"job ID with NUL", face.Nomad, "x.nomad", store.HCL, "job \"a\\u0000b\" {}\n", store.ErrInvalid, "name"},
	{"mixed labels", face.Nomad, "x.nomad", store.HCL, "job \"a\" {\n group {}\n group \"g\" {}\n}\n", store.ErrInvalid, `group["g"]`},
	{"block and attribute clash", face.Nomad, "x.nomad", store.HCL, "job \"a\" {\n meta = {}\n meta {}\n}\n", store.ErrInvalid, "meta"},
	{"json node pool", face.Nomad, "pool.json", store.JSON, `{"Name": "example", "Description": "x"}`, store.ErrUnsupported, "Job"},
	{"json without ID", face.Nomad, "x.json", store.JSON, `{"Job": {"Datacenters": ["dc1"]}}`, store.ErrInvalid, "Job.ID"},
	{"json extra key", face.Nomad, "x.json", store.JSON, `{"Job": {"ID": "a"}, "Other": 1}`, store.ErrInvalid, "Other"},
	{"json duplicate key", face.Nomad, "x.json", store.JSON, `{"Job": {"ID": "a", "ID": "b"}}`, store.ErrInvalid, "input"},
	{"json two hcl jobs", face.Nomad, "x.json", store.JSON, `{"job": {"a": {}, "b": {}}}`, store.ErrInvalid, "job"},
	{"oversize", face.Nomad, "x.nomad", store.HCL, "job \"a\" {}\n#" + strings.Repeat("x", face.InputBytesMax), store.ErrInvalid, "input"},
	{"yaml format", face.Nomad, "x.yaml", store.YAML, "job: a", store.ErrUnsupported, "format"},
}

var systemdBad = []badCase{
	{"unknown suffix", face.Systemd, "nginx.txt", store.Unit, "[Unit]\n", store.ErrInvalid, "name"},
	{"no suffix", face.Systemd, "nginx", store.Unit, "[Unit]\n", store.ErrInvalid, "name"},
	{"path separator", face.Systemd, "a/b.service", store.Unit, "[Unit]\n", store.ErrInvalid, "name"},
	{"empty prefix", face.Systemd, "@.service", store.Unit, "[Unit]\n", store.ErrInvalid, "name"},
	{"two ats", face.Systemd, "a@b@c.service", store.Unit, "[Unit]\n", store.ErrInvalid, "name"},
	{"space in name", face.Systemd, "a b.service", store.Unit, "[Unit]\n", store.ErrInvalid, "name"},
	{"NUL in name", face.Systemd, "a\x00.service", store.Unit, "[Unit]\n", store.ErrInvalid, "name"},
	{"long name", face.Systemd, strings.Repeat("a", 250) + ".service", store.Unit, "[Unit]\n", store.ErrInvalid, "name"},
	{"empty", face.Systemd, "a.service", store.Unit, "", store.ErrInvalid, "unit"},
	{"only comments", face.Systemd, "a.service", store.Unit, "# hi\n", store.ErrInvalid, "unit"},
	{"assignment before section", face.Systemd, "a.service", store.Unit, "Description=x\n[Unit]\n", store.ErrInvalid, "line 1"},
	{"missing equals", face.Systemd, "a.service", store.Unit, "[Unit]\nDescription\n", store.ErrInvalid, "line 2"},
	{"unterminated section", face.Systemd, "a.service", store.Unit, "[Unit]\n[Service\nExecStart=/bin/true\n", store.ErrInvalid, "line 2"},
	{"garbage after section", face.Systemd, "a.service", store.Unit, "[Unit] x\n", store.ErrInvalid, "line 1"},
	{"long line", face.Systemd, "a.service", store.Unit, "[Unit]\nDescription=" + strings.Repeat("x", 3000) + "\n", store.ErrInvalid, "line 2"},
	{"NUL", face.Systemd, "a.service", store.Unit, "[Unit]\nDescription=a\x00b\n", store.ErrInvalid, "input"},
	{"not UTF-8", face.Systemd, "a.service", store.Unit, "[Unit]\nDescription=\xff\n", store.ErrInvalid, "input"},
	{"oversize", face.Systemd, "a.service", store.Unit, "[Unit]\n#" + strings.Repeat("x", face.InputBytesMax), store.ErrInvalid, "input"},
	{"json format", face.Systemd, "a.service", store.JSON, "[Unit]\n", store.ErrUnsupported, "format"},
}

var bareMetalBad = []badCase{
	{"deployment", face.BareMetal, "d.yaml", store.YAML, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\n", store.ErrUnsupported, "kind"},
	{"not v1", face.BareMetal, "p.yaml", store.YAML, strings.Replace(pod, "v1", "v2", 1), store.ErrInvalid, "apiVersion"},
	{"no containers", face.BareMetal, "p.yaml", store.YAML, "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {}\n", store.ErrInvalid, "spec.containers"},
	{"no image", face.BareMetal, "p.yaml", store.YAML, "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c}]}\n", store.ErrInvalid, "spec.containers[0].image"},
	{"bad container name", face.BareMetal, "p.yaml", store.YAML, "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: C, image: x}]}\n", store.ErrInvalid, "spec.containers[0].name"},
	{"duplicate container", face.BareMetal, "p.yaml", store.YAML, "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: x}, {name: c, image: z}]}\n", store.ErrInvalid, "spec.containers[1].name"},
	{"command not a list", face.BareMetal, "p.yaml", store.YAML, "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: x, command: sh}]}\n", store.ErrInvalid, "command"},
	{"volume mounts", face.BareMetal, "p.yaml", store.YAML, "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: x, volumeMounts: [{name: v, mountPath: /v}]}]}\n", store.ErrUnsupported, "volumeMounts"},
	{"env from secret", face.BareMetal, "p.yaml", store.YAML, "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: x, env: [{name: A, valueFrom: {secretKeyRef: {name: s, key: k}}}]}]}\n", store.ErrUnsupported, "env[0].valueFrom"},
	{"bad restart policy", face.BareMetal, "p.yaml", store.YAML, "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {restartPolicy: Sometimes, containers: [{name: c, image: x}]}\n", store.ErrInvalid, "spec.restartPolicy"},
	{"bad port", face.BareMetal, "p.yaml", store.YAML, "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: x, ports: [{containerPort: 70000}]}]}\n", store.ErrInvalid, "ports[0].containerPort"},
}

func TestBadInput(t *testing.T) {
	for _, group := range [][]badCase{kubernetesBad, nomadBad, systemdBad, bareMetalBad} {
		for _, c := range group {
			t.Run(c.face+"/"+c.name, func(t *testing.T) { checkBad(t, c) })
		}
	}
}
