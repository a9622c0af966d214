package face

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"revoada.dev/revoada/core/store"
)

func configMap(name string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s}\n", name)
}

// TestDecodeEachPerDocument: an invalid second document of three spoils
// only itself, and its error names it as document 2.
func TestDecodeEachPerDocument(t *testing.T) {
	data := configMap("one") + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {}\n---\n" + configMap("three")
	got := DecodeEach(kubernetes{}, "three.yaml", []byte(data), store.YAML)
	if len(got) != 3 {
		t.Fatalf("%d units, want 3: %+v", len(got), got)
	}
	for i, name := range map[int]string{0: "one", 2: "three"} {
		if got[i].Err != nil || len(got[i].Resources) != 1 || got[i].Resources[0].Ref.Name != name {
			t.Errorf("unit %d: %+v, want ConfigMap %s", i, got[i], name)
		}
	}
	bad := got[1]
	var inv *store.InvalidError
	switch {
	case bad.Where != "document 2" || bad.Resources != nil:
		t.Errorf("unit 2: %+v", bad)
	case !errors.As(bad.Err, &inv) || inv.Field != "document 2: metadata.name":
		t.Errorf("unit 2: error %v does not name document 2's metadata.name", bad.Err)
	case !strings.HasPrefix(bad.Err.Error(), "face: kubernetes: three.yaml: store: invalid: document 2: metadata.name"):
		t.Errorf("unit 2: error text %q", bad.Err)
	}
}

// TestDecodeEachErrorsAsDecode: for a stream with one bad document, the
// unit's error says what Decode says of the whole file, word for word, and
// is of the same kind; empty documents count in the numbering.
func TestDecodeEachErrorsAsDecode(t *testing.T) {
	for _, c := range []struct {
		face Face
		data string
	}{
		{kubernetes{}, "---\n# nothing\n---\n" + configMap("a") + "---\nkind: ConfigMap\n"},
		{kubernetes{}, configMap("a") + "---\napiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: ConfigMap, metadata: {name: Bad_Name}}]\n"},
		{kubernetes{}, configMap("a") + "---\n[1, 2]\n"},
		{kubernetes{}, configMap("a") + "---\na: b\n--- c\n"},
		{kubernetes{}, configMap("a") + "---\n" + configMap("b") + "---\n: : :\n"},
		{bareMetal{}, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: i}]}\n---\n" +
			"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"},
	} {
		_, whole := c.face.Decode("f.yaml", []byte(c.data), store.YAML)
		if whole == nil {
			t.Fatalf("Decode accepted\n%s", c.data)
		}
		var bad []Decoded
		for _, d := range DecodeEach(c.face, "f.yaml", []byte(c.data), store.YAML) {
			if d.Err != nil {
				bad = append(bad, d)
			}
		}
		if len(bad) != 1 {
			t.Fatalf("%d bad units, want 1, for\n%s", len(bad), c.data)
		}
		if bad[0].Err.Error() != whole.Error() {
			t.Errorf("DecodeEach says\n\t%v\nDecode says\n\t%v", bad[0].Err, whole)
		}
		for _, sentinel := range []error{store.ErrInvalid, store.ErrUnsupported} {
			if errors.Is(bad[0].Err, sentinel) != errors.Is(whole, sentinel) {
				t.Errorf("%v and %v differ on %v", bad[0].Err, whole, sentinel)
			}
		}
	}
}

// TestDecodeEachWholeUnits: other faces and formats are one unit, and so is
// a file that fails the checks of the whole input.
func TestDecodeEachWholeUnits(t *testing.T) {
	for _, c := range []struct {
		face Face
		file string
		data string
		fm   store.Format
		ok   bool
	}{
		{nomad{}, "web.nomad", `job "web" {}` + "\n", store.HCL, true},
		{systemd{}, "x.service", "[Service]\nExecStart=/bin/true\n", store.Unit, true},
		{kubernetes{}, "l.json", `{"apiVersion":"v1","kind":"List","items":[` + `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}},{"apiVersion":"v1","kind":"ConfigMap","metadata":{}}]}`, store.JSON, false},
		{kubernetes{}, "e.yaml", "---\n# only comments\n---\n", store.YAML, false},
		{kubernetes{}, "nul.yaml", configMap("a") + "---\n\x00\n", store.YAML, false},
	} {
		got := DecodeEach(c.face, c.file, []byte(c.data), c.fm)
		want, err := c.face.Decode(c.file, []byte(c.data), c.fm)
		if len(got) != 1 || got[0].Where != "" || (got[0].Err == nil) != c.ok || !reflect.DeepEqual(got[0].Resources, want) {
			t.Errorf("%s: %+v, want one whole unit like Decode's %v, %v", c.file, got, want, err)
		}
		if !c.ok && got[0].Err.Error() != err.Error() {
			t.Errorf("%s: %v, Decode says %v", c.file, got[0].Err, err)
		}
	}
}

// TestDecodeEachAgreesWithDecode: on valid real-world streams, the units
// together hold exactly what Decode returns.
func TestDecodeEachAgreesWithDecode(t *testing.T) {
	files, err := filepath.Glob("../../testdata/real-world/kubernetes/*.y*ml")
	if err != nil || len(files) < 10 {
		t.Fatalf("%d files, %v", len(files), err)
	}
	valid := 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		want, err := kubernetes{}.Decode(filepath.Base(file), data, store.YAML)
		if err != nil {
			continue
		}
		valid++
		var got []store.Resource
		for _, d := range DecodeEach(kubernetes{}, filepath.Base(file), data, store.YAML) {
			if d.Err != nil {
				t.Errorf("%s: %s: %v", file, d.Where, d.Err)
			}
			got = append(got, d.Resources...)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: DecodeEach gave %d resources, Decode %d", file, len(got), len(want))
		}
	}
	if valid < 10 {
		t.Fatalf("only %d valid files", valid)
	}
}

// TestDecodeEachBoundsResources: a file of more than ResourcesMax
// resources is refused whole, as Decode refuses it, so that nothing of it
// is applied (issue 10: the first 10000 were applied, then one error per
// document past them).
func TestDecodeEachBoundsResources(t *testing.T) {
	var b strings.Builder
	for i := range ResourcesMax + 1 {
		if i > 0 {
			b.WriteString("---\n")
		}
		b.WriteString(configMap(fmt.Sprintf("c%d", i)))
	}
	got := DecodeEach(kubernetes{}, "many.yaml", []byte(b.String()), store.YAML)
	_, whole := kubernetes{}.Decode("many.yaml", []byte(b.String()), store.YAML)
	if whole == nil {
		t.Fatal("Decode took the file")
	}
	if len(got) != 1 || got[0].Resources != nil || !errors.Is(got[0].Err, store.ErrInvalid) || got[0].Err.Error() != whole.Error() {
		t.Fatalf("%d units, the first %+v; want one, refusing the file as Decode does: %v", len(got), got[0], whole)
	}
}
