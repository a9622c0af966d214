package face_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
)

func bareMetalUnit(t *testing.T, manifest string) []byte {
	t.Helper()
	bm := mustFace(t, face.BareMetal)
	rs := decode(t, face.BareMetal, "p.yaml", store.YAML, manifest)
	u, err := bm.Encode(rs[0], store.Unit)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestBareMetalNamespacesDoNotCollide (issue 10, defect 4): Pod web in prod
// and in dev rendered the same --name, so each unit's `podman rm -f` (now
// podman run --replace) killed the other's container.
func TestBareMetalNamespacesDoNotCollide(t *testing.T) {
	const m = "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: %s}\nspec: {containers: [{name: nginx, image: nginx}]}\n"
	prod := containerName(t, bareMetalUnit(t, strings.Replace(m, "%s", "prod", 1)))
	dev := containerName(t, bareMetalUnit(t, strings.Replace(m, "%s", "dev", 1)))
	if prod != "prod_web_nginx" || dev != "dev_web_nginx" {
		t.Errorf("names %q and %q", prod, dev)
	}
	// '_' is in no Kubernetes name, so a-b/c and a/b-c differ too.
	ab := bareMetalUnit(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: c, namespace: a-b}\nspec: {containers: [{name: x, image: i}]}\n")
	bc := bareMetalUnit(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: b-c, namespace: a}\nspec: {containers: [{name: x, image: i}]}\n")
	if containerName(t, ab) == containerName(t, bc) {
		t.Errorf("a-b/c and a/b-c collide")
	}
}

// containerName is the --name of a unit's ExecStart.
func containerName(t *testing.T, u []byte) string {
	t.Helper()
	for _, w := range execArgv(t, u, "ExecStart") {
		if name, ok := strings.CutPrefix(w, "--name="); ok {
			return name
		}
	}
	t.Fatalf("no --name in\n%s", u)
	return ""
}

// TestBareMetalRendersSecurityContext (issue 10, defect 4): the security
// context of the real-world restricted Pod was dropped without a word.
func TestBareMetalRendersSecurityContext(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(realWorld, "kubernetes", "pod-restricted-localhost.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	argv := execArgv(t, bareMetalUnit(t, string(data)), "ExecStart")
	for _, want := range [][]string{
		{"--user=1000:1000"},
		{"--security-opt=no-new-privileges"},
		{"--cap-drop=ALL"},
		{"--security-opt=seccomp=/var/lib/kubelet/seccomp/dummy.json"},
		{"--label=run=target"},
	} {
		if !containsRun(argv, want) {
			t.Errorf("argv %q lacks %q", argv, want)
		}
	}
	// Pod-level user, group and non-root hold for every container.
	data, err = os.ReadFile(filepath.Join(realWorld, "kubernetes", "pod-run-as-non-root.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if argv := execArgv(t, bareMetalUnit(t, string(data)), "ExecStart"); !containsRun(argv, []string{"--user=1000:1000"}) {
		t.Errorf("argv %q lacks --user 1000:1000", argv)
	}
}

// TestBareMetalRendersResourcesAndProbes: limits, requests, pull policy, an
// exec liveness probe and the grace period become podman's flags.
func TestBareMetalRendersResourcesAndProbes(t *testing.T) {
	u := bareMetalUnit(t, `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  terminationGracePeriodSeconds: 20
  containers:
  - name: app
    image: nginx
    imagePullPolicy: IfNotPresent
    resources: {limits: {cpu: 500m, memory: 128Mi}, requests: {cpu: 250m, memory: 64Mi}}
    livenessProbe: {exec: {command: [cat, /tmp/healthy]}, periodSeconds: 5, failureThreshold: 2}
`)
	argv := execArgv(t, u, "ExecStart")
	for _, want := range [][]string{
		{"--cpus=0.5"}, {"--memory=134217728"}, {"--cpu-shares=256"}, {"--memory-reservation=67108864"},
		{"--pull=missing"}, {"--stop-timeout=20"},
		{`--health-cmd=["CMD","cat","/tmp/healthy"]`}, {"--health-interval=5s"}, {"--health-retries=2"}, {"--health-on-failure=kill"},
	} {
		if !containsRun(argv, want) {
			t.Errorf("argv %q lacks %q", argv, want)
		}
	}
	// podman generate systemd's TimeoutStopSec: the stop timeout + 60.
	if !strings.Contains(string(u), "\nTimeoutStopSec=80\n") {
		t.Errorf("no TimeoutStopSec=80:\n%s", u)
	}
	for _, key := range []string{"ExecStop", "ExecStopPost"} {
		if argv := execArgv(t, u, key); !containsRun(argv, []string{"--ignore", "-t", "20", "--cidfile=%t/%n.ctr-id"}) {
			t.Errorf("%s %q does not stop within the grace period", key, argv)
		}
	}
}

// TestBareMetalRefusesWhatItDoesNotRender (issue 10, defect 4): nothing of a
// Pod is dropped silently; what the unit cannot run is refused, naming it.
func TestBareMetalRefusesWhatItDoesNotRender(t *testing.T) {
	const head = "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n"
	for _, c := range []badCase{
		{"http probe", face.BareMetal, "p.yaml", store.YAML, head + "  containers: [{name: c, image: x, livenessProbe: {httpGet: {port: 80}}}]\n", store.ErrUnsupported, "spec.containers[0].livenessProbe"},
		{"readiness probe", face.BareMetal, "p.yaml", store.YAML, head + "  containers: [{name: c, image: x, readinessProbe: {exec: {command: [x]}}}]\n", store.ErrUnsupported, "spec.containers[0].readinessProbe"},
		{"volumes", face.BareMetal, "p.yaml", store.YAML, head + "  volumes: [{name: v, emptyDir: {}}]\n  containers: [{name: c, image: x}]\n", store.ErrUnsupported, "spec.volumes"},
		{"node selector", face.BareMetal, "p.yaml", store.YAML, head + "  nodeSelector: {disk: ssd}\n  containers: [{name: c, image: x}]\n", store.ErrUnsupported, "spec.nodeSelector"},
		{"non-root without a user", face.BareMetal, "p.yaml", store.YAML, head + "  securityContext: {runAsNonRoot: true}\n  containers: [{name: c, image: x}]\n", store.ErrUnsupported, "runAsNonRoot"},
		{"non-root as root", face.BareMetal, "p.yaml", store.YAML, head + "  containers: [{name: c, image: x, securityContext: {runAsNonRoot: true, runAsUser: 0}}]\n", store.ErrInvalid, "runAsNonRoot"},
		{"gpu", face.BareMetal, "p.yaml", store.YAML, head + "  containers: [{name: c, image: x, resources: {limits: {nvidia.com/gpu: 1}}}]\n", store.ErrUnsupported, "resources.limits.nvidia.com/gpu"},
		{"seccomp escape", face.BareMetal, "p.yaml", store.YAML, head + "  securityContext: {seccompProfile: {type: Localhost, localhostProfile: ../../etc/x}}\n  containers: [{name: c, image: x}]\n", store.ErrInvalid, "localhostProfile"},
		{"image read as a flag", face.BareMetal, "p.yaml", store.YAML, head + "  containers: [{name: c, image: --privileged, args: [alpine, sh]}]\n", store.ErrInvalid, "image"},
		{"image with a space", face.BareMetal, "p.yaml", store.YAML, head + "  containers: [{name: c, image: \" alpine\"}]\n", store.ErrInvalid, "image"},
		{"cpu beyond podman's float", face.BareMetal, "p.yaml", store.YAML, head + "  containers: [{name: c, image: x, resources: {limits: {cpu: \"123456789012345678901234567890\"}}}]\n", store.ErrInvalid, "resources.limits.cpu"},
		{"memory beyond int64", face.BareMetal, "p.yaml", store.YAML, head + "  containers: [{name: c, image: x, resources: {limits: {memory: 8Ei}}}]\n", store.ErrInvalid, "resources.limits.memory"},
		{"memory under podman's floor", face.BareMetal, "p.yaml", store.YAML, head + "  containers: [{name: c, image: x, resources: {limits: {memory: 1Ki}}}]\n", store.ErrInvalid, "resources.limits.memory"},
		{"env from", face.BareMetal, "p.yaml", store.YAML, head + "  containers: [{name: c, image: x, envFrom: [{configMapRef: {name: m}}]}]\n", store.ErrUnsupported, "envFrom"},
	} {
		t.Run(c.name, func(t *testing.T) { checkBad(t, c) })
	}
}

// TestBareMetalValuesAreNeverOptions (found by a hostile review): every
// option's value is joined to it, so a value that starts with '-' (an env
// name, a working directory, a label) stays that option's value.
func TestBareMetalValuesAreNeverOptions(t *testing.T) {
	u := bareMetalUnit(t, `apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: "--privileged"}}
spec:
  containers:
  - {name: app, image: nginx, workingDir: "--volume=/:/host", env: [{name: "-v", value: "/:/h"}]}
`)
	argv := execArgv(t, u, "ExecStart")
	for _, w := range argv {
		if w == "--privileged" || strings.HasPrefix(w, "--volume") || w == "-v" {
			t.Errorf("argv %q holds %q as a word of its own", argv, w)
		}
	}
	if !containsRun(argv, []string{"--workdir=--volume=/:/host"}) || !containsRun(argv, []string{"--env=-v=/:/h"}) {
		t.Errorf("argv %q", argv)
	}
}

// containsRun reports whether want occurs in argv as consecutive words.
func containsRun(argv, want []string) bool {
	for i := 0; i+len(want) <= len(argv); i++ {
		if slices.Equal(argv[i:i+len(want)], want) {
			return true
		}
	}
	return false
}
