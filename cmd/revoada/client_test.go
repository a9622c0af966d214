package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

const (
	multiResource = "../../testdata/real-world/kubernetes/multi-resource-yaml.yaml" // a Service and a ReplicationController, both "mock"
	dbusUnit      = "../../testdata/real-world/systemd/dbus.service"
)

// client runs a client verb on the data directory dir and expects code.
func client(t *testing.T, dir string, code int, args ...string) outcome {
	t.Helper()
	args = append(args, "--data", dir)
	o := revoada(t, nil, args...)
	wantCode(t, o, code, args...)
	return o
}

func wantLines(t *testing.T, got string, want ...string) {
	t.Helper()
	if strings.Join(want, "\n")+"\n" != got {
		t.Fatalf("stdout\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}

// TestClientVerbs applies a real manifest and reads it back as YAML and
// JSON, lists it, deletes it, and finds it gone.
func TestClientVerbs(t *testing.T) {
	dir := t.TempDir()
	o := client(t, dir, exitOK, "apply", "-f", multiResource)
	wantLines(t, o.stdout, "Service/default/mock revision 1", "ReplicationController/default/mock revision 2")

	var svc struct {
		Kind     string
		Metadata struct{ Name, Namespace, ResourceVersion string }
		Spec     struct{ Ports []struct{ Port int } }
	}
	asYAML := client(t, dir, exitOK, "get", "Service", "mock", "-o", "yaml").stdout
	if err := yaml.Unmarshal([]byte(asYAML), &svc); err != nil {
		t.Fatalf("get -o yaml printed no YAML: %v\n%s", err, asYAML)
	}
	if svc.Kind != "Service" || svc.Metadata.Name != "mock" || svc.Metadata.ResourceVersion != "1" || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 99 {
		t.Fatalf("get -o yaml:\n%s", asYAML)
	}
	asJSON := client(t, dir, exitOK, "get", "Service", "mock", "-n", "default", "-o", "json").stdout
	var fromJSON map[string]any
	if err := json.Unmarshal([]byte(asJSON), &fromJSON); err != nil || fromJSON["kind"] != "Service" {
		t.Fatalf("get -o json: %v\n%s", err, asJSON)
	}
	if stored := client(t, dir, exitOK, "get", "Service", "mock").stdout; stored != asJSON {
		t.Fatalf("get without -o printed\n%s\nwant the stored format, JSON:\n%s", stored, asJSON)
	}

	wantLines(t, client(t, dir, exitOK, "list", "Service").stdout,
		"NAMESPACE  NAME  REVISION  FACE        FORMAT",
		"default    mock  1         kubernetes  json")
	if listed := client(t, dir, exitOK, "list", "Service", "-o", "yaml").stdout; listed != asYAML {
		t.Fatalf("list -o yaml of one Service:\n%s\nwant\n%s", listed, asYAML)
	}

	wantLines(t, client(t, dir, exitOK, "delete", "Service", "mock").stdout, "Service/default/mock deleted revision 3")
	o = client(t, dir, exitFailed, "get", "Service", "mock")
	if !strings.Contains(o.stderr, "not found") {
		t.Fatalf("get of a deleted resource: stderr %q", o.stderr)
	}
	client(t, dir, exitFailed, "delete", "Service", "mock", "-n", "default")
	wantLines(t, client(t, dir, exitOK, "list", "Service").stdout, "NAMESPACE  NAME  REVISION  FACE  FORMAT")
}

// TestClientRestartKeepsData: every verb is its own process, so the data
// directory alone carries resources and revisions from one to the next;
// the default directory comes from $REVOADA_DATA.
func TestClientRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	env := []string{"REVOADA_DATA=" + dir}
	wantCode(t, revoada(t, env, "apply", "-f", dbusUnit), exitOK, "apply")
	wantCode(t, revoada(t, env, "apply", "-f", dbusUnit), exitOK, "apply")
	o := revoada(t, env, "get", "service", "dbus.service")
	wantCode(t, o, exitOK, "get")
	unit, err := os.ReadFile(dbusUnit)
	if err != nil {
		t.Fatal(err)
	}
	if o.stdout != string(unit) {
		t.Fatalf("the unit came back as\n%s\nwant the file\n%s", o.stdout, unit)
	}
	o = revoada(t, env, "apply", "-f", multiResource)
	wantLines(t, o.stdout, "Service/default/mock revision 3", "ReplicationController/default/mock revision 4")
	if _, err := os.Stat(filepath.Join(dir, "node.key")); err != nil {
		t.Fatalf("no node key in $REVOADA_DATA: %v", err)
	}
}

const twoNamespaces = `apiVersion: v1
kind: ConfigMap
metadata: {name: same, namespace: a}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: same, namespace: b}
data: {k: v}
`

func TestClientAmbiguousNameNeedsNamespace(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(t.TempDir(), "two.yaml")
	if err := os.WriteFile(file, []byte(twoNamespaces), 0o644); err != nil {
		t.Fatal(err)
	}
	client(t, dir, exitOK, "apply", "-f", file)
	if o := client(t, dir, exitUsage, "get", "ConfigMap", "same"); !strings.Contains(o.stderr, "-n") {
		t.Fatalf("stderr %q does not ask for -n", o.stderr)
	}
	if o := client(t, dir, exitOK, "get", "ConfigMap", "same", "-n", "b", "-o", "yaml"); !strings.Contains(o.stdout, "k: v") {
		t.Fatalf("get -n b:\n%s", o.stdout)
	}
}

func TestClientErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-such.yaml")
	if o := client(t, dir, exitUsage, "apply", "-f", missing); !strings.Contains(o.stderr, missing) {
		t.Fatalf("a missing file: stderr %q does not name it", o.stderr)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n"), 0o644)
	if o := client(t, dir, exitFailed, "apply", "-f", bad); !strings.Contains(o.stderr, "metadata.name") {
		t.Fatalf("a nameless manifest: stderr %q", o.stderr)
	}
	client(t, dir, exitOK, "apply", "-f", multiResource)
	if o := client(t, dir, exitFailed, "get", "Service", "mock", "-o", "hcl"); !strings.Contains(o.stderr, "unsupported") {
		t.Fatalf("a Service as HCL: stderr %q", o.stderr)
	}
	for _, args := range [][]string{
		{"apply"},
		{"apply", "-f", multiResource, "extra"},
		{"apply", "-f", multiResource, "--format", "toml"},
		{"apply", "-f", multiResource, "--face", "docker"},
		{"get", "Service"},
		{"get", "Service", "mock", "-o", "xml"},
		{"list"},
		{"delete", "Service"},
		{"watch"},
		{"watch", "Service", "--from", "x"},
	} {
		if o := client(t, dir, exitUsage, args...); o.stderr == "" {
			t.Errorf("revoada %s: nothing on stderr", strings.Join(args, " "))
		}
	}
}

// TestClientWatch follows a kind until Ctrl-C: the existing resources as
// ADDED, then a BOOKMARK; or the history with --from.
func TestClientWatch(t *testing.T) {
	dir := t.TempDir()
	client(t, dir, exitOK, "apply", "-f", multiResource)
	client(t, dir, exitOK, "delete", "ReplicationController", "mock")
	got := watchUntil(t, dir, "BOOKMARK", "watch", "Service")
	wantLines(t, got, "ADDED Service/default/mock rev 1", "BOOKMARK rev 3")
	got = watchUntil(t, dir, "DELETED", "watch", "ReplicationController", "--from", "1")
	wantLines(t, got, "ADDED ReplicationController/default/mock rev 2", "DELETED ReplicationController/default/mock rev 3")
}

// watchGuard bounds a watch test that would otherwise hang.
const watchGuard = time.Minute

// watchUntil runs a watch, reads its lines until one starts with last,
// interrupts it as Ctrl-C would, and expects exit 0.
func watchUntil(t *testing.T, dir, last string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append(args, "--data", dir)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	hung := time.AfterFunc(watchGuard, func() { cmd.Process.Kill() }) // a guard against a hung watch, never a way to pass
	defer hung.Stop()
	var lines strings.Builder
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		lines.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), last) {
			break
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("watch after Ctrl-C: %v\nstderr: %s", err, stderr.String())
	}
	return lines.String()
}
