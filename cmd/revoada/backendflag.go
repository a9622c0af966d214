package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/real/disk"
	"revoada.dev/revoada/real/host"
	"revoada.dev/revoada/real/kube"
	"revoada.dev/revoada/real/nomad"
	"revoada.dev/revoada/real/supervised"
	"revoada.dev/revoada/real/systemd"
)

// The store a verb or a node works on: --backend (repeatable), --route and
// --audit. Without them a client verb uses the data directory's mesh node
// (withNode) and a node its own replicated store.
//
//	--backend KIND[=ARG]                  one backend
//	--backend NAME[:PREFIX,...]=KIND[=ARG] a federation member (repeat it)
//	--route first|spread                  how a federation routes
//	--audit FILE                          append an audit trail (JSON Lines)

// backendKind is one kind of store --backend opens.
type backendKind struct {
	about string
	// open opens it: arg is what follows "KIND=" ("" when absent), dir
	// the verb's data directory.
	open func(arg, dir string) (backend.Backend, func() error, error)
}

// backendKinds are the stores --backend opens. A system revoada has no
// backend for is not listed.
var backendKinds = map[string]backendKind{
	"mesh":  {about: "mesh[=DIR]: the single-node mesh in DIR (default --data)", open: openMesh},
	"bolt":  {about: "bolt[=FILE]: a bbolt file, no mesh (default DIR/" + boltFileName + ")", open: openBolt},
	"kube":  {about: "kube[=URL]: a kube-apiserver, with the credentials of $KUBECONFIG (or ~/.kube/config) and URL as its server", open: openKube},
	"nomad": {about: "nomad=URL: a Nomad agent's HTTP API (its token from $NOMAD_TOKEN)", open: openNomad},
	"systemd": {about: "systemd=UNITDIR[@SOCKET]: units in UNITDIR, managed by the systemd manager at SOCKET (default " + systemd.PrivateSocket + ")",
		open: openSystemd(systemd.Open)},
	"supervised": {about: "supervised=UNITDIR[@SOCKET]: the baremetal face's Pods as podman containers under that manager",
		open: openSystemd(supervised.Open)},
}

// boltFileName is --backend bolt's file in the data directory.
const boltFileName = "store.bolt"

// backendKindNames lists the kinds for help texts.
func backendKindNames() string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(backendKinds)) {
		out = append(out, backendKinds[k].about)
	}
	return strings.Join(out, "; ")
}

// backendOpts are the flags choosing the store.
type backendOpts struct {
	specs stringsFlag
	route *string
	audit *string
}

// stringsFlag is a repeatable string flag.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, " ") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

// backendFlags defines --backend, --route and --audit.
func backendFlags(fs *flag.FlagSet) *backendOpts {
	o := &backendOpts{}
	fs.Var(&o.specs, "backend", "the `STORE`: KIND[=ARG], or NAME[:PREFIX,...]=KIND[=ARG] repeated for a federation routing namespaces by prefix; kinds: "+backendKindNames())
	o.route = fs.String("route", "first", "how a federation picks a resource's member: first (the first whose prefixes match its namespace) or spread (among those, the one its name hashes to)")
	o.audit = fs.String("audit", "", "append a JSON Lines audit trail of every verb to `FILE`")
	return o
}

// chosen says whether the flags name a store other than the default (the
// data directory's mesh node, shared through its socket).
func (o *backendOpts) chosen() bool {
	return *o.audit != "" || len(o.specs) > 1 || len(o.specs) == 1 && o.specs[0] != "mesh"
}

// member is one parsed --backend.
type member struct {
	name     string // "" for a lone, unnamed backend
	prefixes []string
	kind     string
	arg      string
}

// parseBackendSpec parses one --backend value.
func parseBackendSpec(s string) (member, error) {
	head, rest, _ := strings.Cut(s, "=")
	if _, ok := backendKinds[head]; ok {
		return member{kind: head, arg: rest}, nil
	}
	name, list, hasList := strings.Cut(head, ":")
	if rest == "" {
		return member{}, fmt.Errorf("%w: --backend %q: not a store kind (%s), nor NAME[:PREFIX,...]=KIND[=ARG]", errUsageFlag, s, strings.Join(slices.Sorted(maps.Keys(backendKinds)), ", "))
	}
	if name == "" {
		return member{}, fmt.Errorf("%w: --backend %q: no member name before the prefixes: give NAME[:PREFIX,...]=KIND[=ARG]", errUsageFlag, s)
	}
	m := member{name: name}
	if hasList {
		m.prefixes = strings.Split(list, ",")
		if slices.Contains(m.prefixes, "") {
			return member{}, fmt.Errorf("%w: --backend %q: an empty namespace prefix (give none to serve every namespace)", errUsageFlag, s)
		}
	}
	kind, arg, _ := strings.Cut(rest, "=")
	if _, ok := backendKinds[kind]; !ok {
		return member{}, fmt.Errorf("%w: --backend %q: %q is no store kind, nor, as NAME=KIND, is %q (kinds: %s)", errUsageFlag, s, head, kind, strings.Join(slices.Sorted(maps.Keys(backendKinds)), ", "))
	}
	m.kind, m.arg = kind, arg
	return m, nil
}

// parse checks the flags, for data directory dir, and returns the route
// and the members. Nothing is opened: a bad federation (members' names and
// prefixes, one store named twice) is refused before any store starts.
func (o *backendOpts) parse(dir string) (backend.Route, []member, error) {
	route, err := backend.ParseRoute(*o.route)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: --route: %w", errUsageFlag, err)
	}
	specs := o.specs
	if len(specs) == 0 {
		specs = stringsFlag{"mesh"}
	}
	var members []member
	for _, s := range specs {
		m, err := parseBackendSpec(s)
		if err != nil {
			return 0, nil, err
		}
		if m.name == "" && len(specs) > 1 {
			return 0, nil, fmt.Errorf("%w: --backend %q: several backends make a federation, and each needs NAME[:PREFIX,...]=", errUsageFlag, s)
		}
		members = append(members, m)
	}
	if members[0].name != "" {
		fed := make([]backend.Member, len(members))
		for i, m := range members {
			fed[i] = backend.Member{Name: m.name, Prefixes: m.prefixes}
		}
		if err := backend.CheckFederation(route, fed...); err != nil {
			return 0, nil, fmt.Errorf("%w: %w", errUsageFlag, err)
		}
	}
	stores := map[string]string{}
	for _, m := range members {
		k := m.store(dir)
		if other, ok := stores[k]; ok {
			return 0, nil, fmt.Errorf("%w: --backend: members %s and %s name the same store (%s)", errUsageFlag, other, m.name, k)
		}
		stores[k] = m.name
	}
	if *o.audit != "" {
		trail := member{kind: "bolt", arg: *o.audit}.store(dir)
		if _, ok := stores[trail]; ok {
			return 0, nil, fmt.Errorf("%w: --audit %s is a store's own file", errUsageFlag, *o.audit)
		}
	}
	return route, members, nil
}

// store names the store m opens on data directory dir, the same for two
// spellings of one file or directory: mesh DIR, bolt FILE, and for systemd
// and supervised the unit directory (whose revision file they share).
func (m member) store(dir string) string {
	kind, arg := m.kind, m.arg
	switch kind {
	case "mesh":
		if arg == "" {
			arg = dir
		}
	case "bolt":
		if arg == "" {
			arg = filepath.Join(dir, boltFileName)
		}
	case "systemd", "supervised":
		kind = "units"
		arg, _, _ = strings.Cut(arg, "@")
	}
	if abs, err := filepath.Abs(arg); err == nil {
		arg = abs
	}
	return kind + " " + arg
}

// checkNode checks the flags of a node: its own store, kind mesh without
// an argument, must be one of the stores it serves.
func (o *backendOpts) checkNode(dir string) error {
	_, members, err := o.parse(dir)
	if err != nil {
		return err
	}
	for _, m := range members {
		if m.kind == "mesh" && m.arg == "" {
			return nil
		}
	}
	return fmt.Errorf("%w: --backend: a node serves its own store: name it, as mesh, among the --backend stores", errUsageFlag)
}

// open opens the store the flags name, on data directory dir. mesh, when
// not nil, stands for kind mesh with no argument: a node's own store. The
// returned close closes every backend opened, in reverse order.
func (o *backendOpts) open(dir string, mesh backend.Backend) (backend.Backend, func() error, error) {
	route, members, err := o.parse(dir)
	if err != nil {
		return nil, nil, err
	}
	var closers []func() error
	closeAll := func() error {
		var errs []error
		for i := len(closers) - 1; i >= 0; i-- {
			errs = append(errs, closers[i]())
		}
		return errors.Join(errs...)
	}
	var fed []backend.Member
	for _, m := range members {
		var b backend.Backend
		if m.kind == "mesh" && m.arg == "" && mesh != nil {
			b = mesh
		} else {
			var c func() error
			if b, c, err = backendKinds[m.kind].open(m.arg, dir); err != nil {
				return nil, nil, errors.Join(fmt.Errorf("--backend %s: %w", m.kind, err), closeAll())
			}
			closers = append(closers, c)
		}
		fed = append(fed, backend.Member{Name: m.name, Prefixes: m.prefixes, Backend: b})
	}
	b := fed[0].Backend
	if members[0].name != "" {
		f, err := backend.NewFederation(route, fed...)
		if err != nil {
			return nil, nil, errors.Join(fmt.Errorf("%w: %w", errUsageFlag, err), closeAll())
		}
		b = f
	}
	if *o.audit != "" {
		f, err := os.OpenFile(*o.audit, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, nil, errors.Join(fmt.Errorf("--audit: %w", err), closeAll())
		}
		closers = append(closers, f.Close)
		b = backend.NewAudit(b, f, time.Now)
	}
	return b, closeAll, nil
}

// openMesh starts the single-node mesh on a data directory in this
// process. Its socket is not served: a node another process runs there
// holds the directory (disk.ErrLocked).
func openMesh(arg, dir string) (backend.Backend, func() error, error) {
	if arg != "" {
		dir = arg
	}
	if _, err := os.Stat(filepath.Join(dir, membersFile)); err == nil {
		return nil, nil, fmt.Errorf("%s holds a node of a mesh: reach it through its API (--server) instead", dir)
	}
	h, err := host.Start(host.Config{Dir: dir})
	if err != nil {
		return nil, nil, err
	}
	return h.Backend(), h.Close, nil
}

// openBolt opens a bbolt store file.
func openBolt(arg, dir string) (backend.Backend, func() error, error) {
	path := arg
	if path == "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, nil, err
		}
		path = filepath.Join(dir, boltFileName)
	}
	b, err := disk.OpenBackend(path)
	if err != nil {
		return nil, nil, err
	}
	return b, b.Close, nil
}

// openKube opens a backend over a kube-apiserver: the kubeconfig's
// current context (clientcmd's loading rules: $KUBECONFIG, else
// ~/.kube/config), its server replaced by URL when one is given.
func openKube(arg, _ string) (backend.Backend, func() error, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	overrides := &clientcmd.ConfigOverrides{}
	if arg != "" {
		u, err := url.Parse(arg)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return nil, nil, fmt.Errorf("%w: kube=%s: want an apiserver URL, https://HOST:PORT", errUsageFlag, arg)
		}
		overrides.ClusterInfo.Server = arg
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return nil, nil, fmt.Errorf("kube: credentials: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), openWait)
	defer cancel()
	b, err := kube.New(ctx, cfg, kube.Options{})
	if err != nil {
		return nil, nil, err
	}
	return b, func() error { return nil }, nil
}

// openWait bounds reaching a system's server when --backend opens it
// (the apiserver's discovery and the store's custom resource; Nomad's
// leader).
const openWait = time.Minute

// openNomad opens a backend over a Nomad agent's HTTP API.
func openNomad(arg, _ string) (backend.Backend, func() error, error) {
	u, err := url.Parse(arg)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, nil, fmt.Errorf("%w: nomad=%s: want the agent's URL, http://HOST:PORT", errUsageFlag, arg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), openWait)
	defer cancel()
	b, err := nomad.New(ctx, arg)
	if err != nil {
		return nil, nil, err
	}
	return b, func() error { return nil }, nil
}

// openSystemd opens a backend over a systemd manager: UNITDIR[@SOCKET].
func openSystemd(open func(context.Context, systemd.Config) (*systemd.Backend, error)) func(arg, dir string) (backend.Backend, func() error, error) {
	return func(arg, _ string) (backend.Backend, func() error, error) {
		unitDir, socket, _ := strings.Cut(arg, "@")
		if unitDir == "" {
			return nil, nil, fmt.Errorf("%w: the unit directory: give UNITDIR[@SOCKET]", errUsageFlag)
		}
		if socket == "" {
			socket = systemd.PrivateSocket
		}
		conn, err := systemd.Dial(socket)
		if err != nil {
			return nil, nil, err
		}
		b, err := open(context.Background(), systemd.Config{UnitDir: unitDir, Conn: conn})
		if err != nil {
			conn.Close()
			return nil, nil, err
		}
		return b, func() error { err := b.Close(); conn.Close(); return err }, nil
	}
}

// withBackend runs f against the store the flags name, opened in this
// process and closed after f.
func withBackend(e *env, verb, dir string, o *backendOpts, f func(ctx context.Context, n nodeClient) int) int {
	b, closeAll, err := o.open(dir, nil)
	switch {
	case errors.Is(err, errUsageFlag):
		return usageError(e, verb, "%v", strings.Replace(err.Error(), "usage: ", "", 1))
	case err != nil:
		return clientError(e, verb, err)
	}
	ctx, stop := e.interruptible()
	defer stop()
	code := f(ctx, localNode{b: b})
	if err := closeAll(); err != nil && code == exitOK {
		return clientError(e, verb, err)
	}
	return code
}
