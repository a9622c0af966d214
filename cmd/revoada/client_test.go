package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
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
	client(t, dir, exitOK, "apply", "-f", multiResource)
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

// writeFile writes content to a new file called name and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: prod}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
`

const widgets = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, shortNames: [wd]}
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1}
`

// TestClientKindNames: kinds resolve as kubectl resolves them (issue 10
// defect 7: "list pod" and "list deployments" printed an empty table).
func TestClientKindNames(t *testing.T) {
	dir := t.TempDir()
	client(t, dir, exitOK, "apply", "-f", multiResource)
	client(t, dir, exitOK, "apply", "-f", writeFile(t, "web.yaml", deployment))
	client(t, dir, exitOK, "apply", "-f", writeFile(t, "widgets.yaml", widgets))
	client(t, dir, exitOK, "apply", "-f", dbusUnit)
	for _, kind := range []string{"deployments", "deploy", "Deployment", "DEPLOYMENTS", "deployments.apps", "deployment.v1.apps"} {
		wantLines(t, client(t, dir, exitOK, "list", kind).stdout,
			"NAMESPACE  NAME  REVISION  FACE        FORMAT",
			"prod       web   3         kubernetes  json")
	}
	for _, args := range [][]string{
		{"get", "svc", "mock"}, {"get", "services", "mock"}, {"get", "rc", "mock"}, {"get", "replicationcontrollers", "mock"},
		{"get", "wd", "w1"}, {"get", "widgets.example.com", "w1"}, {"get", "Widget", "w1"}, {"get", "crd", "widgets.example.com"},
		{"get", "service", "dbus.service"}, {"get", "service.systemd", "dbus.service"}, {"delete", "deploy", "web"},
	} {
		client(t, dir, exitOK, args...)
	}
	wantLines(t, client(t, dir, exitOK, "list", "pod").stdout, "NAMESPACE  NAME  REVISION  FACE  FORMAT")

	o := client(t, dir, exitUsage, "list", "deploymnets")
	if !strings.Contains(o.stderr, `unknown kind "deploymnets"; did you mean "deployments"`) || o.stdout != "" {
		t.Errorf("a mistyped kind: stdout %q, stderr %q", o.stdout, o.stderr)
	}
	if o := client(t, dir, exitUsage, "get", "FooBar", "x"); !strings.Contains(o.stderr, `unknown kind "FooBar"`) {
		t.Errorf("an unknown kind: stderr %q", o.stderr)
	}
	o = client(t, dir, exitUsage, "delete", "SERVICE", "mock")
	for _, want := range []string{`ambiguous kind "SERVICE"`, `"Service" or "service"`} {
		if !strings.Contains(o.stderr, want) {
			t.Errorf("an ambiguous kind: stderr %q lacks %q", o.stderr, want)
		}
	}
	o = client(t, dir, exitFailed, "get", "service", "mock")
	if !strings.Contains(o.stderr, `note: "service" is the systemd unit type; for kubernetes Service say "Service" or "svc"`) {
		t.Errorf("get service mock (systemd's kind): stderr %q gives no note of the Kubernetes Service", o.stderr)
	}
}

// TestClientOutputFormats: -o asks the resource's face for a format; one
// it does not render is bad usage naming those it does, and native works
// for every resource.
func TestClientOutputFormats(t *testing.T) {
	dir := t.TempDir()
	client(t, dir, exitOK, "apply", "-f", multiResource)
	client(t, dir, exitOK, "apply", "-f", dbusUnit)
	client(t, dir, exitOK, "apply", "-f", "../../testdata/real-world/nomad/command__asset__example-short.nomad.hcl")
	job := strings.Fields(strings.Split(client(t, dir, exitOK, "list", "nomadjobs").stdout, "\n")[1])[1]
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"get", "NomadJob", job, "-o", "hcl"}, "it comes from the nomad face, which renders -o json, -o native"},
		{[]string{"get", "service", "dbus.service", "-o", "json"}, "it comes from the systemd face, which renders -o unit, -o native"},
		{[]string{"get", "Service", "mock", "-o", "hcl"}, "it comes from the kubernetes face, which renders -o yaml, -o json, -o native"},
		{[]string{"list", "Service", "-o", "unit"}, "renders -o yaml, -o json, -o native"},
	} {
		o := client(t, dir, exitUsage, c.args...)
		if !strings.Contains(o.stderr, c.want) || o.stdout != "" || strings.Contains(o.stderr, "face: unsupported") {
			t.Errorf("revoada %s: stdout %q, stderr %q; want %q", strings.Join(c.args, " "), o.stdout, o.stderr, c.want)
		}
	}
	for _, args := range [][]string{{"get", "NomadJob", job, "-o", "json"}, {"get", "service", "dbus.service", "-o", "unit"}} {
		client(t, dir, exitOK, args...)
	}
	native := client(t, dir, exitOK, "get", "svc", "mock", "-o", "native").stdout
	if r, rest, err := store.DecodeResource([]byte(native)); err != nil || len(rest) != 0 || r.Ref.Name != "mock" || r.Face != "kubernetes" {
		t.Errorf("get -o native: %+v, %d bytes left, %v", r.Ref, len(rest), err)
	}
	for _, verb := range []string{"get", "list"} {
		if o := revoada(t, nil, "help", verb); !strings.Contains(o.stdout, "-o depends on the resource's face") {
			t.Errorf("revoada help %s does not say -o depends on the face:\n%s", verb, o.stdout)
		}
	}
}

const threeDocuments = `apiVersion: v1
kind: ConfigMap
metadata: {name: first}
---
apiVersion: v1
kind: ConfigMap
metadata: {namespace: default}
data: {this: has no name}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: third}
`

// TestClientMultiDocumentApply: as kubectl does, each document of a
// stream is applied on its own; an invalid one is reported by number and
// the others are applied (issue 10 defect 6).
func TestClientMultiDocumentApply(t *testing.T) {
	dir := t.TempDir()
	o := client(t, dir, exitFailed, "apply", "-f", writeFile(t, "three.yaml", threeDocuments))
	wantLines(t, o.stdout, "ConfigMap/default/first revision 1", "ConfigMap/default/third revision 2")
	for _, want := range []string{"document 2: metadata.name: required", "1 of 3 failed"} {
		if !strings.Contains(o.stderr, want) {
			t.Errorf("stderr %q lacks %q", o.stderr, want)
		}
	}
	if strings.Contains(o.stderr, "document 1") || strings.Contains(o.stderr, "document 3") {
		t.Errorf("stderr %q names a valid document", o.stderr)
	}
	wantLines(t, client(t, dir, exitOK, "list", "cm").stdout,
		"NAMESPACE  NAME   REVISION  FACE        FORMAT",
		"default    first  1         kubernetes  json",
		"default    third  2         kubernetes  json")
	if !strings.Contains(revoada(t, nil, "help", "apply").stdout, "applied as kubectl") {
		t.Error("apply's help does not say how a stream is applied")
	}
}

// TestClientBadInputExits2: a file that cannot be decoded is bad input,
// exit 2 as the help says, and nothing is applied: the node is not even
// started (issue 10 defect 7).
func TestClientBadInputExits2(t *testing.T) {
	for _, c := range []struct{ name, content, want string }{
		{"nameless.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", "metadata.name"},
		{"broken.yaml", "apiVersion: v1\nkind: [\n", "document 1"},
		{"two-bad.yaml", "kind: ConfigMap\n---\napiVersion: v1\n", "document 2"},
		{"mystery", "just some words\n", "give --format or --face"},
		{"empty.yaml", "# nothing\n", "no manifest"},
		{"bad.service", "ExecStart=/bin/true\n", "before the first [Section]"},
	} {
		dir := t.TempDir()
		o := client(t, dir, exitUsage, "apply", "-f", writeFile(t, c.name, c.content))
		if !strings.Contains(o.stderr, c.want) || o.stdout != "" {
			t.Errorf("%s: stdout %q, stderr %q; want %q", c.name, o.stdout, o.stderr, c.want)
		}
		if _, err := os.Stat(filepath.Join(dir, "raft.db")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: the node was started for a bad file (%v)", c.name, err)
		}
	}
	help := revoada(t, nil, "help", "apply").stdout
	if !strings.Contains(help, "2 when FILE cannot be read or no part of it decodes") {
		t.Errorf("apply's help does not promise exit 2 for bad input:\n%s", help)
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

// watchProcess is revoada watch running as a process of its own.
type watchProcess struct {
	cmd    *exec.Cmd
	lines  *bufio.Scanner
	stderr strings.Builder
	hung   *time.Timer
}

// startWatch starts revoada with args and --data dir.
func startWatch(t *testing.T, dir string, args ...string) *watchProcess {
	t.Helper()
	w := &watchProcess{cmd: exec.Command(bin, append(args, "--data", dir)...)}
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	w.cmd.Stderr = &w.stderr
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.hung = time.AfterFunc(watchGuard, func() { w.cmd.Process.Kill() }) // a guard against a hung watch, never a way to pass
	w.lines = bufio.NewScanner(out)
	return w
}

// until reads lines until one starts with last, and returns them.
func (w *watchProcess) until(last string) string {
	var lines strings.Builder
	for w.lines.Scan() {
		lines.WriteString(w.lines.Text() + "\n")
		if strings.HasPrefix(w.lines.Text(), last) {
			break
		}
	}
	return lines.String()
}

// interrupt sends Ctrl-C, reads what is left and expects exit 0.
func (w *watchProcess) interrupt(t *testing.T) {
	t.Helper()
	defer w.hung.Stop()
	w.cmd.Process.Signal(syscall.SIGINT)
	for w.lines.Scan() {
	}
	if err := w.cmd.Wait(); err != nil {
		t.Fatalf("watch after Ctrl-C: %v\nstderr: %s", err, w.stderr.String())
	}
}

// watchUntil runs a watch, reads its lines until one starts with last,
// interrupts it as Ctrl-C would, and expects exit 0.
func watchUntil(t *testing.T, dir, last string, args ...string) string {
	t.Helper()
	w := startWatch(t, dir, args...)
	lines := w.until(last)
	w.interrupt(t)
	return lines
}

// TestClientInterruptedExitStatus: a client verb interrupted by Ctrl-C
// exits 130, as the help says; watch, which runs until Ctrl-C, exits 0
// (issue 10: apply exited 1).
func TestClientInterruptedExitStatus(t *testing.T) {
	dir := t.TempDir()
	interrupted, cancel := context.WithCancel(context.Background())
	cancel()
	file := writeFile(t, "three.yaml", threeConfigMaps)
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"apply", "-f", file}, exitInterrupted},
		{[]string{"get", "cm", "one"}, exitInterrupted},
		{[]string{"list", "cm"}, exitInterrupted},
		{[]string{"delete", "cm", "one"}, exitInterrupted},
		{[]string{"watch", "cm"}, exitOK},
	} {
		stderr := &lockedBuffer{}
		if code := run(&env{stdout: io.Discard, stderr: stderr, ctx: interrupted}, append(c.args, "--data", dir)); code != c.code {
			t.Errorf("revoada %s, interrupted: exit %d, want %d\nstderr: %s", strings.Join(c.args, " "), code, c.code, stderr)
		}
	}
	for _, c := range []struct{ args, want []string }{
		{[]string{"help"}, []string{"130 interrupted (Ctrl-C)", "a watch ends with Ctrl-C, exit 0"}},
		{[]string{"help", "watch"}, []string{"Ctrl-C ends it (exit 0)"}},
		{[]string{"help", "apply"}, []string{"130 when interrupted (Ctrl-C)", "every printed resource is applied"}},
	} {
		help := strings.Join(strings.Fields(revoada(t, nil, c.args...).stdout), " ")
		for _, want := range c.want {
			if !strings.Contains(help, want) {
				t.Errorf("revoada %s does not say %q:\n%s", strings.Join(c.args, " "), want, help)
			}
		}
	}
}

// podCRD defines a custom kind Pod, with a short name of Deployment's.
const podCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: pods.evil.example.com}
spec:
  group: evil.example.com
  scope: Namespaced
  names: {kind: Pod, plural: pods, shortNames: [deploy]}
  versions: [{name: v1, served: true, storage: true}]
`

// TestClientCRDsCannotTakeBuiltinNames: a CRD's claim to a built-in
// kind's name is void, as in kubectl (issue 10: "list po", "list svc" and
// "list deploy" were ambiguous, exit 2).
func TestClientCRDsCannotTakeBuiltinNames(t *testing.T) {
	dir := t.TempDir()
	greedy := strings.Replace(widgets, "shortNames: [wd]", "shortNames: [wd, po, svc]", 1) + "---\n" + podCRD
	client(t, dir, exitOK, "apply", "-f", writeFile(t, "greedy.yaml", greedy))
	client(t, dir, exitOK, "apply", "-f", multiResource)
	wantLines(t, client(t, dir, exitOK, "list", "svc").stdout,
		"NAMESPACE  NAME  REVISION  FACE        FORMAT",
		"default    mock  4         kubernetes  json")
	for _, kind := range []string{"po", "deploy"} {
		wantLines(t, client(t, dir, exitOK, "list", kind).stdout, "NAMESPACE  NAME  REVISION  FACE  FORMAT")
	}
	client(t, dir, exitOK, "get", "wd", "w1")
}

// TestCheckOutputNamesEachFormatOnce: a face that renders native itself
// (pureraft: a blob stored under any kind) is not told to render it twice
// (issue 10: "renders -o native, -o native").
func TestCheckOutputNamesEachFormatOnce(t *testing.T) {
	blob := store.Resource{Ref: store.Ref{Kind: "Service", Namespace: "default", Name: "x"}, Face: "pureraft", Format: store.Native}
	err := checkOutput(blob, store.YAML)
	if !errors.Is(err, errOutput) || !strings.HasSuffix(err.Error(), "which renders -o native") {
		t.Errorf("-o yaml of a pureraft blob: %v", err)
	}
}

// TestClientRefusesTooManyResources: a file of more than
// face.ResourcesMax resources is refused before anything is applied, with
// one error naming the limit, exit 2 (issue 10: 10000 were applied, then
// one error line per document past them).
func TestClientRefusesTooManyResources(t *testing.T) {
	var y strings.Builder
	for i := range face.ResourcesMax + 1 {
		fmt.Fprintf(&y, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c%d}\n", i)
	}
	dir := t.TempDir()
	o := client(t, dir, exitUsage, "apply", "-f", writeFile(t, "many.yaml", y.String()))
	// Ten thousand manifests hold more values than ManifestTokensMax too,
	// which the scan before parsing counts first: either limit refuses the
	// file whole.
	want := fmt.Sprintf("more than %d resources", face.ResourcesMax)
	if o.stdout != "" || strings.Count(o.stderr, "\n") != 1 || !strings.Contains(o.stderr, want) && !strings.Contains(o.stderr, "(ManifestTokensMax)") {
		t.Errorf("stdout %q, stderr %q; want nothing applied and one line saying %q or naming ManifestTokensMax", o.stdout, o.stderr, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "raft.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the node was started for a file refused whole (%v)", err)
	}
}
