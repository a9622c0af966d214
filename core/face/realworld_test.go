package face_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coreos/go-systemd/v22/unit"

	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
)

// realWorld is the fixture tree copied from inputs nobody on this project
// wrote (see its README.md).
const realWorld = "../../testdata/real-world"

// nomadParsesAnyway lists Nomad files that Nomad v1.6 rejects but this face
// accepts, each with the reason. Empty: every rejected file is refused.
var nomadParsesAnyway = map[string]string{}

type fixture struct {
	name string
	data []byte
}

func fixtures(t *testing.T, dir string) []fixture {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(realWorld, dir))
	if err != nil {
		t.Fatal(err)
	}
	var out []fixture
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(realWorld, dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fixture{e.Name(), data})
	}
	if len(out) == 0 {
		t.Fatalf("no fixtures in %s", dir)
	}
	return out
}

// nomadAccepted reads the README's list of files Nomad v1.6 accepts.
func nomadAccepted(t *testing.T) map[string]bool {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(realWorld, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "## Nomad: accepted by Nomad v1.6.0\n")
	if !ok {
		t.Fatal("README has no accepted list")
	}
	list, _, _ := strings.Cut(rest, "\n## ")
	accepted := map[string]bool{}
	for _, line := range strings.Split(list, "\n") {
		if name, ok := strings.CutPrefix(line, "- "); ok {
			accepted[name] = true
		}
	}
	return accepted
}

func typed(err error) bool {
	return errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrUnsupported)
}

// decodeFixture detects and decodes a fixture.
func decodeFixture(fx fixture) (face.Face, store.Format, []store.Resource, error) {
	f, format, err := face.Detect(fx.name, fx.data)
	if err != nil {
		return nil, 0, nil, err
	}
	rs, err := f.Decode(fx.name, fx.data, format)
	return f, format, rs, err
}

// roundTrip encodes r in format then decodes it, and checks the ref and
// the stored payload survive unchanged.
func roundTrip(t *testing.T, f face.Face, r store.Resource, format store.Format) {
	t.Helper()
	r.CreateRevision, r.ModRevision, r.Version = 3, 7, 2
	out, err := f.Encode(r, format)
	if err != nil {
		t.Fatalf("%s: encode %s: %v", r.Ref, format, err)
	}
	file := r.Ref.Name // a unit's file name is its name
	if format != store.Unit {
		file += "." + format.String()
	}
	back, err := f.Decode(file, out, format)
	if err != nil {
		t.Fatalf("%s: decode %s back: %v\n%s", r.Ref, format, err, out)
	}
	if len(back) != 1 || back[0].Ref != r.Ref || !bytes.Equal(back[0].Payload, r.Payload) || back[0].Face != r.Face {
		t.Fatalf("%s: %s round trip changed it:\nbefore %s\nafter  %+v", r.Ref, format, r.Payload, back)
	}
}

func TestRealWorldKubernetes(t *testing.T) {
	var files, resources, stored, rejected int
	for _, fx := range fixtures(t, "kubernetes") {
		files++
		f, format, rs, err := decodeFixture(fx)
		invalidFile := strings.HasPrefix(fx.name, "invalid-")
		switch {
		case err != nil && invalidFile && typed(err):
			rejected++
			t.Logf("%s: rejected: %v", fx.name, err)
			continue
		case err != nil:
			t.Errorf("%s: %v", fx.name, err)
			continue
		case invalidFile:
			t.Errorf("%s: stored, though Kubernetes rejects it", fx.name)
		}
		if f.Name() != face.Kubernetes || len(rs) == 0 {
			t.Errorf("%s: detected %s, %d resources", fx.name, f.Name(), len(rs))
			continue
		}
		stored++
		resources += len(rs)
		for _, r := range rs {
			checkResource(t, fx.name, r, face.Kubernetes, store.JSON)
			roundTrip(t, f, r, format)
			roundTrip(t, f, r, other(format))
		}
	}
	t.Logf("kubernetes: %d files, %d accepted (%d resources), %d rejected", files, stored, resources, rejected)
	if stored+rejected != files {
		t.Errorf("%d files, %d accounted for", files, stored+rejected)
	}
}

func other(f store.Format) store.Format {
	if f == store.YAML {
		return store.JSON
	}
	return store.YAML
}

func checkResource(t *testing.T, file string, r store.Resource, faceName string, format store.Format) {
	t.Helper()
	if err := r.Ref.Validate(); err != nil {
		t.Errorf("%s: %s: %v", file, r.Ref, err)
	}
	if r.Face != faceName || r.Format != format || len(r.Payload) == 0 || r.ModRevision != 0 {
		t.Errorf("%s: %s: face %q format %s, %d payload bytes, revision %d", file, r.Ref, r.Face, r.Format, len(r.Payload), r.ModRevision)
	}
}

// TestRealWorldBareMetal runs every Pod among the Kubernetes fixtures
// through the baremetal face and checks the unit it renders parses.
func TestRealWorldBareMetal(t *testing.T) {
	bm, _ := face.ByName(face.BareMetal)
	var pods, units, refused int
	for _, fx := range fixtures(t, "kubernetes") {
		if !bytes.Contains(fx.data, []byte("kind: Pod")) {
			continue
		}
		pods++
		rs, err := bm.Decode(fx.name, fx.data, store.YAML)
		if err != nil {
			if !typed(err) {
				t.Errorf("%s: untyped error %v", fx.name, err)
			}
			refused++
			t.Logf("%s: refused: %v", fx.name, err)
			continue
		}
		for _, r := range rs {
			checkResource(t, fx.name, r, face.BareMetal, store.JSON)
			roundTrip(t, bm, r, store.YAML)
			roundTrip(t, bm, r, store.JSON)
			u, err := bm.Encode(r, store.Unit)
			if err != nil {
				t.Fatalf("%s: %v", fx.name, err)
			}
			if _, err := unit.DeserializeSections(bytes.NewReader(u)); err != nil {
				t.Errorf("%s: rendered unit does not parse: %v\n%s", fx.name, err, u)
			}
			units++
		}
	}
	t.Logf("baremetal: %d Pod files, %d units rendered, %d refused", pods, units, refused)
	if units == 0 {
		t.Error("no Pod rendered")
	}
}

func TestRealWorldNomad(t *testing.T) {
	accepted := nomadAccepted(t)
	n, _ := face.ByName(face.Nomad)
	var files, ok, rejected int
	for _, fx := range fixtures(t, "nomad") {
		files++
		format := store.HCL
		if filepath.Ext(fx.name) == ".json" {
			format = store.JSON
		}
		rs, err := n.Decode(fx.name, fx.data, format) // the face itself, even where Detect would refuse
		if !accepted[fx.name] {
			if why, allowed := nomadParsesAnyway[fx.name]; allowed && err == nil {
				t.Logf("%s: parses although Nomad rejects it: %s", fx.name, why)
				continue
			}
			if err == nil || !typed(err) {
				t.Errorf("%s: Nomad rejects it; want a typed error, got %v", fx.name, err)
			}
			rejected++
			t.Logf("%s: rejected: %v", fx.name, err)
			continue
		}
		delete(accepted, fx.name)
		if err != nil {
			t.Errorf("%s: Nomad accepts it: %v", fx.name, err)
			continue
		}
		if f, df, err := face.Detect(fx.name, fx.data); err != nil || f.Name() != face.Nomad || df != format || len(rs) != 1 {
			t.Errorf("%s: detected %v %s (%v), %d resources", fx.name, f, df, err, len(rs))
			continue
		}
		ok++
		checkResource(t, fx.name, rs[0], face.Nomad, store.JSON)
		if rs[0].Ref.Kind != face.NomadJobKind {
			t.Errorf("%s: kind %q", fx.name, rs[0].Ref.Kind)
		}
		roundTrip(t, n, rs[0], store.JSON)
	}
	for name := range accepted {
		t.Errorf("%s: in the README's accepted list but not in the fixtures", name)
	}
	t.Logf("nomad: %d files, %d accepted, %d rejected", files, ok, rejected)
}

func TestRealWorldSystemd(t *testing.T) {
	var files int
	for _, fx := range fixtures(t, "systemd") {
		files++
		f, format, rs, err := decodeFixture(fx)
		if err != nil {
			t.Errorf("%s: %v", fx.name, err)
			continue
		}
		if f.Name() != face.Systemd || format != store.Unit || len(rs) != 1 {
			t.Errorf("%s: detected %s %s, %d resources", fx.name, f.Name(), format, len(rs))
			continue
		}
		r := rs[0]
		checkResource(t, fx.name, r, face.Systemd, store.Unit)
		want := store.Ref{Kind: fx.name[strings.LastIndexByte(fx.name, '.')+1:], Name: fx.name}
		if r.Ref != want {
			t.Errorf("%s: ref %s, want %s", fx.name, r.Ref, want)
		}
		out, err := f.Encode(r, store.Unit)
		if err != nil || !bytes.Equal(out, fx.data) {
			t.Errorf("%s: encode is not byte-identical (%v)", fx.name, err)
		}
		roundTrip(t, f, r, store.Unit)
	}
	t.Logf("systemd: %d files, all accepted and byte-identical", files)
}
