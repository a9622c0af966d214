package nomad_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/real/nomad/nomadtest"
)

// realWorld holds job files from Nomad v1.6.0's source tree (see its
// README.md): inputs nobody on this project wrote.
const realWorld = "../../testdata/real-world/nomad"

type jobFile struct {
	name   string
	data   []byte
	format store.Format
}

func jobFiles(t *testing.T) []jobFile {
	t.Helper()
	entries, err := os.ReadDir(realWorld)
	if err != nil {
		t.Fatal(err)
	}
	var out []jobFile
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(realWorld, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		f := store.HCL
		if filepath.Ext(e.Name()) == ".json" {
			f = store.JSON
		}
		out = append(out, jobFile{e.Name(), data, f})
	}
	if len(out) == 0 {
		t.Fatalf("no job files in %s", realWorld)
	}
	return out
}

// nomadRefuses lists the real-world jobs the face converts but the agent
// refuses at registration, each with the reason: Nomad's own validation of
// things only a cluster can judge, never revoada's conversion. A refusal
// not listed here fails the test.
var nomadRefuses = map[string]string{
	"e2e__connect__input__ingress-gateway.nomad":                consulGateway,
	"e2e__connect__input__terminating-gateway.nomad":            consulGateway,
	"e2e__consul__input__namespaces__connect_terminating.nomad": consulGateway,
}

// consulGateway: registering a Consul Connect gateway, Nomad writes the
// gateway's config entry to Consul first (PUT /v1/config on the Consul
// agent, 127.0.0.1:8500), and no Consul runs here; Nomad answers 500.
const consulGateway = "a Connect gateway needs a Consul agent: Nomad writes its config entry to Consul at registration"

// refusalText is what each kind of refusal says, to tell it from others.
var refusalText = map[string]string{consulGateway: "127.0.0.1:8500/v1/config"}

// TestRealWorldJobs applies every real-world job file through the Nomad
// face to a real agent and reads each job back: the face's API form must
// be a job Nomad accepts, and what Nomad stores must read back as the
// resource Apply returned.
func TestRealWorldJobs(t *testing.T) {
	b := newBackend(t)
	n, err := face.ByName(face.Nomad)
	if err != nil {
		t.Fatal(err)
	}
	var files, faceRefused, accepted, refused int
	for _, f := range jobFiles(t) {
		files++
		rs, err := n.Decode(f.name, f.data, f.format)
		if err != nil {
			faceRefused++
			t.Logf("%s: the face refuses it: %v", f.name, err)
			continue
		}
		for _, r := range rs {
			got, err := b.Apply(t.Context(), r, store.Expect{})
			if err != nil {
				if why, ok := nomadRefuses[f.name]; ok && strings.Contains(err.Error(), refusalText[why]) {
					refused++
					t.Logf("%s: Nomad refuses it (%s): %v", f.name, why, err)
					continue
				}
				t.Errorf("%s: apply: %v", f.name, err)
				continue
			}
			accepted++
			back, err := b.Get(t.Context(), r.Ref, backend.ReadOptions{})
			if err != nil {
				t.Errorf("%s: get: %v", f.name, err)
				continue
			}
			if back.Ref != r.Ref || back.ModRevision != got.ModRevision || back.Version != got.Version || !bytes.Equal(back.Payload, got.Payload) {
				t.Errorf("%s: read back %s@%d v%d, applied %s@%d v%d", f.name, back.Ref, back.ModRevision, back.Version, got.Ref, got.ModRevision, got.Version)
			}
			if err := sameGroups(r.Payload, back.Payload); err != nil {
				t.Errorf("%s: %v", f.name, err)
			}
			if _, err := n.Decode(f.name+".json", back.Payload, store.JSON); err != nil {
				t.Errorf("%s: the face cannot read what Nomad stores: %v", f.name, err)
			}
		}
	}
	for name := range nomadRefuses {
		if !slices.ContainsFunc(jobFiles(t), func(f jobFile) bool { return f.name == name }) {
			t.Errorf("%s: listed in nomadRefuses but not a fixture", name)
		}
	}
	t.Logf("nomad: %d files: %d refused by the face, %d registered and read back, %d refused by Nomad", files, faceRefused, accepted, refused)
}

// sameGroups checks that Nomad stored the groups and tasks revoada sent,
// with their drivers, in order; Nomad may add a Connect sidecar task
// ("connect-proxy-<service>") after a group's tasks, as its job mutator
// does for a service with a sidecar_service.
func sameGroups(sent, stored []byte) error {
	type task struct{ Name, Driver string }
	type shape struct {
		Job struct {
			TaskGroups []struct {
				Name  string
				Tasks []task
			}
		}
	}
	var a, b shape
	if err := json.Unmarshal(sent, &a); err != nil {
		return err
	}
	if err := json.Unmarshal(stored, &b); err != nil {
		return err
	}
	ga, gb := a.Job.TaskGroups, b.Job.TaskGroups
	if len(ga) != len(gb) {
		return fmt.Errorf("%d groups sent, %d stored", len(ga), len(gb))
	}
	for i := range ga {
		sentTasks, storedTasks := ga[i].Tasks, gb[i].Tasks
		if ga[i].Name != gb[i].Name || len(storedTasks) < len(sentTasks) || !slices.Equal(sentTasks, storedTasks[:len(sentTasks)]) {
			return fmt.Errorf("group sent %+v, stored %+v", ga[i], gb[i])
		}
		for _, t := range storedTasks[len(sentTasks):] {
			if !strings.HasPrefix(t.Name, "connect-proxy-") {
				return fmt.Errorf("group %q: Nomad added task %q, not a Connect sidecar", ga[i].Name, t.Name)
			}
		}
	}
	return nil
}

// TestFaceMatchesNomadParser compares, for every real-world job file the
// face converts, its API form with what Nomad v1.6.1's own parser makes of
// the file (nomad job run -output, which prints the parsed api.Job without
// contacting an agent). Zero values are dropped from both sides first:
// -output prints every field, the face only those a file sets.
func TestFaceMatchesNomadParser(t *testing.T) {
	bin := nomadtest.Binary(t)
	n, err := face.ByName(face.Nomad)
	if err != nil {
		t.Fatal(err)
	}
	var same, compared int
	for _, f := range jobFiles(t) {
		rs, err := n.Decode(f.name, f.data, f.format)
		if err != nil {
			continue
		}
		args := []string{"job", "run", "-output"}
		if f.format == store.JSON {
			args = append(args, "-json")
		}
		cmd := exec.Command(bin, append(args, filepath.Join(realWorld, f.name))...)
		cmd.Env = append(os.Environ(), "NOMAD_ADDR=http://127.0.0.1:1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%s: the face converts it, Nomad's parser refuses it: %v\n%s", f.name, err, out)
			continue
		}
		compared++
		want, err := nonZero(out)
		if err != nil {
			t.Fatalf("%s: nomad -output: %v", f.name, err)
		}
		got, err := nonZero(rs[0].Payload)
		if err != nil {
			t.Fatalf("%s: face: %v", f.name, err)
		}
		if diff := diffJSON("", got, want); len(diff) > 0 {
			t.Errorf("%s: the face's job differs from Nomad's parser's:\n  %s", f.name, strings.Join(diff, "\n  "))
			continue
		}
		same++
	}
	t.Logf("nomad: %d files compared with Nomad's parser, %d identical", compared, same)
}

// nonZero decodes JSON and drops null, "", false, 0, [] and {} values.
func nonZero(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	v, _ = prune(v)
	return v, nil
}

func prune(v any) (any, bool) {
	switch x := v.(type) {
	case nil:
		return nil, false
	case string:
		return x, x != ""
	case bool:
		return x, x
	case json.Number:
		return x, x != "0"
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			p, ok := prune(e)
			if !ok {
				p = nil // keep positions in lists
			}
			out = append(out, p)
		}
		return out, len(out) > 0
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if p, ok := prune(e); ok {
				out[k] = p
			}
		}
		return out, len(out) > 0
	}
	return v, true
}

// diffJSON lists the paths where got and want differ.
func diffJSON(path string, got, want any) []string {
	gm, gok := got.(map[string]any)
	wm, wok := want.(map[string]any)
	if gok && wok {
		var out []string
		keys := map[string]bool{}
		for k := range gm {
			keys[k] = true
		}
		for k := range wm {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		slices.Sort(sorted)
		for _, k := range sorted {
			out = append(out, diffJSON(path+"."+k, gm[k], wm[k])...)
		}
		return out
	}
	gl, gok := got.([]any)
	wl, wok := want.([]any)
	if gok && wok && len(gl) == len(wl) {
		var out []string
		for i := range gl {
			out = append(out, diffJSON(fmt.Sprintf("%s[%d]", path, i), gl[i], wl[i])...)
		}
		return out
	}
	if reflect.DeepEqual(got, want) {
		return nil
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	return []string{fmt.Sprintf("%s: face %s, nomad %s", path, g, w)}
}
