package face_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
)

func mustFace(t *testing.T, name string) face.Face {
	t.Helper()
	f, err := face.ByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func decode(t *testing.T, faceName, file string, f store.Format, data string) []store.Resource {
	t.Helper()
	rs, err := mustFace(t, faceName).Decode(file, []byte(data), f)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestByNameAndAll(t *testing.T) {
	var names []string
	for _, f := range face.All() {
		names = append(names, f.Name())
		if g, err := face.ByName(f.Name()); err != nil || g.Name() != f.Name() {
			t.Errorf("ByName(%q) = %v, %v", f.Name(), g, err)
		}
		if len(f.Formats()) == 0 {
			t.Errorf("%s renders no format", f.Name())
		}
	}
	want := []string{face.Kubernetes, face.Nomad, face.Systemd, face.PureRaft, face.BareMetal}
	if !slices.Equal(names, want) {
		t.Errorf("All() = %v, want %v", names, want)
	}
	if _, err := face.ByName("docker"); !errors.Is(err, store.ErrUnsupported) {
		t.Errorf("ByName(docker) = %v", err)
	}
}

func TestDetect(t *testing.T) {
	envelope := store.AppendResource(nil, store.Resource{Ref: store.Ref{Kind: "service", Name: "a.service"}, Face: face.Systemd, Format: store.Unit, Payload: []byte("[Unit]\n")})
	cases := []struct {
		file, data string
		face       string
		format     store.Format
	}{
		{"pod.yaml", pod, face.Kubernetes, store.YAML},
		{"dir/pod.YML", pod, face.Kubernetes, store.YAML},
		{"job.yaml", `{"Job": {"ID": "a"}}`, face.Nomad, store.JSON},
		{"pod.json", `{"apiVersion": "v1", "kind": "Pod"}`, face.Kubernetes, store.JSON},
		{"job.json", `{"Job": {"ID": "a"}}`, face.Nomad, store.JSON},
		{"job.nomad.json", `{"job": {"a": {}}}`, face.Nomad, store.JSON},
		{"job.hcl", `job "a" {}`, face.Nomad, store.HCL},
		{"job.nomad", `job "a" {}`, face.Nomad, store.HCL},
		{"job.nomad.hcl", `job "a" {}`, face.Nomad, store.HCL},
		{"getty@.service", "[Unit]\n", face.Systemd, store.Unit},
		{"x.automount", "[Unit]\n", face.Systemd, store.Unit},
		{"x.native", string(envelope), face.PureRaft, store.Native},
		{"noname", string(envelope), face.PureRaft, store.Native},
		{"noname", "# a job\njob \"a\" {}\n", face.Nomad, store.HCL},
		{"noname", "# a unit\n[Service]\nExecStart=/bin/true\n", face.Systemd, store.Unit},
		{"noname", "---\n" + pod, face.Kubernetes, store.YAML},
		{"noname", `{"apiVersion": "v1", "kind": "Pod"}`, face.Kubernetes, store.JSON},
	}
	for _, c := range cases {
		f, format, err := face.Detect(c.file, []byte(c.data))
		if err != nil || f.Name() != c.face || format != c.format {
			t.Errorf("Detect(%q) = %v %s %v, want %s %s", c.file, f, format, err, c.face, c.format)
		}
	}
	for _, c := range []struct{ file, data string }{
		{"x.json", `{"Name": "pool"}`},
		{"x.json", `[1, 2]`},
		{"readme", "hello\n"},
		{"empty", ""},
	} {
		if _, _, err := face.Detect(c.file, []byte(c.data)); !errors.Is(err, store.ErrUnsupported) {
			t.Errorf("Detect(%q, %q) = %v, want ErrUnsupported", c.file, c.data, err)
		}
	}
	if _, _, err := face.Detect("big.yaml", make([]byte, face.InputBytesMax+1)); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("oversize Detect = %v", err)
	}
}

func TestKubernetesNamespaces(t *testing.T) {
	rs := decode(t, face.Kubernetes, "x.yaml", store.YAML, `
---
# empty documents are skipped
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, namespace: ignored}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, resourceVersion: "12", uid: 1f2e}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:controller:x"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web.v2, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
`)
	want := []store.Ref{
		{Kind: "Namespace", Name: "shop"},
		{Kind: "ConfigMap", Namespace: "default", Name: "settings"},
		{Kind: "ClusterRole", Name: "system:controller:x"},
		{Kind: "Deployment", Namespace: "shop", Name: "web.v2"},
	}
	if len(rs) != len(want) {
		t.Fatalf("%d resources, want %d", len(rs), len(want))
	}
	for i, r := range rs {
		if r.Ref != want[i] {
			t.Errorf("resource %d: %s, want %s", i, r.Ref, want[i])
		}
	}
	if got := string(rs[0].Payload); strings.Contains(got, "ignored") {
		t.Errorf("cluster-scoped namespace kept: %s", got)
	}
	if got, want := string(rs[1].Payload), `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings","namespace":"default"}}`; got != want {
		t.Errorf("payload %s, want %s", got, want)
	}
}

func TestKubernetesEncodeWritesResourceVersion(t *testing.T) {
	k := mustFace(t, face.Kubernetes)
	r := decode(t, face.Kubernetes, "p.yaml", store.YAML, pod)[0]
	r.ModRevision = 42
	y, err := k.Encode(r, store.YAML)
	if err != nil || !bytes.Contains(y, []byte(`resourceVersion: "42"`)) {
		t.Errorf("YAML: %v\n%s", err, y)
	}
	j, err := k.Encode(r, store.JSON)
	if err != nil || !bytes.Contains(j, []byte(`"resourceVersion":"42"`)) {
		t.Errorf("JSON: %v\n%s", err, j)
	}
	for _, f := range []store.Format{store.HCL, store.Unit, store.Native} {
		if _, err := k.Encode(r, f); !errors.Is(err, store.ErrUnsupported) {
			t.Errorf("Encode %s = %v", f, err)
		}
	}
	r.Face = face.Nomad
	if _, err := k.Encode(r, store.JSON); !errors.Is(err, store.ErrUnsupported) {
		t.Errorf("Encode of a nomad resource = %v", err)
	}
}

func TestKubernetesJSONList(t *testing.T) {
	rs := decode(t, face.Kubernetes, "l.json", store.JSON, `{"apiVersion": "example.com/v1", "kind": "WidgetList", "items": [
		{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "a", "namespace": "x"}, "spec": {"n": 1.50}},
		{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "b"}, "spec": {"n": 1.2345678901234567890e19}}]}`)
	if len(rs) != 2 || rs[0].Ref.Namespace != "x" || rs[1].Ref.Namespace != "default" {
		t.Fatalf("%+v", rs)
	}
	// Numbers are read as Kubernetes reads them: int64, else float64; a float
	// beyond int64 keeps its exponent, so it never reads back as an integer
	// of rounded digits.
	if !bytes.Contains(rs[0].Payload, []byte(`"n":1.5}`)) || !bytes.Contains(rs[1].Payload, []byte(`"n":1.2345678901234567e+19}`)) {
		t.Errorf("numbers: %s %s", rs[0].Payload, rs[1].Payload)
	}
}

const job = `
variable "image" {
  type    = string
  default = "redis:7"
}

job "cache" {
  namespace   = "platform"
  datacenters = ["dc1"]

  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }

  group "db" {
    count = 2 + 1
    task "redis" {
      driver = "docker"
      config {
        image = var.image
        args  = ["--dir", "${NOMAD_TASK_DIR}/data", upper("x")]
      }
      env { ID = uuidv5("dns", "cache.example.com") }
    }
  }
}
`

func TestNomadHCL(t *testing.T) {
	rs := decode(t, face.Nomad, "cache.nomad", store.HCL, job)
	r := rs[0]
	if want := (store.Ref{Kind: face.NomadJobKind, Namespace: "platform", Name: "cache"}); r.Ref != want {
		t.Errorf("ref %s, want %s", r.Ref, want)
	}
	want := `{"Job":{"Constraints":[{"LTarget":"${attr.kernel.name}","Operand":"=","RTarget":"linux"}],"Datacenters":["dc1"],` +
		`"ID":"cache","Name":"cache","Namespace":"platform","TaskGroups":[{"Count":3,"Name":"db","Tasks":[{"Config":` +
		`{"args":["--dir","${NOMAD_TASK_DIR}/data","X"],"image":"redis:7"},"Driver":"docker",` +
		`"Env":{"ID":"c4ed04b9-8a8a-5742-b943-f0a3318e1622"},"Name":"redis"}]}]}}`
	if string(r.Payload) != want {
		t.Errorf("payload\n%s\nwant\n%s", r.Payload, want)
	}
	n := mustFace(t, face.Nomad)
	out, err := n.Encode(r, store.JSON)
	if err != nil || !bytes.Equal(out, r.Payload) {
		t.Errorf("Encode JSON = %v, %s", err, out)
	}
	if _, err := n.Encode(r, store.HCL); !errors.Is(err, store.ErrUnsupported) {
		t.Errorf("Encode HCL = %v", err)
	}
	back := decode(t, face.Nomad, "cache.json", store.JSON, string(out))
	if back[0].Ref != r.Ref || !bytes.Equal(back[0].Payload, r.Payload) {
		t.Errorf("JSON read back %+v", back[0])
	}
}

func TestNomadAPIJSON(t *testing.T) {
	r := decode(t, face.Nomad, "a.json", store.JSON, `{"Job": {"ID": "web", "Name": "Web", "Datacenters": ["dc1"]}}`)[0]
	if want := (store.Ref{Kind: face.NomadJobKind, Namespace: "default", Name: "web"}); r.Ref != want {
		t.Errorf("ref %s", r.Ref)
	}
	r = decode(t, face.Nomad, "a.json", store.JSON, `{"Job": {"Name": "web", "Namespace": "ops"}}`)[0]
	if want := (store.Ref{Kind: face.NomadJobKind, Namespace: "ops", Name: "web"}); r.Ref != want {
		t.Errorf("ref %s", r.Ref)
	}
}

func TestSystemdTemplateUnit(t *testing.T) {
	unit := "[Unit]\nDescription=Getty on %I\n\n[Service]\nExecStart=-/sbin/agetty -o '-p -- \\\\u' --noclear - $TERM\n"
	r := decode(t, face.Systemd, "getty@.service", store.Unit, unit)[0]
	if want := (store.Ref{Kind: "service", Name: "getty@.service"}); r.Ref != want {
		t.Errorf("ref %s", r.Ref)
	}
	if string(r.Payload) != unit {
		t.Errorf("payload changed")
	}
	if _, err := mustFace(t, face.Systemd).Encode(r, store.JSON); !errors.Is(err, store.ErrUnsupported) {
		t.Errorf("Encode JSON = %v", err)
	}
}

func TestPureRaft(t *testing.T) {
	p := mustFace(t, face.PureRaft)
	a := decode(t, face.Kubernetes, "p.yaml", store.YAML, pod)[0]
	b := decode(t, face.Systemd, "a.service", store.Unit, "[Unit]\n")[0]
	a.ModRevision, a.CreateRevision, a.Version = 9, 4, 3
	ea, err := p.Encode(a, store.Native)
	if err != nil {
		t.Fatal(err)
	}
	eb, _ := p.Encode(b, store.Native)
	rs := decode(t, face.PureRaft, "x.native", store.Native, string(append(ea, eb...)))
	if len(rs) != 2 || rs[0].Ref != a.Ref || rs[1].Ref != b.Ref || rs[0].Face != face.Kubernetes || !bytes.Equal(rs[1].Payload, b.Payload) {
		t.Fatalf("%+v", rs)
	}
	if rs[0].ModRevision != 0 || rs[0].Version != 0 {
		t.Errorf("revisions not zeroed: %+v", rs[0])
	}
	for _, bad := range [][]byte{nil, ea[:len(ea)-1], append(slices.Clone(ea), 1), make([]byte, face.InputBytesMax+1)} {
		if _, err := p.Decode("x", bad, store.Native); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Decode(%d bytes) = %v", len(bad), err)
		}
	}
	unknown := a
	unknown.Face = "docker"
	if _, err := p.Decode("x", store.AppendResource(nil, unknown), store.Native); !errors.Is(err, store.ErrUnsupported) {
		t.Errorf("unknown face: %v", err)
	}
	long := a
	long.Ref.Name = strings.Repeat("a", 300)
	if _, err := p.Encode(long, store.Native); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Encode of a bad ref = %v", err)
	}
}

func TestBareMetalSingleContainerUnit(t *testing.T) {
	bm := mustFace(t, face.BareMetal)
	r := decode(t, face.BareMetal, "p.yaml", store.YAML, `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: nginx:1.25
    command: [nginx]
    args: ["-g", "daemon off;"]
    env: [{name: HOME_DIR, value: "$HOME/50%"}]
    ports: [{containerPort: 80, hostPort: 8080}, {containerPort: 9000}]
`)[0]
	if r.Ref != (store.Ref{Kind: "Pod", Namespace: "default", Name: "web"}) || r.Face != face.BareMetal {
		t.Fatalf("%+v", r)
	}
	u, err := bm.Encode(r, store.Unit)
	if err != nil {
		t.Fatal(err)
	}
	want := `[Unit]
Description=revoada baremetal Pod default/web
Wants=network-online.target
After=network-online.target
RequiresMountsFor=%t/containers

[Service]
Environment=PODMAN_SYSTEMD_UNIT=%n
Restart=no
TimeoutStopSec=70
ExecStartPre=/bin/rm \
	-f %t/%n.ctr-id
ExecStart=/usr/bin/podman run \
	--cidfile=%t/%n.ctr-id \
	--cgroups=no-conmon \
	--rm \
	--sdnotify=conmon \
	-d \
	--replace \
	--name=default_web_app \
	--publish=8080:80 \
	--env=HOME_DIR=$$HOME/50%% \
	"--entrypoint=[\"nginx\"]" \
	nginx:1.25 -g "daemon off;"
ExecStop=/usr/bin/podman stop \
	--ignore -t 10 \
	--cidfile=%t/%n.ctr-id
ExecStopPost=/usr/bin/podman rm \
	-f \
	--ignore -t 10 \
	--cidfile=%t/%n.ctr-id
Type=notify
NotifyAccess=all

[Install]
WantedBy=multi-user.target
`
	if string(u) != want {
		t.Errorf("unit:\n%s\nwant:\n%s", u, want)
	}
	argv := execArgv(t, u, "ExecStart")
	wantArgv := slices.Concat(podmanRun, []string{"--name=default_web_app", "--publish=8080:80", "--env=HOME_DIR=$HOME/50%", `--entrypoint=["nginx"]`, "nginx:1.25", "-g", "daemon off;"})
	if !slices.Equal(argv, wantArgv) {
		t.Errorf("argv %q\nwant %q", argv, wantArgv)
	}
}

// TestKindsDoNotCollide: a Kubernetes batch Job and a Nomad job of the same
// name and namespace are two resources.
func TestKindsDoNotCollide(t *testing.T) {
	k8s, err := face.ByName(face.Kubernetes)
	if err != nil {
		t.Fatal(err)
	}
	nomad, err := face.ByName(face.Nomad)
	if err != nil {
		t.Fatal(err)
	}
	a, err := k8s.Decode("job.yaml", []byte("apiVersion: batch/v1\nkind: Job\nmetadata: {name: web}\nspec: {template: {spec: {restartPolicy: Never, containers: [{name: web, image: nginx}]}}}\n"), store.YAML)
	if err != nil {
		t.Fatal(err)
	}
	b, err := nomad.Decode("web.nomad.hcl", []byte("job \"web\" {\n  datacenters = [\"dc1\"]\n}\n"), store.HCL)
	if err != nil {
		t.Fatal(err)
	}
	if a[0].Ref == b[0].Ref {
		t.Fatalf("both faces store %v", a[0].Ref)
	}
}
