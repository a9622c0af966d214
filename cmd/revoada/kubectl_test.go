package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// kubectlBinary is the kubectl scripts/build-kubectl.sh built (a pinned
// version, cached outside the clone). Without one the test is skipped,
// unless REVOADA_REQUIRE_KUBECTL=1 (CI) makes that a failure.
func kubectlBinary(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("bash", "../../scripts/build-kubectl.sh", "--cached").Output()
	if err != nil {
		if os.Getenv("REVOADA_REQUIRE_KUBECTL") == "1" {
			t.Fatalf("no kubectl built (scripts/build-kubectl.sh): %v", err)
		}
		t.Skip("no kubectl built: scripts/build-kubectl.sh builds one")
	}
	return strings.TrimSpace(string(out))
}

// kubectlSession runs kubectl against one node's API and keeps the
// transcript: each command and what it printed.
type kubectlSession struct {
	t          *testing.T
	bin, dir   string
	env        []string
	mu         sync.Mutex
	transcript bytes.Buffer
}

func (k *kubectlSession) note(format string, args ...any) {
	k.mu.Lock()
	defer k.mu.Unlock()
	fmt.Fprintf(&k.transcript, format+"\n", args...)
}

// run runs kubectl with args and returns its combined output and whether
// it exited 0.
func (k *kubectlSession) run(args ...string) (string, bool) {
	cmd := exec.Command(k.bin, args...)
	cmd.Env, cmd.Dir = k.env, k.dir
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

// want runs kubectl, records it in the transcript, and fails the test
// unless it exits as ok says and prints every string of has.
func (k *kubectlSession) want(ok bool, has []string, args ...string) string {
	k.t.Helper()
	out, exited0 := k.run(args...)
	k.note("$ kubectl %s\n%s", strings.Join(args, " "), strings.TrimRight(out, "\n"))
	if exited0 != ok {
		k.t.Fatalf("kubectl %s: exit 0 %v, want %v:\n%s", strings.Join(args, " "), exited0, ok, out)
	}
	for _, h := range has {
		if !strings.Contains(out, h) {
			k.t.Fatalf("kubectl %s: no %q in:\n%s", strings.Join(args, " "), h, out)
		}
	}
	return out
}

// eventually runs kubectl until it exits 0 (a write while the mesh elects
// a new leader is refused: 503 or 504), for at most a minute, and records
// the attempt that did with how many were refused before it.
func (k *kubectlSession) eventually(has []string, args ...string) {
	k.t.Helper()
	refused := 0
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		out, ok := k.run(args...)
		if ok {
			k.note("$ kubectl %s   # after %d refused while the mesh elected\n%s", strings.Join(args, " "), refused, strings.TrimRight(out, "\n"))
			for _, h := range has {
				if !strings.Contains(out, h) {
					k.t.Fatalf("kubectl %s: no %q in:\n%s", strings.Join(args, " "), h, out)
				}
			}
			return
		}
		if refused++; time.Now().After(deadline) {
			k.t.Fatalf("kubectl %s still refused after a minute: %s", strings.Join(args, " "), out)
		}
	}
}

const (
	kubeWeb = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
`
	kubeSettings = `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: %s
`
	kubeWidgetCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`
	kubeWidget = `apiVersion: example.com/v1
kind: Widget
metadata:
  name: gear
spec:
  teeth: %d
`
)

// TestKubectl is issue 13's Kubernetes check: a real kubectl (the pinned
// version scripts/build-kubectl.sh builds) drives a three-node mesh of
// 'revoada node' processes through a follower's API, while the leader is
// killed with SIGKILL in the middle of a 'kubectl get -w': apply (create,
// re-apply with a strategic merge patch, a JSON merge patch for a custom
// kind), apply --server-side, get as a table, -o yaml and -o json, the
// watch with its deletion, delete, api-resources, and the errors kubectl
// shows from Status objects. REVOADA_KUBECTL_TRANSCRIPT=FILE writes the
// transcript there too.
func TestKubectl(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes and real time")
	}
	kubectl := kubectlBinary(t)
	access := writeFile(t, "access.json", `{"tokens": {"admin-token-0123456789": "alice", "viewer-token-0123456789": "viewer"},
		"roles": {"alice": "admin", "viewer": "read-only"}}`)
	apiAddrs := []string{freeAddr(t), freeAddr(t), freeAddr(t)}
	m := startProcessMeshEach(t, 3, func(i int) []string { return []string{"--api", apiAddrs[i], "--api-access", access} }, "--tick", "50ms")
	leader, _ := m.waitStatus(t, -1, func(st meshStatus) bool { return st.Leader != "" && m.shapeAlive(st, -1) })
	killed := m.index(leader)
	via := (killed + 1) % 3 // kubectl talks to a follower
	var caFile string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		caFile = filepath.Join(m.dirs[via], apiCertFile)
		if _, err := os.Stat(caFile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s", caFile)
		}
	}
	dir := t.TempDir()
	kubeconfig := writeFile(t, "kubeconfig", fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: revoada
  cluster: {server: "https://%s", certificate-authority: %q}
users:
- name: alice
  user: {token: admin-token-0123456789}
- name: viewer
  user: {token: viewer-token-0123456789}
- name: nobody
  user: {token: not-a-token-of-this-mesh}
contexts:
- name: revoada
  context: {cluster: revoada, user: alice, namespace: default}
- name: viewer
  context: {cluster: revoada, user: viewer, namespace: default}
- name: nobody
  context: {cluster: revoada, user: nobody, namespace: default}
current-context: revoada
`, apiAddrs[via], caFile))
	k := &kubectlSession{t: t, bin: kubectl, dir: dir, env: []string{"KUBECONFIG=" + kubeconfig, "HOME=" + dir, "PATH=/usr/bin:/bin"}}
	defer func() {
		t.Logf("kubectl transcript:\n%s", k.transcript.String())
		if f := os.Getenv("REVOADA_KUBECTL_TRANSCRIPT"); f != "" {
			os.WriteFile(f, k.transcript.Bytes(), 0o644)
		}
	}()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return name
	}
	k.note("# a three-node mesh; kubectl talks to node %d (a follower); node %d leads", via+1, killed+1)
	k.want(true, []string{"Server Version: v1.37.2"}, "version")
	k.want(true, []string{"deployments", "deploy", "apps/v1", "Deployment"}, "api-resources", "--api-group=apps")
	k.want(true, []string{"deployment.apps/web created"}, "apply", "-f", file("web.yaml", kubeWeb))
	k.want(true, []string{"configmap/settings created"}, "apply", "-f", file("settings.yaml", fmt.Sprintf(kubeSettings, "fast")))

	// kubectl get -w, through the follower, across the leader's death.
	watch := exec.Command(kubectl, "get", "configmaps", "-w", "--output-watch-events")
	watch.Env, watch.Dir = k.env, dir
	stdout, err := watch.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	watch.Stderr = watch.Stdout
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var watched []string
	expect := func(prefix string) {
		t.Helper()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("kubectl get -w ended; it printed %q", watched)
				}
				watched = append(watched, l)
				if strings.HasPrefix(strings.Join(strings.Fields(l), " "), prefix) {
					return
				}
			case <-time.After(time.Minute):
				t.Fatalf("kubectl get -w: no %q within a minute; it printed %q", prefix, watched)
			}
		}
	}
	expect("ADDED settings")
	m.kill(killed)
	k.note("# kill -9 the leader, node %d, while 'kubectl get configmaps -w --output-watch-events' runs", killed+1)
	k.eventually([]string{"configmap/settings configured"}, "apply", "-f", file("settings.yaml", fmt.Sprintf(kubeSettings, "slow")))
	expect("MODIFIED settings")
	_, after := m.waitStatus(t, killed, func(st meshStatus) bool { return st.Leader != "" && st.Leader != leader })
	k.note("# node %d leads now, in term %d", m.index(after.Leader)+1, after.Term)

	// Re-apply: kubectl computes a strategic merge patch (containers merge by name).
	web2 := strings.Replace(kubeWeb, "replicas: 3", "replicas: 5", 1) + "      - name: log\n        image: busybox:1.36\n"
	k.want(true, []string{"deployment.apps/web configured"}, "apply", "-f", file("web.yaml", web2))
	k.want(true, []string{"configmap/extra serverside-applied"}, "apply", "--server-side", "-f", file("extra.yaml", strings.Replace(fmt.Sprintf(kubeSettings, "ssa"), "settings", "extra", 1)))
	out := k.want(true, []string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"}, "get", "deployments")
	if !strings.Contains(strings.Join(strings.Fields(out), " "), "web 0/5 0 0") {
		t.Fatalf("get deployments: no row for web with READY 0/5:\n%s", out)
	}
	k.want(true, []string{"replicas: 5", "name: nginx", "name: log", "kubectl.kubernetes.io/last-applied-configuration"}, "get", "deployment", "web", "-o", "yaml")
	k.want(true, []string{`"mode": "slow"`, `"kind": "ConfigMap"`}, "get", "configmap", "settings", "-o", "json")
	k.want(true, []string{"manager: kubectl", "operation: Apply"}, "get", "configmap", "extra", "-o", "yaml", "--show-managed-fields")

	// A custom kind: its definition, then a re-apply as a JSON merge patch.
	k.want(true, []string{"customresourcedefinition.apiextensions.k8s.io/widgets.example.com created"}, "apply", "-f", file("crd.yaml", kubeWidgetCRD))
	k.want(true, []string{"widget.example.com/gear created"}, "apply", "-f", file("gear.yaml", fmt.Sprintf(kubeWidget, 12)))
	k.want(true, []string{"widget.example.com/gear configured"}, "apply", "-f", file("gear.yaml", fmt.Sprintf(kubeWidget, 16)))
	k.want(true, []string{"teeth: 16"}, "get", "wd", "gear", "-o", "yaml")

	// Errors, as kubectl shows Status objects.
	k.want(false, []string{"AlreadyExists", `deployments.apps "web" already exists`}, "create", "-f", "web.yaml")
	k.want(false, []string{"NotFound", `pods "nosuch" not found`}, "get", "pod", "nosuch")
	stale := strings.Replace(fmt.Sprintf(kubeSettings, "stale"), "  name: settings\n", "  name: settings\n  resourceVersion: \"1\"\n", 1)
	k.want(false, []string{"Conflict", "the object has been modified"}, "replace", "-f", file("stale.yaml", stale))
	k.want(false, []string{"is invalid", "metadata.name"}, "apply", "-f", file("bad.yaml", strings.Replace(kubeWeb, "name: web\n", "name: Web_Bad\n", 1)))
	k.want(false, []string{"Forbidden", `configmaps "settings" is forbidden: User "viewer" cannot delete resource "configmaps"`}, "--context", "viewer", "delete", "configmap", "settings")
	k.want(false, []string{"You must be logged in to the server"}, "--context", "nobody", "get", "configmaps")

	k.want(true, []string{`configmap "settings" deleted`}, "delete", "configmap", "settings")
	expect("DELETED settings")
	watch.Process.Kill()
	watch.Wait()
	k.note("$ kubectl get configmaps -w --output-watch-events   # running since before the kill\n%s", strings.Join(watched, "\n"))
	k.want(true, []string{"extra"}, "get", "configmaps")
}
