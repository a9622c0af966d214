package world

import (
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// Proxy limits.
const (
	proxyChunkBytes = 32 << 10 // one read of a connection, delayed as a whole
	proxyChunksMax  = 256      // chunks a delayed direction holds before it stops reading (TCP pushes back)
)

// link is the byte proxy of one directed link, etcd's pkg/proxy in
// miniature: node From dials node To through it, and real/tcp's messages
// flow only from dialer to listener (one connection per ordered pair), so
// what the proxy does to its connections it does to the messages From
// sends To, and to nothing else.
//
// Cut blackholes the link: every connection through it, open or new, is
// held and forwards nothing either way, as a switch that drops everything
// would; Mend closes the held ones (their streams lost bytes, so they
// cannot go on) and lets new ones through. Latency delays each chunk read
// from either side by a draw from [min, max] before it is written on,
// keeping the stream's order. A link is safe for concurrent use.
type link struct {
	ln     net.Listener
	to     string // the listener it forwards to
	latMin time.Duration
	latMax time.Duration

	mu    sync.Mutex
	rng   *rand.Rand
	cut   bool
	conns map[*proxied]bool
	wg    sync.WaitGroup
}

// proxied is one connection through a link.
type proxied struct {
	client, server net.Conn
	held           bool // accepted or caught by a cut: forwards nothing
}

// newLink listens on a fresh loopback port and forwards to to.
func newLink(to string, latMin, latMax time.Duration, seed uint64) (*link, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	l := &link{ln: ln, to: to, latMin: latMin, latMax: latMax, rng: rand.New(rand.NewPCG(seed, 0x11cc)), conns: map[*proxied]bool{}}
	l.wg.Add(1)
	go l.accept()
	return l, nil
}

// Addr is where the link's From node dials.
func (l *link) Addr() string { return l.ln.Addr().String() }

func (l *link) accept() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return // closed
		}
		l.mu.Lock()
		p := &proxied{client: c, held: l.cut}
		l.conns[p] = true
		l.mu.Unlock()
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.serve(p)
		}()
	}
}

// serve runs one connection: held, it reads and discards what the client
// sends until closed; else it dials the listener and copies both ways.
func (l *link) serve(p *proxied) {
	defer l.drop(p)
	if p.held {
		io.Copy(io.Discard, p.client)
		return
	}
	s, err := net.DialTimeout("tcp", l.to, time.Second)
	if err != nil {
		return // the node is down: the dialer sees its connection close
	}
	l.mu.Lock()
	p.server = s
	held := p.held
	l.mu.Unlock()
	if held { // cut while it dialled
		io.Copy(io.Discard, p.client)
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { l.pipe(p, p.client, s) })
	l.pipe(p, s, p.client)
	wg.Wait()
}

// pipe copies src to dst, each chunk after its delay; it ends (closing
// both) when either side ends or the connection is held.
func (l *link) pipe(p *proxied, src, dst net.Conn) {
	defer src.Close()
	defer dst.Close()
	type chunk struct {
		due  time.Time
		data []byte
	}
	chunks := make(chan chunk, proxyChunksMax)
	go func() {
		defer close(chunks)
		for {
			buf := make([]byte, proxyChunkBytes)
			n, err := src.Read(buf)
			if n > 0 {
				chunks <- chunk{due: time.Now().Add(l.delay()), data: buf[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range chunks {
		if d := time.Until(c.due); d > 0 {
			time.Sleep(d)
		}
		if l.isHeld(p) {
			for range chunks { // drain until the reader ends (the close above)
			}
			return
		}
		if _, err := dst.Write(c.data); err != nil {
			src.Close()
			for range chunks {
			}
			return
		}
	}
}

func (l *link) delay() time.Duration {
	if l.latMax <= l.latMin {
		return l.latMin
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.latMin + time.Duration(l.rng.Int64N(int64(l.latMax-l.latMin)+1))
}

func (l *link) isHeld(p *proxied) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return p.held
}

func (l *link) drop(p *proxied) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p.client.Close()
	if p.server != nil {
		p.server.Close()
	}
	delete(l.conns, p)
}

// Cut blackholes the link: open connections stop forwarding, new ones
// are held.
func (l *link) Cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = true
	for p := range l.conns {
		p.held = true
	}
}

// Mend ends a cut: the held connections are closed, new ones forward.
func (l *link) Mend() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.cut {
		return
	}
	l.cut = false
	for p := range l.conns {
		if p.held {
			p.client.Close()
			if p.server != nil {
				p.server.Close()
			}
		}
	}
}

// Close stops the link and every connection through it, and waits for
// its goroutines.
func (l *link) Close() {
	l.ln.Close()
	l.mu.Lock()
	for p := range l.conns {
		p.client.Close()
		if p.server != nil {
			p.server.Close()
		}
	}
	l.mu.Unlock()
	l.wg.Wait()
}
