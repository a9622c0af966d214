package face

import (
	"cmp"
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"
)

const podman = "/usr/bin/podman"

// unit renders the systemd unit that runs the Pod with podman, in the
// shape `podman generate systemd --new` gives a container (podman 4.3): the
// service is Type=notify and conmon reports READY (--sdnotify=conmon,
// NotifyAccess=all) once the container runs; podman run detaches (-d) and
// conmon, left in the service's cgroup (--cgroups=no-conmon), is the main
// process; the container's id is kept in %t/%n.ctr-id (--cidfile), by which
// ExecStop stops it and ExecStopPost removes it; --replace removes a
// leftover container of the same name, and --rm the container when it ends.
// The stop timeout is the Pod's terminationGracePeriodSeconds, or podman's
// default of 10 s, and systemd waits 60 s more (TimeoutStopSec), as podman
// generate does.
//
// A Pod of one container and no init containers is that container, named
// <namespace>_<pod>_<container>. Any other Pod becomes a podman pod named
// <namespace>_<pod> whose id is kept in %t/%n.pod-id: ExecStartPre creates
// it (owning the published ports, the network, the hostname and the
// sysctls; --exit-policy=stop), runs the init containers to completion in
// order and starts the containers after the first detached; the first
// container is the service's main container as above; ExecStopPost removes
// the whole pod. '_' is in no Kubernetes name, so the names of two Pods
// never collide: a Pod web in prod and one in dev are prod_web and dev_web.
//
// The unit is injection-proof by construction: every value it writes goes
// through unitText (a [Unit] or [Service] value) or execQuote (a word of a
// command line), neither of which can end a line; the only words written
// as they are, with systemd's specifiers (%t, %n), are this file's
// constants.
func (p pod) unit() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "[Unit]\nDescription=%s\n", unitText("revoada baremetal Pod "+p.Metadata.Namespace+"/"+p.Metadata.Name))
	b.WriteString("Wants=network-online.target\nAfter=network-online.target\nRequiresMountsFor=%t/containers\n\n[Service]\n")
	stop := int64(podmanStopTimeout)
	if g := p.Spec.TerminationGracePeriodSeconds; g != nil {
		stop = *g
	}
	b.WriteString("Environment=PODMAN_SYSTEMD_UNIT=%n\n")
	fmt.Fprintf(&b, "Restart=%s\nTimeoutStopSec=%d\n", restartValue(p.Spec.RestartPolicy), stop+stopSlack)
	if len(p.Spec.Containers) == 1 && len(p.Spec.InitContainers) == 0 {
		writeExec(&b, "ExecStartPre=", []string{"/bin/rm", "-f " + cidFile}, nil)
		p.main(&b, false, stop)
	} else {
		p.podded(&b, stop)
	}
	b.WriteString("Type=notify\nNotifyAccess=all\n")
	b.WriteString("\n[Install]\nWantedBy=multi-user.target\n")
	return []byte(b.String())
}

// Files the unit keeps ids in, under the manager's runtime directory (%t),
// named after the unit (%n), as podman generate systemd names them.
const (
	cidFile = "%t/%n.ctr-id"
	podFile = "%t/%n.pod-id"
)

// podmanStopTimeout is podman's default stop timeout, in seconds; stopSlack
// is how much longer systemd waits (podman generate's TimeoutStopSec is the
// stop timeout + 60).
const (
	podmanStopTimeout = 10
	stopSlack         = 60
)

// main writes the ExecStart that runs the Pod's first container as the
// service's main process (in the pod when podded), and its ExecStop and
// ExecStopPost.
func (p pod) main(b *strings.Builder, podded bool, stop int64) {
	c := p.Spec.Containers[0]
	raw := []string{podman + " run", "--cidfile=" + cidFile, "--cgroups=no-conmon", "--rm", "--sdnotify=conmon", "-d", "--replace"}
	run := [][]string{{"--name", p.podName() + "_" + c.Name}}
	if podded {
		raw = append(raw, "--pod-id-file="+podFile)
	} else {
		run = append(run, p.podFlags()...)
		run = append(run, publishFlags(c.Ports)...)
	}
	writeExec(b, "ExecStart=", raw, append(run, p.runFlags(c)...))
	t := strconv.FormatInt(stop, 10)
	writeExec(b, "ExecStop=", []string{podman + " stop", "--ignore -t " + t, "--cidfile=" + cidFile}, nil)
	writeExec(b, "ExecStopPost=", []string{podman + " rm", "-f", "--ignore -t " + t, "--cidfile=" + cidFile}, nil)
}

// podName is the podman pod's name, and the prefix of its containers'.
func (p pod) podName() string { return p.Metadata.Namespace + "_" + p.Metadata.Name }

func (p pod) podded(b *strings.Builder, stop int64) {
	writeExec(b, "ExecStartPre=", []string{"/bin/rm", "-f " + cidFile + " " + podFile}, nil)
	create := [][]string{{"--name", p.podName()}}
	create = append(create, p.podFlags()...)
	for _, c := range append(p.Spec.InitContainers, p.Spec.Containers...) {
		create = append(create, publishFlags(c.Ports)...)
	}
	writeExec(b, "ExecStartPre=", []string{podman + " pod create", "--pod-id-file=" + podFile, "--exit-policy=stop", "--replace"}, create)
	for _, c := range p.Spec.InitContainers {
		writeExec(b, "ExecStartPre=", []string{podman + " run", "--rm", "--replace", "--pod-id-file=" + podFile}, p.podRun(c))
	}
	for _, c := range p.Spec.Containers[1:] {
		writeExec(b, "ExecStartPre=", []string{podman + " run", "--rm", "-d", "--replace", "--pod-id-file=" + podFile}, p.podRun(c))
	}
	p.main(b, true, stop)
	writeExec(b, "ExecStopPost=", []string{podman + " pod rm", "-f", "--ignore", "--pod-id-file=" + podFile}, nil)
}

// podFlags are what a Pod sets for all its containers, given to podman pod
// create, or to podman run for a Pod of one container: host networking,
// hostname, sysctls.
func (p pod) podFlags() [][]string {
	var lines [][]string
	if p.Spec.HostNetwork {
		lines = append(lines, []string{"--network", "host"})
	}
	if h := p.Spec.Hostname; h != "" {
		lines = append(lines, []string{"--hostname", h})
	}
	if s := p.Spec.SecurityContext; s != nil {
		for _, sc := range s.Sysctls {
			lines = append(lines, []string{"--sysctl", sc.Name + "=" + sc.Value})
		}
	}
	return lines
}

func (p pod) podRun(c container) [][]string {
	return append([][]string{{"--name", p.podName() + "_" + c.Name}}, p.runFlags(c)...)
}

// runFlags are a container's own podman run arguments, ending with the
// image and its arguments. Kubernetes' command replaces the image's
// entrypoint (--entrypoint takes it as a JSON array); args follow the image.
func (p pod) runFlags(c container) [][]string {
	var lines [][]string
	for _, k := range sortedKeys(p.Metadata.Labels) {
		lines = append(lines, []string{"--label", k + "=" + p.Metadata.Labels[k]})
	}
	for _, k := range sortedKeys(p.Metadata.Annotations) {
		lines = append(lines, []string{"--annotation", k + "=" + p.Metadata.Annotations[k]})
	}
	if pull := pullPolicies[c.ImagePullPolicy]; pull != "" {
		lines = append(lines, []string{"--pull", pull})
	}
	if g := p.Spec.TerminationGracePeriodSeconds; g != nil {
		lines = append(lines, []string{"--stop-timeout", strconv.FormatInt(*g, 10)})
	}
	lines = append(lines, securityFlags(c.SecurityContext, p.Spec.SecurityContext)...)
	lines = append(lines, c.Resources.flags()...)
	lines = append(lines, c.LivenessProbe.flags()...)
	if c.Stdin {
		lines = append(lines, []string{"--interactive"})
	}
	if c.TTY {
		lines = append(lines, []string{"--tty"})
	}
	if c.WorkingDir != "" {
		lines = append(lines, []string{"--workdir", c.WorkingDir})
	}
	for _, e := range c.Env {
		lines = append(lines, []string{"--env", e.Name + "=" + e.Value})
	}
	if len(c.Command) > 0 {
		entry, _ := json.Marshal(c.Command) // []string always marshals
		lines = append(lines, []string{"--entrypoint", string(entry)})
	}
	return append(lines, append([]string{c.Image}, c.Args...))
}

// securityFlags renders a container's security context over its Pod's:
// --user UID[:GID], --group-add, --privileged, no-new-privileges,
// --read-only, --cap-drop and --cap-add, and the seccomp profile.
func securityFlags(s *containerSecurity, pod *podSecurity) [][]string {
	var lines [][]string
	uid, _ := s.user(pod)
	var gid *int64
	var seccomp *seccompProfile
	if pod != nil {
		gid, seccomp = pod.RunAsGroup, pod.SeccompProfile
	}
	if s != nil && s.RunAsGroup != nil {
		gid = s.RunAsGroup
	}
	if s != nil && s.SeccompProfile != nil {
		seccomp = s.SeccompProfile
	}
	switch {
	case uid != nil && gid != nil:
		lines = append(lines, []string{"--user", fmt.Sprintf("%d:%d", *uid, *gid)})
	case uid != nil:
		lines = append(lines, []string{"--user", strconv.FormatInt(*uid, 10)})
	case gid != nil: // a group alone: the image's user, in that group
		lines = append(lines, []string{"--group-add", strconv.FormatInt(*gid, 10)})
	}
	if pod != nil {
		for _, g := range pod.SupplementalGroups {
			lines = append(lines, []string{"--group-add", strconv.FormatInt(g, 10)})
		}
	}
	if s != nil {
		if s.Privileged != nil && *s.Privileged {
			lines = append(lines, []string{"--privileged"})
		}
		if s.AllowPrivilegeEscalation != nil && !*s.AllowPrivilegeEscalation {
			lines = append(lines, []string{"--security-opt", "no-new-privileges"})
		}
		if s.ReadOnlyRootFilesystem != nil && *s.ReadOnlyRootFilesystem {
			lines = append(lines, []string{"--read-only"})
		}
		if c := s.Capabilities; c != nil {
			for _, name := range c.Drop {
				lines = append(lines, []string{"--cap-drop", name})
			}
			for _, name := range c.Add {
				lines = append(lines, []string{"--cap-add", name})
			}
		}
	}
	switch {
	case seccomp == nil || seccomp.Type == "RuntimeDefault": // podman's default profile
	case seccomp.Type == "Unconfined":
		lines = append(lines, []string{"--security-opt", "seccomp=unconfined"})
	case seccomp.Type == "Localhost":
		lines = append(lines, []string{"--security-opt", "seccomp=" + path.Join(SeccompRoot, seccomp.LocalhostProfile)})
	}
	return lines
}

// flags renders resources: --cpus and --memory (limits), --cpu-shares
// (1024 per CPU requested, as the kubelet converts it) and
// --memory-reservation (requests).
func (r *resources) flags() [][]string {
	if r == nil {
		return nil
	}
	var lines [][]string
	if q, ok := r.Limits["cpu"]; ok {
		lines = append(lines, []string{"--cpus", strconv.FormatFloat(float64(q.MilliValue())/1000, 'f', -1, 64)})
	}
	if q, ok := r.Limits["memory"]; ok {
		lines = append(lines, []string{"--memory", strconv.FormatInt(q.Value(), 10)})
	}
	if q, ok := r.Requests["cpu"]; ok {
		// The kubelet's MilliCPUToShares, clamped to the cgroup's range as it does.
		lines = append(lines, []string{"--cpu-shares", strconv.FormatInt(min(max(2, q.MilliValue()*1024/1000), 262144), 10)})
	}
	if q, ok := r.Requests["memory"]; ok {
		lines = append(lines, []string{"--memory-reservation", strconv.FormatInt(q.Value(), 10)})
	}
	return lines
}

// flags renders an exec liveness probe as a podman health check that kills
// the container when it fails (systemd's Restart= then applies), with
// Kubernetes' defaults where a field is unset.
func (p *probe) flags() [][]string {
	if p == nil {
		return nil
	}
	cmd, _ := json.Marshal(append([]string{"CMD"}, p.Exec.Command...)) // []string always marshals
	seconds := func(v, def int32) string { return strconv.Itoa(int(cmp.Or(v, def))) + "s" }
	return [][]string{
		{"--health-cmd", string(cmd)},
		{"--health-interval", seconds(p.PeriodSeconds, 10)},
		{"--health-timeout", seconds(p.TimeoutSeconds, 1)},
		{"--health-retries", strconv.Itoa(int(cmp.Or(p.FailureThreshold, 3)))},
		{"--health-start-period", seconds(p.InitialDelaySeconds, 0)},
		{"--health-on-failure", "kill"},
	}
}

// unitText makes s safe as a unit file value: '%' doubled (specifiers),
// '\' doubled, and every control character (a newline above all, which
// would start a line of its own) written as a C escape, so no value can add
// a line or a section to the unit.
func unitText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '%':
			b.WriteString("%%")
		case r == '\\':
			b.WriteString(`\\`)
		case r < 0x20 || r == 0x7f || r == 0x2028 || r == 0x2029 || r == 0x85:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// publishFlags publishes the ports that ask for a host port, as Kubernetes
// does: --publish=[hostIP:]hostPort:containerPort[/udp|/sctp].
func publishFlags(ports []containerPort) [][]string {
	var lines [][]string
	for _, p := range ports {
		if p.HostPort == 0 {
			continue
		}
		spec := strconv.Itoa(p.HostPort) + ":" + strconv.Itoa(p.ContainerPort)
		if p.HostIP != "" {
			spec = p.HostIP + ":" + spec
		}
		if p.Protocol == "UDP" || p.Protocol == "SCTP" {
			spec += "/" + strings.ToLower(p.Protocol)
		}
		lines = append(lines, []string{"--publish", spec})
	}
	return lines
}

func restartValue(policy string) string {
	switch policy {
	case "OnFailure":
		return "on-failure"
	case "Never":
		return "no"
	}
	return "always"
}

// writeExec writes key and a command line, one group of words per physical
// line joined by systemd's backslash continuation, as podman generate
// systemd does. The raw lines come first, written as they are: they are
// this file's constants (podman's own flags and the %t/%n id files), never
// a value from a Pod. Then every word of lines is quoted by execQuote; a
// group of an option and its value is written as one word, --option=value,
// so no value, whatever it starts with, can be read as an option of its
// own.
func writeExec(b *strings.Builder, key string, raw []string, lines [][]string) {
	b.WriteString(key)
	first := true
	next := func() {
		if !first {
			b.WriteString(" \\\n\t")
		}
		first = false
	}
	for _, r := range raw {
		next()
		b.WriteString(r)
	}
	for _, words := range lines {
		if len(words) == 2 && strings.HasPrefix(words[0], "--") {
			words = []string{words[0] + "=" + words[1]}
		}
		next()
		for j, w := range words {
			if j > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(execQuote(w))
		}
	}
	b.WriteByte('\n')
}

// execQuote quotes one word of a systemd command line (systemd.service(5),
// "Command lines"): '%' is doubled (specifiers) and '$' is doubled
// (environment substitution) everywhere; a word of only safe characters is
// written bare; a lone ";" is written "\;" (a bare one separates
// commands); anything else is double-quoted with C escapes for '\', '"' and
// control characters.
func execQuote(w string) string {
	w = strings.NewReplacer("%", "%%", "$", "$$").Replace(w)
	if w == ";" {
		return `\;`
	}
	if w != "" && strings.Trim(w, safeExecChars) == "" {
		return w
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range w {
		switch {
		case r == '\\' || r == '"':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// safeExecChars need no quoting in a systemd command line ('%' and '$'
// arrive doubled).
const safeExecChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@+,%$"
