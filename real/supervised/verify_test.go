package supervised_test

import (
	"os"
	"path/filepath"
	"testing"

	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/real/supervised"
	"revoada.dev/revoada/real/systemd/systemdtest"
)

// realWorld holds Kubernetes manifests from the Kubernetes project's tests.
const realWorld = "../../testdata/real-world/kubernetes"

// podded is a Pod that runs as a podman pod: an init container, a main
// container and a sidecar.
const podded = `apiVersion: v1
kind: Pod
metadata: {name: multi, namespace: test}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 5
  initContainers:
  - {name: init, image: ` + image + `, imagePullPolicy: Never, command: [/bin/sh, -c, "true"]}
  containers:
  - name: main
    image: ` + image + `
    imagePullPolicy: Never
    command: [/bin/sh, -c, "trap 'exit 0' TERM; while :; do sleep 1; done"]
  - name: side
    image: ` + image + `
    imagePullPolicy: Never
    command: [/bin/sh, -c, "trap 'exit 0' TERM; while :; do sleep 1; done"]
`

// TestGeneratedUnitsVerify: the unit of every Pod the baremetal face
// accepts among the real-world manifests, and of this package's test
// Pods, passes systemd-analyze verify with no output at all (it exits 0
// on warnings). verify checks that /usr/bin/podman is executable, so it
// needs podman.
func TestGeneratedUnitsVerify(t *testing.T) {
	if _, err := os.Stat("/usr/bin/podman"); err != nil {
		systemdtest.Unavailable(t, requirePodman, "supervised: systemd-analyze verify checks ExecStart's /usr/bin/podman: %v", err)
	}
	bm, err := face.ByName(face.BareMetal)
	if err != nil {
		t.Fatal(err)
	}
	pods := []store.Resource{pod(t, sleeper), pod(t, podded)}
	entries, err := os.ReadDir(realWorld)
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(realWorld, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		_, format, err := face.Detect(e.Name(), data)
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		rs, err := bm.Decode(e.Name(), data, format)
		if err != nil {
			t.Logf("refused %s: %v", e.Name(), err)
			refused++
			continue
		}
		pods = append(pods, rs...)
	}
	dir := t.TempDir()
	for _, r := range pods {
		u, err := supervised.Pods(r)
		if err != nil {
			t.Fatalf("%s: %v", r.Ref, err)
		}
		path := filepath.Join(dir, u.Name)
		if err := os.WriteFile(path, u.Text, 0o644); err != nil {
			t.Fatal(err)
		}
		if out := systemdtest.Verify(t, path); out != "" {
			t.Errorf("%s: systemd-analyze verify:\n%s\n%s", u.Name, out, u.Text)
		}
	}
	t.Logf("%d units verified clean: 2 test Pods and %d real-world Pods (%d real-world files the baremetal face refuses: not Pods, or Pod fields a unit cannot run)",
		len(pods), len(pods)-2, refused)
}
