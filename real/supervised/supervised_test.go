package supervised_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/real/supervised"
	"revoada.dev/revoada/real/systemd"
	"revoada.dev/revoada/real/systemd/systemdtest"
)

// Test environment.
const (
	// requirePodman turns a skip for want of podman into a failure.
	requirePodman = "REVOADA_REQUIRE_PODMAN"
	// image is built from busybox-static: no registry is reachable here.
	image   = "localhost/revoada-test:1"
	busybox = "/bin/busybox"
	// guard bounds each wait on the manager and podman.
	guard = 2 * time.Minute
)

// containersConf adapts podman to the test manager's namespace, which has
// no journald (podman's default log driver and event logger write to
// /run/systemd/journal/socket), no system D-Bus (crun's systemd cgroup
// manager asks it for a scope) and a read-only /etc (netavark locks
// /etc/containers/networks, which gets a tmpfs instead). On a host whose
// manager is PID 1 podman's defaults apply; the units are the same.
const containersConf = `[containers]
log_driver = "k8s-file"

[engine]
events_logger = "file"
cgroup_manager = "cgroupfs"
`

// podmanManager starts a manager podman can run containers under, and
// makes sure the test image exists. It skips (or fails, see
// requirePodman and systemdtest.RequireEnv) when it cannot.
func podmanManager(t *testing.T) (*systemdtest.Manager, []string) {
	t.Helper()
	if _, err := exec.LookPath("podman"); err != nil {
		systemdtest.Unavailable(t, requirePodman, "supervised: podman not found: %v", err)
	}
	if _, err := os.Stat(busybox); err != nil {
		systemdtest.Unavailable(t, requirePodman, "supervised: no %s to build the test image from (Debian's busybox-static): %v", busybox, err)
	}
	if err := os.MkdirAll(systemdtest.Base, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(systemdtest.Base, "podman")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	conf := filepath.Join(dir, "containers.conf")
	if err := os.WriteFile(conf, []byte(containersConf), 0o644); err != nil {
		t.Fatal(err)
	}
	const networks = "/etc/containers/networks"
	if err := os.MkdirAll(networks, 0o700); err != nil {
		t.Fatal(err)
	}
	env := []string{"CONTAINERS_CONF=" + conf}
	m := systemdtest.StartWith(t, systemdtest.Options{Tmpfs: []string{networks}, Env: env})
	if m.Command(env, "podman", "image", "exists", image).Run() != nil {
		rootfs := filepath.Join(dir, "rootfs")
		for _, d := range []string{"bin", "tmp"} {
			if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		bb, err := os.ReadFile(busybox)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(rootfs, "bin/busybox"), bb, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, applet := range []string{"sh", "sleep"} {
			if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", applet)); err != nil {
				t.Fatal(err)
			}
		}
		build := m.Command(env, "sh", "-c", `tar -C "$1" -c . | podman import - "$2"`, "sh", rootfs, image)
		if out, err := build.CombinedOutput(); err != nil {
			systemdtest.Unavailable(t, requirePodman, "supervised: podman import: %v: %s", err, out)
		}
	}
	return m, env
}

func open(t *testing.T, m *systemdtest.Manager) *systemd.Backend {
	t.Helper()
	b, err := supervised.Open(t.Context(), systemd.Config{UnitDir: m.UnitDir, Conn: m.Conn})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// pod decodes a Pod with the baremetal face.
func pod(t *testing.T, manifest string) store.Resource {
	t.Helper()
	bm, err := face.ByName(face.BareMetal)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := bm.Decode("pod.yaml", []byte(manifest), store.YAML)
	if err != nil {
		t.Fatal(err)
	}
	return rs[0]
}

// sleeper is a Pod whose one container sleeps until told to stop. The test
// Pods use the host's network: the manager's namespace shares it, and a
// bridge network would have netavark set up a bridge and firewall rules on
// the host.
const sleeper = `apiVersion: v1
kind: Pod
metadata: {name: web, namespace: test}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 5
  containers:
  - name: app
    image: ` + image + `
    imagePullPolicy: Never
    command: [/bin/sh, -c, "trap 'exit 0' TERM; while :; do sleep 1; done"]
    env: [{name: GENERATION, value: "1"}]
`

// awaitRunning waits for the Pod's unit to be active (running): a
// Type=notify service gets there only when READY arrives, which conmon
// sends (--sdnotify=conmon) once the container runs.
func awaitRunning(t *testing.T, b *systemd.Backend, m *systemdtest.Manager, ref store.Ref) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), guard)
	defer cancel()
	for {
		s, err := b.State(ctx, ref)
		if err != nil {
			t.Fatalf("state: %v", err)
		}
		if s.ActiveState == "active" && s.SubState == "running" && !s.JobPending {
			return
		}
		if s.ActiveState == "failed" || ctx.Err() != nil {
			out, _ := m.Command(nil, "systemctl", "status", "--no-pager", supervised.UnitName(ref)).CombinedOutput()
			t.Fatalf("the unit did not come up: %+v\n%s", s, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// podmanPS lists the containers named name, as ID and state pairs.
func podmanPS(t *testing.T, m *systemdtest.Manager, env []string, name string) []string {
	t.Helper()
	out, err := m.Command(env, "podman", "ps", "-a", "--filter", "name=^"+name+"$", "--format", "{{.ID}}").Output()
	if err != nil {
		t.Fatalf("podman ps: %v", err)
	}
	var ps []string
	for _, id := range strings.Fields(string(out)) {
		state, err := m.Command(env, "podman", "inspect", "--format", "{{.State.Status}}", id).Output()
		if err != nil {
			t.Fatalf("podman inspect %s: %v", id, err)
		}
		ps = append(ps, id, strings.TrimSpace(string(state)))
	}
	return ps
}

func show(t *testing.T, m *systemdtest.Manager, unit, prop string) string {
	t.Helper()
	out, err := m.Command(nil, "systemctl", "show", "--value", "-p", prop, unit).Output()
	if err != nil {
		t.Fatalf("systemctl show %s: %v", prop, err)
	}
	return strings.TrimSpace(string(out))
}

// TestPodRunsSupervised applies a Pod through the backend to a real
// manager: the unit comes up active (READY from conmon), its main process
// is conmon, podman runs the container; applying a changed Pod restarts it
// as a new container; deleting the Pod stops and removes the container
// and the manager forgets the unit.
func TestPodRunsSupervised(t *testing.T) {
	m, env := podmanManager(t)
	b := open(t, m)
	r := pod(t, sleeper)
	unit := supervised.UnitName(r.Ref)
	const container = "test_web_app"

	if _, err := b.Apply(t.Context(), r, store.Expect{Set: true}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	awaitRunning(t, b, m, r.Ref)
	ps := podmanPS(t, m, env, container)
	if len(ps) != 2 || ps[1] != "running" {
		t.Fatalf("podman ps: %q, want one running container", ps)
	}
	if typ := show(t, m, unit, "Type"); typ != "notify" {
		t.Errorf("Type=%s", typ)
	}
	mainPID := show(t, m, unit, "MainPID")
	if comm, err := m.Command(nil, "cat", "/proc/"+mainPID+"/comm").Output(); err != nil || strings.TrimSpace(string(comm)) != "conmon" {
		t.Errorf("main process %s is %q (%v), want conmon", mainPID, comm, err)
	}

	r2 := pod(t, strings.Replace(sleeper, `value: "1"`, `value: "2"`, 1))
	if _, err := b.Apply(t.Context(), r2, store.Expect{}); err != nil {
		t.Fatalf("apply a change: %v", err)
	}
	awaitRunning(t, b, m, r.Ref)
	ps2 := podmanPS(t, m, env, container)
	if len(ps2) != 2 || ps2[1] != "running" || ps2[0] == ps[0] {
		t.Fatalf("after a change podman ps says %q (before %q): want a new running container", ps2, ps)
	}

	start := time.Now()
	if _, err := b.Delete(t.Context(), r.Ref, store.Expect{}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	t.Logf("delete (podman stop and rm) took %v", time.Since(start))
	if ps := podmanPS(t, m, env, container); len(ps) != 0 {
		t.Errorf("after delete podman ps -a says %q", ps)
	}
	if _, err := os.Stat(filepath.Join(m.UnitDir, unit)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the unit file is still there: %v", err)
	}
	if ls := show(t, m, unit, "LoadState"); ls != "not-found" {
		t.Errorf("after delete the manager has %s %s", unit, ls)
	}
}

// TestPoddedPodRunsSupervised: a Pod of an init container and two
// containers runs as a podman pod: the init container ran to completion
// and is gone (--rm), the main and the sidecar containers run in the pod,
// the unit is active; deleting the Pod removes the pod and its containers.
func TestPoddedPodRunsSupervised(t *testing.T) {
	m, env := podmanManager(t)
	b := open(t, m)
	r := pod(t, podded)
	if _, err := b.Apply(t.Context(), r, store.Expect{}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	awaitRunning(t, b, m, r.Ref)
	if ps := podmanPS(t, m, env, "test_multi_init"); len(ps) != 0 {
		t.Errorf("the init container is still there: %q", ps)
	}
	for _, c := range []string{"test_multi_main", "test_multi_side"} {
		ps := podmanPS(t, m, env, c)
		if len(ps) != 2 || ps[1] != "running" {
			t.Errorf("%s: podman ps says %q, want one running container", c, ps)
		}
		out, err := m.Command(env, "podman", "ps", "--pod", "--filter", "name=^"+c+"$", "--format", "{{.PodName}}").Output()
		if err != nil || strings.TrimSpace(string(out)) != "test_multi" {
			t.Errorf("%s is in pod %q (%v), want test_multi", c, out, err)
		}
	}
	if _, err := b.Delete(t.Context(), r.Ref, store.Expect{}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	for _, c := range []string{"test_multi_main", "test_multi_side"} {
		if ps := podmanPS(t, m, env, c); len(ps) != 0 {
			t.Errorf("after delete %s is still there: %q", c, ps)
		}
	}
	if out, err := m.Command(env, "podman", "pod", "exists", "test_multi").CombinedOutput(); err == nil {
		t.Errorf("after delete the pod test_multi still exists (%s)", out)
	}
}
