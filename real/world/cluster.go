package world

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/real/host"
)

// logName is each node's log file (its stderr) in its data directory.
const logName = "node.log"

// cluster is a mesh of 'revoada node' processes on loopback, one data
// directory each, every directed link through its own proxy. It is safe
// for concurrent use.
type cluster struct {
	bin   string
	nodes []*proc
	links [][]*link // links[i][j]: node i's way to node j (nil for i == j)

	mu  sync.Mutex
	cut [][]bool // the partition in force; nil for none
}

// proc is one node: its identity and command line, and its process while
// it runs.
type proc struct {
	name string // n1..nN
	id   roles.NodeID
	dir  string
	args []string

	mu     sync.Mutex
	cmd    *exec.Cmd     // nil while down
	exited chan struct{} // closed when cmd has been reaped
	paused bool
	// unexpected is set when the process ended without being killed:
	// nil for exit status 0, which a node that left may stop with.
	unexpected *exit
}

// exit is how a node's process ended by itself.
type exit struct {
	node int
	name string
	err  error // from its Wait: nil for exit status 0
}

func (e exit) String() string {
	if e.err == nil {
		return e.name + " exited by itself with status 0"
	}
	return fmt.Sprintf("%s exited by itself: %v", e.name, e.err)
}

// nodeSpec is how every node of a cluster runs.
type nodeSpec struct {
	tick   time.Duration
	target string // topology strategy
	heal   bool
	mesh   string
	latMin time.Duration // each link's latency
	latMax time.Duration
	seed   uint64
}

// newCluster makes n data directories under root, reads their node IDs,
// names them n1..nN in ID order (the order in which every node computes
// the bootstrap shape, so that the first control-plane-count names hold
// the control plane, as in the simulator), and wires a proxy per directed
// link. The last outside nodes start outside the mesh (--joining) until a
// Join admits them; every node knows every other's proxy from its start
// (--peer for a member, --joiner for one of these), so that no Join's
// address takes a link around its proxy. It starts nothing.
func newCluster(bin, root string, n, outside int, spec nodeSpec) (*cluster, error) {
	type made struct {
		dir string
		id  roles.NodeID
	}
	var ms []made
	for k := range n {
		dir := filepath.Join(root, "k"+strconv.Itoa(k))
		id, err := host.Identity(dir)
		if err != nil {
			return nil, fmt.Errorf("world: %w", err)
		}
		ms = append(ms, made{dir, id})
	}
	slices.SortFunc(ms, func(a, b made) int { return a.id.Compare(b.id) })
	c := &cluster{bin: bin, links: make([][]*link, n)}
	// Each node's port is held until every proxy has its own, so that no
	// proxy is given a port a node is to listen on.
	var listen []string
	for i, m := range ms {
		name := "n" + strconv.Itoa(i+1)
		dir := filepath.Join(root, name)
		if err := os.Rename(m.dir, dir); err != nil {
			return nil, fmt.Errorf("world: %w", err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("world: %w", err)
		}
		defer ln.Close()
		listen = append(listen, ln.Addr().String())
		c.nodes = append(c.nodes, &proc{name: name, id: m.id, dir: dir})
	}
	for i, p := range c.nodes {
		c.links[i] = make([]*link, n)
		p.args = []string{"node", "--data", p.dir, "--listen", listen[i], "--tick", spec.tick.String(),
			"--target", spec.target, "--heal=" + strconv.FormatBool(spec.heal), "--mesh", spec.mesh,
			// No gossiped address: a peer that learnt one would dial it
			// directly, around its proxy to this node.
			"--advertise", "none"}
		if i >= n-outside {
			p.args = append(p.args, "--joining")
		}
		for j, q := range c.nodes {
			if i == j {
				continue
			}
			l, err := newLink(listen[j], spec.latMin, spec.latMax, spec.seed^uint64(i<<8|j))
			if err != nil {
				c.close()
				return nil, fmt.Errorf("world: proxy %s→%s: %w", p.name, q.name, err)
			}
			c.links[i][j] = l
			flag := "--peer"
			if j >= n-outside {
				flag = "--joiner"
			}
			p.args = append(p.args, flag, q.id.String()+"@"+l.Addr())
		}
	}
	return c, nil
}

// start starts node i from its data directory, appending its stderr to
// its log. A node already running is left alone.
func (c *cluster) start(i int) error {
	p := c.nodes[i]
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return nil
	}
	log, err := os.OpenFile(filepath.Join(p.dir, logName), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("world: %w", err)
	}
	defer log.Close()
	cmd := exec.Command(c.bin, p.args...)
	cmd.Stderr = log
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("world: start %s: %w", p.name, err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited, p.paused = cmd, exited, false
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		if p.cmd == cmd { // not killed by us: it ended on its own
			p.cmd = nil
			p.unexpected = &exit{node: slices.Index(c.nodes, p), name: p.name, err: err}
		}
		p.mu.Unlock()
		close(exited)
	}()
	return nil
}

// kill sends node i SIGKILL and waits until it is reaped; a node down
// already is left alone.
func (c *cluster) kill(i int) {
	p := c.nodes[i]
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd, p.paused = nil, false
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// pause freezes node i (SIGSTOP); resume thaws it (SIGCONT).
func (c *cluster) pause(i int) { c.signal(i, syscall.SIGSTOP, true) }

func (c *cluster) resume(i int) { c.signal(i, syscall.SIGCONT, false) }

func (c *cluster) signal(i int, sig syscall.Signal, paused bool) {
	p := c.nodes[i]
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.paused == paused {
		return
	}
	p.cmd.Process.Signal(sig)
	p.paused = paused
}

// up reports whether node i runs (paused or not), and whether it is
// paused.
func (c *cluster) up(i int) (running, paused bool) {
	p := c.nodes[i]
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil, p.paused
}

// live are the nodes running and not paused.
func (c *cluster) live() []int {
	var out []int
	for i := range c.nodes {
		if r, paused := c.up(i); r && !paused {
			out = append(out, i)
		}
	}
	return out
}

// exits are the last exits of the nodes that ended on their own.
func (c *cluster) exits() []exit {
	var out []exit
	for _, p := range c.nodes {
		p.mu.Lock()
		if p.unexpected != nil {
			out = append(out, *p.unexpected)
		}
		p.mu.Unlock()
	}
	return out
}

// block cuts (or mends) every link from a node of from to a node of to.
func (c *cluster) block(cut [][]bool) {
	c.mu.Lock()
	c.cut = cut
	c.mu.Unlock()
	for i := range c.nodes {
		for j := range c.nodes {
			if l := c.links[i][j]; l != nil {
				if cut[i][j] {
					l.Cut()
				} else {
					l.Mend()
				}
			}
		}
	}
}

// hearsFromAll: no link to node i is cut.
func (c *cluster) hearsFromAll(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for from := range c.cut {
		if c.cut[from][i] {
			return false
		}
	}
	return true
}

// logs are the nodes' log files, by name, for a bundle.
func (c *cluster) logs() map[string][]byte {
	out := map[string][]byte{}
	for _, p := range c.nodes {
		if b, err := os.ReadFile(filepath.Join(p.dir, logName)); err == nil {
			out[p.name+".log"] = b
		}
	}
	return out
}

// close kills every node (thawing paused ones first) and closes every
// proxy.
func (c *cluster) close() {
	for i := range c.nodes {
		c.resume(i)
		c.kill(i)
	}
	for _, row := range c.links {
		for _, l := range row {
			if l != nil {
				l.Close()
			}
		}
	}
}
