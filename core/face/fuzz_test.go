package face_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/coreos/go-systemd/v22/unit"

	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
)

// seed adds every fixture of a real-world folder to a fuzz corpus.
func seed(f *testing.F, dir string, add func(name string, data []byte)) {
	entries, err := os.ReadDir(filepath.Join(realWorld, dir))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(realWorld, dir, e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		add(e.Name(), data)
	}
}

// fuzzDecode decodes and fails on a panic-free but untyped error.
func fuzzDecode(t *testing.T, f face.Face, file string, data []byte, format store.Format) []store.Resource {
	t.Helper()
	rs, err := f.Decode(file, data, format)
	if err != nil {
		if !typed(err) {
			t.Fatalf("untyped error: %v", err)
		}
		return nil
	}
	if len(rs) == 0 {
		t.Fatal("no error and no resource")
	}
	for _, r := range rs {
		if err := r.Ref.Validate(); err != nil || r.Face != f.Name() && f.Name() != face.PureRaft || len(r.Payload) > store.PayloadBytesMax {
			t.Fatalf("bad resource %s (%v): face %q, %d bytes", r.Ref, err, r.Face, len(r.Payload))
		}
	}
	return rs
}

// fuzzRoundTrip checks Encode(format) then Decode gives the same resource.
func fuzzRoundTrip(t *testing.T, f face.Face, r store.Resource, file string, format store.Format) {
	t.Helper()
	r.ModRevision = 11
	out, err := f.Encode(r, format)
	if err != nil {
		t.Fatalf("%s: encode %s: %v", r.Ref, format, err)
	}
	back, err := f.Decode(file, out, format)
	if err != nil {
		t.Fatalf("%s: decode %s back: %v\n%s", r.Ref, format, err, out)
	}
	if len(back) != 1 || back[0].Ref != r.Ref || !bytes.Equal(back[0].Payload, r.Payload) {
		t.Fatalf("%s round trip:\nbefore %s %s\nafter  %s %s", format, r.Ref, r.Payload, back[0].Ref, back[0].Payload)
	}
}

func FuzzKubernetes(f *testing.F) {
	seed(f, "kubernetes", func(_ string, data []byte) { f.Add(data, false) })
	for _, c := range kubernetesBad {
		if len(c.data) < 4096 {
			f.Add([]byte(c.data), c.format == store.JSON)
		}
	}
	f.Add([]byte(`{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"}}]}`), true)
	k, _ := face.ByName(face.Kubernetes)
	bm, _ := face.ByName(face.BareMetal)
	f.Fuzz(func(t *testing.T, data []byte, asJSON bool) {
		format := store.YAML
		if asJSON {
			format = store.JSON
		}
		checkAllocs(t, func() {
			for _, r := range fuzzDecode(t, k, "in", data, format) {
				fuzzRoundTrip(t, k, r, "out.json", store.JSON)
				fuzzRoundTrip(t, k, r, "out.yaml", store.YAML)
			}
			for _, r := range fuzzDecode(t, bm, "in", data, format) {
				u, err := bm.Encode(r, store.Unit)
				if err != nil {
					t.Fatalf("a stored Pod does not render: %v", err)
				}
				if _, err := unit.DeserializeSections(bytes.NewReader(u)); err != nil {
					t.Fatalf("rendered unit does not parse: %v\n%s", err, u)
				}
			}
		})
	})
}

func FuzzNomad(f *testing.F) {
	seed(f, "nomad", func(name string, data []byte) { f.Add(data, filepath.Ext(name) == ".json") })
	for _, c := range nomadBad {
		if len(c.data) < 4096 {
			f.Add([]byte(c.data), c.format == store.JSON)
		}
	}
	f.Add([]byte(job), false)
	f.Add([]byte(`{"Job": {"ID": "a", "Namespace": "b"}}`), true)
	for _, c := range hostileHCL { // issue 10
		f.Add([]byte(c.data), false)
	}
	n, _ := face.ByName(face.Nomad)
	f.Fuzz(func(t *testing.T, data []byte, asJSON bool) {
		format := store.HCL
		if asJSON {
			format = store.JSON
		}
		checkAllocs(t, func() {
			for _, r := range fuzzDecode(t, n, "in.nomad", data, format) {
				fuzzRoundTrip(t, n, r, "out.json", store.JSON)
			}
		})
	})
}

func FuzzSystemd(f *testing.F) {
	seed(f, "systemd", func(name string, data []byte) { f.Add(name, data) })
	for _, c := range systemdBad {
		if len(c.data) < 4096 {
			f.Add(c.file, []byte(c.data))
		}
	}
	s, _ := face.ByName(face.Systemd)
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		checkAllocs(t, func() {
			for _, r := range fuzzDecode(t, s, name, data, store.Unit) {
				out, err := s.Encode(r, store.Unit)
				if err != nil || !bytes.Equal(out, data) {
					t.Fatalf("not byte-identical: %v", err)
				}
			}
		})
	})
}

func FuzzDetect(f *testing.F) {
	for _, dir := range []string{"kubernetes", "nomad", "systemd"} {
		seed(f, dir, func(name string, data []byte) { f.Add(name, data) })
	}
	f.Add("x.native", store.AppendResource(nil, store.Resource{Ref: store.Ref{Kind: "Pod", Namespace: "a", Name: "b"}, Face: face.Kubernetes, Format: store.JSON, Payload: []byte("{}")}))
	f.Add("noname", []byte("job \"a\" {}"))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		checkAllocs(t, func() {
			fc, format, err := face.Detect(name, data)
			if err != nil {
				if !typed(err) {
					t.Fatalf("untyped error: %v", err)
				}
				return
			}
			fuzzDecode(t, fc, filepath.Base(name), data, format)
		})
	})
}
