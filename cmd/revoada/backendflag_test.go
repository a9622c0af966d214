package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"revoada.dev/revoada/real/disk"
	"revoada.dev/revoada/real/kube/kubetest"
	"revoada.dev/revoada/real/nomad/nomadtest"
	"revoada.dev/revoada/real/systemd/systemdtest"
)

// The client verbs on a federation of two bbolt stores routed by namespace
// prefix, behind an audit trail: each resource lands on its member, a list
// of every namespace aggregates them, and the trail records every verb.
func TestBackendFederationWithAudit(t *testing.T) {
	dir := t.TempDir()
	manifest := writeFile(t, "cm.yaml", `apiVersion: v1
kind: ConfigMap
metadata: {name: web, namespace: prod-eu}
data: {a: "1"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web, namespace: dev}
data: {a: "2"}
`)
	prod, rest, trail := filepath.Join(dir, "prod.bolt"), filepath.Join(dir, "rest.bolt"), filepath.Join(dir, "audit.jsonl")
	fed := []string{"--backend", "prod:prod-=bolt=" + prod, "--backend", "rest=bolt=" + rest}
	o := client(t, dir, exitOK, append([]string{"apply", "-f", manifest, "--audit", trail}, fed...)...)
	wantLines(t, o.stdout, "ConfigMap/prod-eu/web revision 1", "ConfigMap/dev/web revision 1")

	// Each member alone holds its own.
	if o := client(t, dir, exitOK, "list", "configmaps", "--backend", "bolt="+prod); !strings.Contains(o.stdout, "prod-eu") || strings.Contains(o.stdout, "dev") {
		t.Fatalf("the prod member lists\n%s", o.stdout)
	}
	if o := client(t, dir, exitOK, "list", "configmaps", "--backend", "bolt="+rest); !strings.Contains(o.stdout, "dev") || strings.Contains(o.stdout, "prod-eu") {
		t.Fatalf("the rest member lists\n%s", o.stdout)
	}
	all := client(t, dir, exitOK, append([]string{"list", "configmaps"}, fed...)...).stdout
	if !strings.Contains(all, "dev") || !strings.Contains(all, "prod-eu") {
		t.Fatalf("the federation lists\n%s", all)
	}
	client(t, dir, exitOK, append([]string{"delete", "configmap", "web", "-n", "dev", "--audit", trail}, fed...)...)
	client(t, dir, exitFailed, append([]string{"get", "configmap", "web", "-n", "dev"}, fed...)...)

	var verbs []string
	raw, err := os.ReadFile(trail)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var rec struct{ Verb, Backend, Namespace, Outcome string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		if rec.Backend != "federation(prod,rest)" {
			t.Fatalf("audit record of backend %q", rec.Backend)
		}
		if rec.Verb != "list" && rec.Verb != "get" { // the reads a verb makes to resolve a name vary
			verbs = append(verbs, rec.Verb+" "+rec.Namespace+" "+rec.Outcome)
		}
	}
	if got := strings.Join(verbs, ", "); got != "apply prod-eu ok, apply dev ok, delete dev ok" {
		t.Fatalf("audit trail: %s", got)
	}
}

// Bad store flags are usage errors naming what is wrong.
func TestBackendFlagRefusesBadSpecs(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--backend", "etcd=http://127.0.0.1:1"}, `"etcd" is no store kind`},
		{[]string{"--backend", "bolt", "--backend", "a=bolt"}, "each needs NAME"},
		{[]string{"--backend", "a:=bolt"}, "empty namespace prefix"},
		{[]string{"--backend", ":prod-=bolt"}, "no member name"},
		{[]string{"--backend", "a=bolt", "--backend", "a=mesh", "--route", "first"}, `two members named "a"`},
		{[]string{"--backend", "a=bolt", "--route", "round-robin"}, "unknown federation route"},
		{[]string{"--backend", "bolt", "--server", "https://127.0.0.1:1"}, "--server sends the verb to a node"},
	} {
		o := client(t, dir, exitUsage, append([]string{"list", "configmaps"}, c.args...)...)
		if !strings.Contains(o.stderr, c.want) {
			t.Errorf("%v: stderr %q, want %q", c.args, o.stderr, c.want)
		}
	}
}

// A node serves its own store, alone or among others.
func TestNodeBackendMustIncludeItsMesh(t *testing.T) {
	dir := t.TempDir()
	args := []string{"node", "--data", dir, "--listen", "127.0.0.1:0", "--backend", "legacy:old-=bolt=" + filepath.Join(dir, "old.bolt")}
	o := revoada(t, nil, args...)
	wantCode(t, o, exitUsage, args...)
	if !strings.Contains(o.stderr, "a node serves its own store") {
		t.Fatalf("stderr %q", o.stderr)
	}
}

// A node serves a federation in front of its mesh: namespaces old-* from a
// bbolt store, the rest from the mesh, every verb on its socket audited.
func TestNodeServesAFederation(t *testing.T) {
	if testing.Short() {
		t.Skip("real time and real sockets")
	}
	legacy, trail := filepath.Join(t.TempDir(), "legacy.bolt"), filepath.Join(t.TempDir(), "audit.jsonl")
	dirs, _, _, nodes := loopbackMesh(t, 1, func(int) []string {
		return []string{"--backend", "legacy:old-=bolt=" + legacy, "--backend", "local=mesh", "--audit", trail}
	})
	manifest := writeFile(t, "cm.yaml", `apiVersion: v1
kind: ConfigMap
metadata: {name: web, namespace: old-app}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web, namespace: new-app}
`)
	wantLines(t, client(t, dirs[0], exitOK, "apply", "-f", manifest).stdout,
		"ConfigMap/old-app/web revision 1", "ConfigMap/new-app/web revision 1")
	list := client(t, dirs[0], exitOK, "list", "configmaps").stdout
	if !strings.Contains(list, "old-app") || !strings.Contains(list, "new-app") {
		t.Fatalf("the node lists\n%s", list)
	}
	if code := nodes[0].stop(); code != exitOK {
		t.Fatalf("node exited %d: %s", code, nodes[0].stderr)
	}
	// The bbolt member holds old-app alone; the trail names the federation.
	if o := client(t, t.TempDir(), exitOK, "list", "configmaps", "--backend", "bolt="+legacy); !strings.Contains(o.stdout, "old-app") || strings.Contains(o.stdout, "new-app") {
		t.Fatalf("the bbolt member lists\n%s", o.stdout)
	}
	raw, err := os.ReadFile(trail)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(raw), `"verb":"apply","backend":"federation(legacy,local)"`); n != 2 {
		t.Fatalf("%d audited applies, want 2:\n%s", n, raw)
	}
}

// --backend systemd drives a real systemd manager (real/systemd's
// harness: systemd as PID 1 of its own namespaces): apply starts the
// service, get reads the unit back, delete stops it.
func TestBackendSystemdThroughTheCLI(t *testing.T) {
	m := systemdtest.Start(t)
	store := "systemd=" + m.UnitDir + "@" + m.Socket()
	unit := writeFile(t, "revoada-cli.service", "[Unit]\nDescription=revoada CLI test\n\n[Service]\nExecStart=/bin/sleep 1000\n")
	dir := t.TempDir()
	wantLines(t, client(t, dir, exitOK, "apply", "-f", unit, "--backend", store).stdout, "service/revoada-cli.service revision 1")
	if got := client(t, dir, exitOK, "get", "service", "revoada-cli.service", "-o", "unit", "--backend", store).stdout; !strings.Contains(got, "ExecStart=/bin/sleep 1000") {
		t.Fatalf("get -o unit:\n%s", got)
	}
	active := func() string {
		p, err := m.Conn.GetUnitPropertyContext(t.Context(), "revoada-cli.service", "ActiveState")
		if err != nil {
			t.Fatal(err)
		}
		return strings.Trim(p.Value.String(), `"`)
	}
	if s := active(); s != "active" && s != "activating" {
		t.Fatalf("after apply the manager says %s", s)
	}
	client(t, dir, exitOK, "delete", "service", "revoada-cli.service", "--backend", store)
	if s := active(); s != "inactive" {
		t.Fatalf("after delete the manager says %s", s)
	}
	// Without a manager the backend says so.
	if o := client(t, dir, exitFailed, "list", "services", "--backend", "systemd="+m.UnitDir+"@"+filepath.Join(dir, "no-bus")); !strings.Contains(o.stderr, "systemd: dial") {
		t.Fatalf("no manager: %q", o.stderr)
	}
}

// --backend kube drives a real kube-apiserver (real/kube's harness), with
// the credentials of $KUBECONFIG, and composes: a federation puts prod-*
// on the apiserver and the rest in a bbolt file.
func TestBackendKubeThroughTheCLI(t *testing.T) {
	c := kubetest.Start(t, kubetest.Options{})
	t.Cleanup(c.Stop)
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	writeKubeconfig(t, kubeconfig, c.URL, c.Config.CAData, c.Config.BearerToken)
	t.Setenv("KUBECONFIG", kubeconfig)
	manifest := writeFile(t, "cm.yaml", `apiVersion: v1
kind: ConfigMap
metadata: {name: web, namespace: prod-eu}
data: {color: blue}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web, namespace: dev}
data: {color: green}
`)
	fed := []string{"--backend", "k8s:prod-=kube=" + c.URL, "--backend", "rest=bolt=" + filepath.Join(dir, "rest.bolt")}
	o := client(t, dir, exitOK, append([]string{"apply", "-f", manifest}, fed...)...)
	if !strings.Contains(o.stdout, "ConfigMap/prod-eu/web revision ") || !strings.Contains(o.stdout, "ConfigMap/dev/web revision 1") {
		t.Fatalf("apply:\n%s", o.stdout)
	}
	// The apiserver holds prod-eu/web itself: a plain client-go reads it.
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	cm, err := cs.CoreV1().ConfigMaps("prod-eu").Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil || cm.Data["color"] != "blue" {
		t.Fatalf("the apiserver's ConfigMap: %v %v", cm, err)
	}
	if _, err := cs.CoreV1().ConfigMaps("dev").Get(t.Context(), "web", metav1.GetOptions{}); err == nil {
		t.Fatal("dev/web reached the apiserver; it belongs to the bbolt member")
	}
	got := client(t, dir, exitOK, "get", "configmap", "web", "-n", "prod-eu", "-o", "yaml", "--backend", "kube="+c.URL).stdout
	if !strings.Contains(got, "color: blue") {
		t.Fatalf("get through --backend kube:\n%s", got)
	}
	client(t, dir, exitOK, append([]string{"delete", "configmap", "web", "-n", "prod-eu"}, fed...)...)
	if _, err := cs.CoreV1().ConfigMaps("prod-eu").Get(t.Context(), "web", metav1.GetOptions{}); err == nil {
		t.Fatal("deleted through revoada, the ConfigMap is still on the apiserver")
	}
}

func writeKubeconfig(t *testing.T, path, server string, ca []byte, token string) {
	t.Helper()
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: k, cluster: {server: %q, certificate-authority-data: %q}}]
users: [{name: admin, user: {token: %q}}]
contexts: [{name: k, context: {cluster: k, user: admin}}]
current-context: k
`, server, base64.StdEncoding.EncodeToString(ca), token)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// --backend nomad registers a job through the Nomad face with a real Nomad
// agent (real/nomad's harness): the agent holds it in its API form, with
// the implicit group and the integer cpu its own parser makes.
func TestBackendNomadThroughTheCLI(t *testing.T) {
	addr := nomadtest.Start(t, nomadtest.EventBufferSize)
	job := writeFile(t, "web.nomad.hcl", `job "web" {
  datacenters = ["dc1"]
  task "server" {
    driver = "raw_exec"
    config {
      command = "/bin/sleep"
      args    = ["1000"]
    }
    resources {
      cpu    = "500"
      memory = 64
    }
  }
}
`)
	dir := t.TempDir()
	o := client(t, dir, exitOK, "apply", "-f", job, "--backend", "nomad="+addr)
	if !strings.Contains(o.stdout, "NomadJob/default/web revision ") {
		t.Fatalf("apply:\n%s", o.stdout)
	}
	resp, err := http.Get(addr + "/v1/job/web")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		ID         string
		TaskGroups []struct {
			Name  string
			Tasks []struct{ Resources struct{ CPU int } }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.ID != "web" || len(got.TaskGroups) != 1 || got.TaskGroups[0].Name != "server" || got.TaskGroups[0].Tasks[0].Resources.CPU != 500 {
		t.Fatalf("the agent holds %+v", got)
	}
	if list := client(t, dir, exitOK, "list", "nomadjobs", "--backend", "nomad="+addr).stdout; !strings.Contains(list, "web") {
		t.Fatalf("list:\n%s", list)
	}
	client(t, dir, exitOK, "delete", "nomadjob", "web", "--backend", "nomad="+addr)
	client(t, dir, exitFailed, "get", "nomadjob", "web", "--backend", "nomad="+addr)
}

// Store flags are checked even when they choose no other store: a bad
// --route alone is a usage error, not silently ignored.
func TestBackendFlagRouteAloneIsChecked(t *testing.T) {
	o := client(t, t.TempDir(), exitUsage, "list", "configmaps", "--route", "round-robin")
	if !strings.Contains(o.stderr, "unknown federation route") {
		t.Fatalf("stderr %q", o.stderr)
	}
}

// One store named by two members is a usage error found before any store
// opens: the second bbolt open would wait for the first's lock, and a
// node's own store twice would list and watch every resource twice.
func TestBackendFlagRefusesOneStoreTwice(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"--backend", "a:x-=bolt", "--backend", "b=bolt=" + filepath.Join(dir, boltFileName)},
		{"--backend", "a:x-=bolt=" + filepath.Join(dir, "s.bolt"), "--backend", "b=bolt=" + dir + "/./s.bolt"},
	} {
		start := time.Now()
		o := client(t, dir, exitUsage, append([]string{"list", "configmaps"}, args...)...)
		if !strings.Contains(o.stderr, "the same store") {
			t.Errorf("%v: stderr %q, want it to name the store given twice", args, o.stderr)
		}
		if took := time.Since(start); took > disk.LockWaitMax {
			t.Errorf("%v: refused after %s, waiting on a lock", args, took)
		}
	}
}

// A node's federation flags are checked before the node starts: two
// members of one name, or its own store twice, exit 2.
func TestNodeBackendRefusesBadFederation(t *testing.T) {
	for _, c := range []struct {
		members []string
		want    string
	}{
		{[]string{"--backend", "a:x-=mesh", "--backend", "b=mesh"}, "the same store"},
		{[]string{"--backend", "a:x-=mesh", "--backend", "a=bolt"}, `two members named "a"`},
		{[]string{"--backend", "a(1):x-=mesh"}, "is not one word"},
	} {
		dir := t.TempDir()
		args := append([]string{"node", "--data", dir, "--listen", "127.0.0.1:0"}, c.members...)
		// A node that accepts its flags runs until stopped: the guard
		// kills it, and the test fails on its exit code.
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		cmd := exec.CommandContext(ctx, bin, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		cmd.Run()
		cancel()
		if code := cmd.ProcessState.ExitCode(); code != exitUsage || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.members, code, stderr.String(), exitUsage, c.want)
		}
	}
}

// --audit naming a store's own file is a usage error: the trail's lines
// would be appended to the bbolt file.
func TestBackendFlagRefusesAuditIntoAStore(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "s.bolt")
	o := client(t, dir, exitUsage, "list", "configmaps", "--backend", "bolt="+file, "--audit", dir+"/./s.bolt")
	if !strings.Contains(o.stderr, "--audit") {
		t.Fatalf("stderr %q, want it to name --audit", o.stderr)
	}
}
