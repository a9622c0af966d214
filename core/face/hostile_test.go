package face_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
)

// envelope writes r as a native envelope file.
func envelope(r store.Resource) []byte { return store.AppendResource(nil, r) }

// TestEnvelopeRunsTheOwningFace (issue 10, defect 3): a native envelope is a
// door into the store, not a way around a face. Each of these was stored
// before Validate, and the first wrote its injected lines into the unit that
// `get -o unit` renders.
func TestEnvelopeRunsTheOwningFace(t *testing.T) {
	p := mustFace(t, face.PureRaft)
	podJSON := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"%s","namespace":"%s"},"spec":{"containers":[{"image":"nginx","name":"web"}]}}`
	for _, c := range []struct {
		name  string
		r     store.Resource
		field string
	}{
		{"unit injection through a baremetal name", store.Resource{
			Ref:  store.Ref{Kind: "Pod", Namespace: "default", Name: "x\n[Service]\nExecStartPost=/bin/touch /tmp/pwned\n[Unit]"},
			Face: face.BareMetal, Format: store.JSON,
			Payload: []byte(strings.Replace(strings.Replace(podJSON, "%s", `x\n[Service]\nExecStartPost=/bin/touch /tmp/pwned\n[Unit]`, 1), "%s", "default", 1)),
		}, "name"},
		{"a Pod whose payload is not JSON", store.Resource{
			Ref: store.Ref{Kind: "Pod", Namespace: "default", Name: "web"}, Face: face.Kubernetes, Format: store.JSON, Payload: []byte("not json"),
		}, "input"},
		{"a Pod in namespace UPPER named Evil_Name", store.Resource{
			Ref:  store.Ref{Kind: "Pod", Namespace: "UPPER", Name: "Evil_Name"},
			Face: face.Kubernetes, Format: store.JSON,
			Payload: []byte(strings.Replace(strings.Replace(podJSON, "%s", "Evil_Name", 1), "%s", "UPPER", 1)),
		}, "metadata.name"},
		{"a ref that is not the payload's", store.Resource{
			Ref:  store.Ref{Kind: "Pod", Namespace: "default", Name: "other"},
			Face: face.Kubernetes, Format: store.JSON,
			Payload: []byte(strings.Replace(strings.Replace(podJSON, "%s", "web", 1), "%s", "default", 1)),
		}, "ref"},
		{"a systemd resource of kind Deployment", store.Resource{
			Ref: store.Ref{Kind: "Deployment", Name: "web.service"}, Face: face.Systemd, Format: store.Unit, Payload: []byte("[Service]\nExecStart=/bin/true\n"),
		}, "ref"},
		{"a kubernetes resource stored as a unit", store.Resource{
			Ref: store.Ref{Kind: "Pod", Namespace: "default", Name: "web"}, Face: face.Kubernetes, Format: store.Unit, Payload: []byte("[Service]\n"),
		}, "format"},
		{"a blob shadowing a Pod", store.Resource{
			Ref: store.Ref{Kind: "Pod", Namespace: "default", Name: "web"}, Face: face.PureRaft, Format: store.Native, Payload: []byte("raw"),
		}, "kind"},
		{"a blob shadowing a Nomad job", store.Resource{
			Ref: store.Ref{Kind: face.NomadJobKind, Namespace: "default", Name: "web"}, Face: face.PureRaft, Format: store.Native, Payload: []byte("raw"),
		}, "kind"},
		{"a blob spelled as kubectl reads Pod", store.Resource{
			Ref: store.Ref{Kind: "pods", Namespace: "default", Name: "web"}, Face: face.PureRaft, Format: store.Native, Payload: []byte("raw"),
		}, "kind"},
		{"a blob spelled as a short name", store.Resource{
			Ref: store.Ref{Kind: "svc", Namespace: "default", Name: "web"}, Face: face.PureRaft, Format: store.Native, Payload: []byte("raw"),
		}, "kind"},
		{"a blob of a unit type in another case", store.Resource{
			Ref: store.Ref{Kind: "Timer", Name: "web"}, Face: face.PureRaft, Format: store.Native, Payload: []byte("raw"),
		}, "kind"},
		{"a job not in the nomad face's stored form", store.Resource{
			Ref: store.Ref{Kind: face.NomadJobKind, Namespace: "default", Name: "web"}, Face: face.Nomad, Format: store.JSON, Payload: []byte(`{"Job":{"ID":"web"}, "Extra": 1}`),
		}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			rs, err := p.Decode("x.native", envelope(c.r), store.Native)
			if err == nil {
				t.Fatalf("stored: %+v", rs)
			}
			if !errors.Is(err, store.ErrInvalid) && !errors.Is(err, store.ErrUnsupported) {
				t.Fatalf("untyped error %v", err)
			}
			if field, _ := fieldOf(err); !strings.Contains(field, c.field) {
				t.Errorf("error %v names field %q, want %q", err, field, c.field)
			}
		})
	}
}

// TestEnvelopeAcceptsWhatFacesMake: every resource a face makes from the
// real-world fixtures passes Validate, and travels through a native
// envelope unchanged; a pureraft blob of its own kind does too.
func TestEnvelopeAcceptsWhatFacesMake(t *testing.T) {
	p := mustFace(t, face.PureRaft)
	var n int
	for _, dir := range []string{"kubernetes", "nomad", "systemd"} {
		entries, err := os.ReadDir(filepath.Join(realWorld, dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			data, err := os.ReadFile(filepath.Join(realWorld, dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			faces := []string{""}
			if dir == "kubernetes" {
				faces = append(faces, face.BareMetal)
			}
			for _, name := range faces {
				f, format, err := face.Detect(e.Name(), data)
				if err != nil {
					continue
				}
				if name != "" {
					f = mustFace(t, name)
				}
				rs, err := f.Decode(e.Name(), data, format)
				if err != nil {
					continue
				}
				for _, r := range rs {
					n++
					if err := face.Validate(r); err != nil {
						t.Errorf("%s: %s: Validate: %v", e.Name(), r.Ref, err)
						continue
					}
					back, err := p.Decode("x.native", envelope(r), store.Native)
					if err != nil || len(back) != 1 || back[0].Ref != r.Ref || string(back[0].Payload) != string(r.Payload) {
						t.Errorf("%s: %s: through an envelope: %v", e.Name(), r.Ref, err)
					}
				}
			}
		}
	}
	if n < 100 {
		t.Fatalf("only %d resources made", n)
	}
	blob := store.Resource{Ref: store.Ref{Kind: "Blob", Name: "k"}, Face: face.PureRaft, Format: store.Native, Payload: []byte{0, 1, 2}}
	if _, err := p.Decode("b.native", envelope(blob), store.Native); err != nil {
		t.Errorf("a blob: %v", err)
	}
}

// TestKubernetesRefusesWhatTheAPIServerRefuses (issue 10, defect 5): each of
// these was stored before.
func TestKubernetesRefusesWhatTheAPIServerRefuses(t *testing.T) {
	full := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: test-pod-with-a-long-name\nspec:\n  containers:\n  - name: web\n    image: nginx\n"
	for _, c := range []badCase{
		{"unknown kind", face.Kubernetes, "x.yaml", store.YAML, "apiVersion: v1\nkind: FooBar\nmetadata: {name: a}\n", store.ErrInvalid, "kind"},
		{"kind of another group", face.Kubernetes, "x.yaml", store.YAML, "apiVersion: v1\nkind: Deployment\nmetadata: {name: a}\n", store.ErrInvalid, "kind"},
		{"no such apiVersion", face.Kubernetes, "x.yaml", store.YAML, "apiVersion: banana\nkind: Pod\nmetadata: {name: a}\n", store.ErrInvalid, "apiVersion"},
		{"removed apiVersion", face.Kubernetes, "x.yaml", store.YAML, "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: a}\n", store.ErrInvalid, "apiVersion"},
		{"a manifest cut to 60 bytes", face.Kubernetes, "x.yaml", store.YAML, full[:60], store.ErrInvalid, "spec.containers"},
		{"an integer beyond int64", face.Kubernetes, "x.yaml", store.YAML, "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: a}\nspec: {count: 18446744073709551617}\n", store.ErrInvalid, "document 1"},
		{"an integer beyond int64 in JSON", face.Kubernetes, "x.json", store.JSON, `{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"a"},"spec":{"n":18446744073709551617}}`, store.ErrInvalid, "object"},
		{"an unknown field", face.Kubernetes, "x.yaml", store.YAML, strings.Replace(full, "  containers:", "  containerz: []\n  containers:", 1), store.ErrInvalid, "object"},
		{"a field of the wrong type", face.Kubernetes, "x.yaml", store.YAML, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec: {replicas: three}\n", store.ErrInvalid, "spec.replicas"},
		{"a Deployment without a selector", face.Kubernetes, "x.yaml", store.YAML, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec: {template: {spec: {containers: [{name: a, image: b}]}}}\n", store.ErrInvalid, "spec.selector"},
		{"a Service without ports", face.Kubernetes, "x.yaml", store.YAML, "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {selector: {app: a}}\n", store.ErrInvalid, "spec.ports"},
		{"a custom group's Pod", face.Kubernetes, "x.yaml", store.YAML, "apiVersion: evil.example.com/v1\nkind: Pod\nmetadata: {name: test-pod}\nspec: {containers: nonsense}\n", store.ErrInvalid, "kind"},
		{"a custom group's NomadJob", face.Kubernetes, "x.yaml", store.YAML, "apiVersion: evil.example.com/v1\nkind: NomadJob\nmetadata: {name: example}\n", store.ErrInvalid, "kind"},
		{"a custom group's unit type", face.Kubernetes, "x.yaml", store.YAML, "apiVersion: evil.example.com/v1\nkind: Service\nmetadata: {name: fstrim.service}\n", store.ErrInvalid, "kind"},
		{"a custom group without a dot", face.Kubernetes, "x.yaml", store.YAML, "apiVersion: banana/v1\nkind: Widget\nmetadata: {name: a}\n", store.ErrInvalid, "apiVersion"},
	} {
		t.Run(c.name, func(t *testing.T) { checkBad(t, c) })
	}
	// What kube-apiserver takes is still taken: a custom resource, an
	// integer that is exactly a float64, a headless Service.
	decode(t, face.Kubernetes, "x.json", store.JSON, `{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"a"},"spec":{"n":18446744073709551616}}`)
	decode(t, face.Kubernetes, "x.yaml", store.YAML, "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIP: None}\n")
	decode(t, face.Kubernetes, "x.yaml", store.YAML, full)
}
