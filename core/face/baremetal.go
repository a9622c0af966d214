package face

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"

	"k8s.io/apimachinery/pkg/api/resource"

	kjson "sigs.k8s.io/json"

	"revoada.dev/revoada/core/store"
)

// bareMetal is the supervisor face: Kubernetes Pods, run on the host by
// systemd and podman.
type bareMetal struct{}

var _ Face = bareMetal{}

func (bareMetal) Name() string { return BareMetal }

func (bareMetal) Formats() []store.Format { return []store.Format{store.YAML, store.JSON, store.Unit} }

// Decode reads Pods as the Kubernetes face does, refuses every other kind,
// and refuses a Pod it could not render as a unit.
func (bareMetal) Decode(file string, data []byte, f store.Format) ([]store.Resource, error) {
	objs, err := decodeObjects(data, f)
	if err != nil {
		return nil, fmt.Errorf("face: baremetal: %s: %w", file, err)
	}
	out := make([]store.Resource, 0, len(objs))
	for _, o := range objs {
		r, err := podResource(o)
		if err != nil {
			return nil, fmt.Errorf("face: baremetal: %s: %w", file, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func podResource(o object) (store.Resource, error) {
	if kind, _ := o.body["kind"].(string); kind != "Pod" {
		return store.Resource{}, unsupported(o.where+"kind", "%q: the baremetal face runs Pods only", kind)
	}
	if v, _ := o.body["apiVersion"].(string); v != "v1" {
		return store.Resource{}, invalid(o.where+"apiVersion", "%q: a Pod is v1", v)
	}
	r, err := objectResource(o)
	if err != nil {
		return store.Resource{}, err
	}
	r.Face = BareMetal
	p, err := parsePod(o.where, r.Payload)
	if err != nil {
		return store.Resource{}, err
	}
	return r, p.check(o.where)
}

// Encode renders the Pod back as YAML or JSON (with resourceVersion), or as
// the systemd unit that runs it (see the package doc).
func (bareMetal) Encode(r store.Resource, f store.Format) ([]byte, error) {
	if f != store.Unit {
		return encodeObject(BareMetal, r, f)
	}
	if err := checkOwner(BareMetal, r, store.JSON); err != nil {
		return nil, fmt.Errorf("face: baremetal: %w", err)
	}
	p, err := parsePod("", r.Payload)
	if err == nil {
		err = p.check("")
	}
	if err != nil {
		return nil, fmt.Errorf("face: baremetal: %s: %w", r.Ref, err)
	}
	return p.unit(), nil
}

// pod is every part of a Pod the baremetal face renders. It is decoded
// strictly (parsePod): a field of a Pod that is not here is refused, naming
// it, rather than dropped — the unit runs exactly what the Pod says or
// nothing. Metadata is kept whole in the stored object; the unit uses its
// name, namespace, labels and annotations.
type pod struct {
	Metadata   podMeta `json:"metadata"`
	APIVersion string  `json:"apiVersion"`
	Kind       string  `json:"kind"`
	Spec       struct {
		RestartPolicy                 string       `json:"restartPolicy"`
		HostNetwork                   bool         `json:"hostNetwork"`
		Hostname                      string       `json:"hostname"`
		TerminationGracePeriodSeconds *int64       `json:"terminationGracePeriodSeconds"`
		SecurityContext               *podSecurity `json:"securityContext"`
		InitContainers                []container  `json:"initContainers"`
		Containers                    []container  `json:"containers"`
	} `json:"spec"`
}

// podMeta is the metadata the unit uses; the rest of metadata is accepted
// as it is (bookkeeping, nothing to run).
type podMeta struct {
	Name        string
	Namespace   string
	Labels      map[string]string
	Annotations map[string]string
}

func (m *podMeta) UnmarshalJSON(data []byte) error {
	var all struct {
		Name        string            `json:"name"`
		Namespace   string            `json:"namespace"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	}
	if err := json.Unmarshal(data, &all); err != nil {
		return err
	}
	*m = podMeta(all)
	return nil
}

type container struct {
	Name            string             `json:"name"`
	Image           string             `json:"image"`
	ImagePullPolicy string             `json:"imagePullPolicy"`
	Command         []string           `json:"command"`
	Args            []string           `json:"args"`
	WorkingDir      string             `json:"workingDir"`
	Env             []envVar           `json:"env"`
	Ports           []containerPort    `json:"ports"`
	Resources       *resources         `json:"resources"`
	SecurityContext *containerSecurity `json:"securityContext"`
	LivenessProbe   *probe             `json:"livenessProbe"`
	TTY             bool               `json:"tty"`
	Stdin           bool               `json:"stdin"`
}

type envVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type containerPort struct {
	Name          string `json:"name"`
	ContainerPort int    `json:"containerPort"`
	HostPort      int    `json:"hostPort"`
	HostIP        string `json:"hostIP"`
	Protocol      string `json:"protocol"`
}

// resources are rendered as podman's limits: limits.cpu --cpus,
// limits.memory --memory, requests.memory --memory-reservation,
// requests.cpu --cpu-shares (1024 per CPU, as the kubelet converts it).
type resources struct {
	Limits   map[string]resource.Quantity `json:"limits"`
	Requests map[string]resource.Quantity `json:"requests"`
}

// Bounds of the quantities rendered, so each fits podman's flag exactly
// (--cpus is a float of millicores, --memory an int64 of bytes).
var (
	cpuMax         = resource.MustParse("100000") // CPUs
	memoryMax      = resource.MustParse("1Ei")    // bytes
	memoryLimitMin = resource.MustParse("6Mi")    // podman's own floor for --memory
)

// podSecurity is a Pod's securityContext: its user, group and seccomp
// settings are every container's unless the container sets its own.
type podSecurity struct {
	RunAsUser          *int64          `json:"runAsUser"`
	RunAsGroup         *int64          `json:"runAsGroup"`
	RunAsNonRoot       *bool           `json:"runAsNonRoot"`
	SupplementalGroups []int64         `json:"supplementalGroups"`
	Sysctls            []sysctl        `json:"sysctls"`
	SeccompProfile     *seccompProfile `json:"seccompProfile"`
}

type containerSecurity struct {
	RunAsUser                *int64          `json:"runAsUser"`
	RunAsGroup               *int64          `json:"runAsGroup"`
	RunAsNonRoot             *bool           `json:"runAsNonRoot"`
	Privileged               *bool           `json:"privileged"`
	AllowPrivilegeEscalation *bool           `json:"allowPrivilegeEscalation"`
	ReadOnlyRootFilesystem   *bool           `json:"readOnlyRootFilesystem"`
	Capabilities             *capabilities   `json:"capabilities"`
	SeccompProfile           *seccompProfile `json:"seccompProfile"`
}

type capabilities struct {
	Add  []string `json:"add"`
	Drop []string `json:"drop"`
}

type sysctl struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type seccompProfile struct {
	Type             string `json:"type"`
	LocalhostProfile string `json:"localhostProfile"`
}

// probe is a liveness probe podman can run: an exec command, as a podman
// health check whose failure kills the container (so systemd's Restart=
// applies, as the kubelet restarts a container that fails its probe).
type probe struct {
	Exec *struct {
		Command []string `json:"command"`
	} `json:"exec"`
	InitialDelaySeconds int32 `json:"initialDelaySeconds"`
	TimeoutSeconds      int32 `json:"timeoutSeconds"`
	PeriodSeconds       int32 `json:"periodSeconds"`
	SuccessThreshold    int32 `json:"successThreshold"`
	FailureThreshold    int32 `json:"failureThreshold"`
}

// parsePod decodes a stored Pod strictly: a field the face does not render
// is ErrUnsupported naming it.
func parsePod(where string, payload []byte) (pod, error) {
	var p pod
	strict, err := kjson.UnmarshalStrict(payload, &p)
	if err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(json.Unmarshal(payload, &pod{}), &te) && te.Field != "" {
			return pod{}, invalid(where+te.Field, "must be %s, not a JSON %s", te.Type, te.Value)
		}
		return pod{}, invalid(where+"payload", "%v", err)
	}
	if len(strict) > 0 {
		msg := strict[0].Error()
		if _, field, ok := strings.Cut(msg, `unknown field "`); ok {
			field = strings.TrimSuffix(field, `"`)
			return pod{}, unsupported(where+field, "not rendered by the baremetal face (it runs a Pod on one host with podman; see the face's documentation for what it renders)")
		}
		return pod{}, invalid(where+"payload", "%s", msg)
	}
	return p, nil
}

// check refuses what the unit cannot run as written: no containers, a
// container without a name or image, values podman would refuse or read
// differently (see each field's check).
func (p pod) check(where string) error {
	switch p.Spec.RestartPolicy {
	case "", "Always", "OnFailure", "Never":
	default:
		return invalid(where+"spec.restartPolicy", "%q: want Always, OnFailure or Never", p.Spec.RestartPolicy)
	}
	if len(p.Spec.Containers) == 0 {
		return invalid(where+"spec.containers", "a Pod runs at least one container")
	}
	if h := p.Spec.Hostname; h != "" {
		if err := checkDNSLabel(h, 63); err != nil {
			return invalid(where+"spec.hostname", "%v", err)
		}
	}
	if g := p.Spec.TerminationGracePeriodSeconds; g != nil && (*g < 0 || *g > graceMax) {
		return invalid(where+"spec.terminationGracePeriodSeconds", "%d: want 0..%d", *g, graceMax)
	}
	if err := p.Spec.SecurityContext.check(where + "spec.securityContext"); err != nil {
		return err
	}
	for _, m := range []map[string]string{p.Metadata.Labels, p.Metadata.Annotations} {
		for k, v := range m {
			if strings.ContainsAny(k, "=\x00") || strings.IndexByte(v, 0) >= 0 {
				return invalid(where+"metadata", "label or annotation %q: a NUL, or '=' in the key", k)
			}
		}
	}
	seen := map[string]bool{}
	for i, c := range p.Spec.InitContainers {
		if err := c.check(fmt.Sprintf("%sspec.initContainers[%d]", where, i), seen, p.Spec.SecurityContext); err != nil {
			return err
		}
		if c.LivenessProbe != nil {
			return invalid(fmt.Sprintf("%sspec.initContainers[%d].livenessProbe", where, i), "an init container has no probes (Kubernetes refuses them)")
		}
	}
	for i, c := range p.Spec.Containers {
		if err := c.check(fmt.Sprintf("%sspec.containers[%d]", where, i), seen, p.Spec.SecurityContext); err != nil {
			return err
		}
	}
	return nil
}

// graceMax bounds terminationGracePeriodSeconds (a day).
const graceMax = 86400

func (c container) check(field string, seen map[string]bool, pod *podSecurity) error {
	if err := checkDNSLabel(c.Name, 63); err != nil {
		return invalid(field+".name", "%v", err)
	}
	if seen[c.Name] {
		return invalid(field+".name", "%q is used twice", c.Name)
	}
	seen[c.Name] = true
	for _, s := range append(append([]string{c.Image, c.WorkingDir}, c.Command...), c.Args...) {
		if strings.IndexByte(s, 0) >= 0 {
			return invalid(field, "NUL in an image, directory, command or argument; a process argument cannot hold one")
		}
	}
	switch {
	case c.Image == "":
		return invalid(field+".image", "required")
	case strings.HasPrefix(c.Image, "-"):
		return invalid(field+".image", "%q starts with '-': podman would read it as an option", c.Image)
	case strings.IndexFunc(c.Image, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return invalid(field+".image", "%q holds a space or control character (an image reference has none)", c.Image)
	}
	if _, ok := pullPolicies[c.ImagePullPolicy]; !ok {
		return invalid(field+".imagePullPolicy", "%q: want Always, IfNotPresent or Never", c.ImagePullPolicy)
	}
	for i, e := range c.Env {
		if strings.IndexByte(e.Name+e.Value, 0) >= 0 || strings.IndexByte(e.Name, '=') >= 0 {
			return invalid(fmt.Sprintf("%s.env[%d]", field, i), "a NUL, or '=' in the name")
		}
		if e.Name == "" {
			return invalid(fmt.Sprintf("%s.env[%d].name", field, i), "required")
		}
	}
	for i, port := range c.Ports {
		if err := port.check(fmt.Sprintf("%s.ports[%d]", field, i)); err != nil {
			return err
		}
	}
	if err := c.Resources.check(field + ".resources"); err != nil {
		return err
	}
	if err := c.SecurityContext.check(field+".securityContext", pod); err != nil {
		return err
	}
	return c.LivenessProbe.check(field + ".livenessProbe")
}

// pullPolicies maps imagePullPolicy to podman's --pull.
var pullPolicies = map[string]string{"": "", "Always": "always", "IfNotPresent": "missing", "Never": "never"}

func (r *resources) check(field string) error {
	if r == nil {
		return nil
	}
	for _, set := range []struct {
		name string
		m    map[string]resource.Quantity
	}{{"limits", r.Limits}, {"requests", r.Requests}} {
		for _, k := range slices.Sorted(maps.Keys(set.m)) {
			f := field + "." + set.name + "." + k
			if k != "cpu" && k != "memory" {
				return unsupported(f, "the baremetal face renders cpu and memory only")
			}
			q := set.m[k]
			switch {
			case q.Sign() <= 0:
				return invalid(f, "%s is not a positive quantity", q.String())
			case k == "cpu" && q.Cmp(cpuMax) > 0:
				return invalid(f, "%s CPUs: more than %s", q.String(), cpuMax.String())
			case k == "memory" && q.Cmp(memoryMax) > 0:
				return invalid(f, "%s bytes: more than %s", q.String(), memoryMax.String())
			case k == "memory" && set.name == "limits" && q.Cmp(memoryLimitMin) < 0:
				return invalid(f, "%s bytes: podman refuses a memory limit under %s", q.String(), memoryLimitMin.String())
			}
		}
	}
	return nil
}

func (s *podSecurity) check(field string) error {
	if s == nil {
		return nil
	}
	for i, sc := range s.Sysctls {
		if sc.Name == "" || strings.Trim(sc.Name, "abcdefghijklmnopqrstuvwxyz0123456789_./-") != "" || strings.IndexByte(sc.Value, 0) >= 0 {
			return invalid(fmt.Sprintf("%s.sysctls[%d]", field, i), "%q is not a sysctl name", sc.Name)
		}
	}
	return s.SeccompProfile.check(field + ".seccompProfile")
}

func (s *containerSecurity) check(field string, pod *podSecurity) error {
	user, nonRoot := s.user(pod)
	if nonRoot {
		switch {
		case user == nil:
			return unsupported(field+".runAsNonRoot", "cannot be checked before the image runs without runAsUser; set runAsUser to a non-zero UID")
		case *user == 0:
			return invalid(field+".runAsNonRoot", "runAsUser is 0 (root)")
		}
	}
	if s == nil {
		return nil
	}
	if c := s.Capabilities; c != nil {
		for i, name := range append(slices.Clone(c.Add), c.Drop...) {
			if name == "" || strings.Trim(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") != "" {
				return invalid(fmt.Sprintf("%s.capabilities[%d]", field, i), "%q is not a capability name (CAP_ is optional, upper case)", name)
			}
		}
	}
	return s.SeccompProfile.check(field + ".seccompProfile")
}

// user is the UID a container runs as and whether it must not be root,
// from its own securityContext, else the Pod's.
func (s *containerSecurity) user(pod *podSecurity) (uid *int64, nonRoot bool) {
	if pod != nil {
		uid = pod.RunAsUser
		nonRoot = pod.RunAsNonRoot != nil && *pod.RunAsNonRoot
	}
	if s != nil {
		if s.RunAsUser != nil {
			uid = s.RunAsUser
		}
		if s.RunAsNonRoot != nil {
			nonRoot = *s.RunAsNonRoot
		}
	}
	return uid, nonRoot
}

// SeccompRoot is where a Localhost seccomp profile is looked up, as the
// kubelet does under its root directory.
const SeccompRoot = "/var/lib/kubelet/seccomp"

func (p *seccompProfile) check(field string) error {
	if p == nil {
		return nil
	}
	switch p.Type {
	case "RuntimeDefault", "Unconfined":
		return nil
	case "Localhost":
		lp := p.LocalhostProfile
		if lp == "" || strings.HasPrefix(lp, "/") || slices.Contains(strings.Split(lp, "/"), "..") || strings.IndexByte(lp, 0) >= 0 {
			return invalid(field+".localhostProfile", "%q: want a relative path under %s without '..'", lp, SeccompRoot)
		}
		return nil
	}
	return invalid(field+".type", "%q: want RuntimeDefault, Unconfined or Localhost", p.Type)
}

func (p *probe) check(field string) error {
	switch {
	case p == nil:
		return nil
	case p.Exec == nil || len(p.Exec.Command) == 0:
		return unsupported(field, "the baremetal face renders exec probes only (podman health checks)")
	case p.SuccessThreshold > 1:
		return invalid(field+".successThreshold", "%d: a liveness probe's is 1", p.SuccessThreshold)
	case p.InitialDelaySeconds < 0 || p.TimeoutSeconds < 0 || p.PeriodSeconds < 0 || p.FailureThreshold < 0:
		return invalid(field, "negative seconds or threshold")
	}
	for _, w := range p.Exec.Command {
		if strings.IndexByte(w, 0) >= 0 {
			return invalid(field+".exec.command", "NUL in an argument")
		}
	}
	return nil
}

func (p containerPort) check(field string) error {
	switch {
	case p.ContainerPort < 1 || p.ContainerPort > 65535:
		return invalid(field+".containerPort", "%d is not a port", p.ContainerPort)
	case p.HostPort < 0 || p.HostPort > 65535:
		return invalid(field+".hostPort", "%d is not a port", p.HostPort)
	}
	switch p.Protocol {
	case "", "TCP", "UDP", "SCTP":
		return nil
	}
	return invalid(field+".protocol", "%q: want TCP, UDP or SCTP", p.Protocol)
}
