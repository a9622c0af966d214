package face

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

const podman = "/usr/bin/podman"

// unit renders the systemd unit that runs the Pod with podman. A Pod of one
// container and no init containers runs that container in the foreground:
//
//	ExecStartPre=-/usr/bin/podman rm -f <pod>-<container>
//	ExecStart=/usr/bin/podman run --rm --name <pod>-<container> ... IMAGE [ARGS]
//
// Any other Pod becomes a podman pod: the pod is created (owning the
// published ports and the network), init containers run to completion in
// order, containers after the first start detached, and the first container
// runs in the foreground, so the unit lives as long as the main container;
// ExecStopPost removes the whole pod.
func (p pod) unit() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "[Unit]\nDescription=revoada baremetal Pod %s/%s\n", p.Metadata.Namespace, p.Metadata.Name)
	b.WriteString("Wants=network-online.target\nAfter=network-online.target\n\n[Service]\n")
	if len(p.Spec.Containers) == 1 && len(p.Spec.InitContainers) == 0 {
		p.single(&b)
	} else {
		p.podded(&b)
	}
	fmt.Fprintf(&b, "Restart=%s\n\n[Install]\nWantedBy=multi-user.target\n", restartValue(p.Spec.RestartPolicy))
	return []byte(b.String())
}

func (p pod) single(b *strings.Builder) {
	c := p.Spec.Containers[0]
	name := p.Metadata.Name + "-" + c.Name
	writeExec(b, "ExecStartPre=-", [][]string{{podman, "rm", "-f", name}})
	run := [][]string{{podman, "run"}, {"--rm"}, {"--name", name}}
	if p.Spec.HostNetwork {
		run = append(run, []string{"--network", "host"})
	}
	run = append(run, publishFlags(c.Ports)...)
	writeExec(b, "ExecStart=", append(run, c.runFlags()...))
}

func (p pod) podded(b *strings.Builder) {
	name := p.Metadata.Name
	writeExec(b, "ExecStartPre=-", [][]string{{podman, "pod", "rm", "-f", name}})
	create := [][]string{{podman, "pod", "create"}, {"--name", name}}
	if p.Spec.HostNetwork {
		create = append(create, []string{"--network", "host"})
	}
	for _, c := range append(p.Spec.InitContainers, p.Spec.Containers...) {
		create = append(create, publishFlags(c.Ports)...)
	}
	writeExec(b, "ExecStartPre=", create)
	for _, c := range p.Spec.InitContainers {
		writeExec(b, "ExecStartPre=", p.podRun(c, false))
	}
	for _, c := range p.Spec.Containers[1:] {
		writeExec(b, "ExecStartPre=", p.podRun(c, true))
	}
	writeExec(b, "ExecStart=", p.podRun(p.Spec.Containers[0], false))
	writeExec(b, "ExecStopPost=-", [][]string{{podman, "pod", "rm", "-f", name}})
}

func (p pod) podRun(c container, detach bool) [][]string {
	run := [][]string{{podman, "run"}, {"--rm"}}
	if detach {
		run = append(run, []string{"--detach"})
	}
	run = append(run, []string{"--pod", p.Metadata.Name}, []string{"--name", p.Metadata.Name + "-" + c.Name})
	return append(run, c.runFlags()...)
}

// runFlags are a container's own podman run arguments, ending with the
// image and its arguments. Kubernetes' command replaces the image's
// entrypoint (--entrypoint takes it as a JSON array); args follow the image.
func (c container) runFlags() [][]string {
	var lines [][]string
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

// publishFlags publishes the ports that ask for a host port, as Kubernetes
// does: -p [hostIP:]hostPort:containerPort[/udp|/sctp].
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
		lines = append(lines, []string{"-p", spec})
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
// systemd does; every word is quoted by execQuote.
func writeExec(b *strings.Builder, key string, lines [][]string) {
	b.WriteString(key)
	for i, words := range lines {
		if i > 0 {
			b.WriteString(" \\\n\t")
		}
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
