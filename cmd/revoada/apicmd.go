package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/attest"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/real/api"
	"revoada.dev/revoada/real/host"
)

// The HTTPS API (real/api): 'revoada node --api HOST:PORT --api-access
// FILE' serves it; the client verbs reach it with --server.

// targetSynopsis is how a client verb names its node.
const targetSynopsis = "[--data DIR | --server URL --ca FILE (--token-file FILE | --cert FILE --key FILE)]"

// apiCertFile is where a node serving the API writes its certificate, in
// its data directory: a client's --ca.
const apiCertFile = "api.crt"

// serverOpts are a client verb's flags for reaching a node's API.
type serverOpts struct {
	server, ca, tokenFile, cert, key *string
	fs                               *flag.FlagSet
	store                            *backendOpts // --backend, --route, --audit; nil for verbs without them
}

// serverFlags defines the flags that send a client verb to a node's API
// instead of the data directory; $REVOADA_SERVER, $REVOADA_CA and
// $REVOADA_TOKEN_FILE are their defaults.
func serverFlags(fs *flag.FlagSet) *serverOpts {
	return &serverOpts{
		fs:        fs,
		server:    fs.String("server", os.Getenv("REVOADA_SERVER"), "send the verb to a node's HTTPS API at `URL` (https://HOST:PORT, or several comma-separated, tried in turn) instead of --data"),
		ca:        fs.String("ca", os.Getenv("REVOADA_CA"), "the `FILE` (PEM) that signs the server's certificate: the node's DIR/"+apiCertFile),
		tokenFile: fs.String("token-file", os.Getenv("REVOADA_TOKEN_FILE"), "a `FILE` holding the bearer token to send"),
		cert:      fs.String("cert", "", "a client certificate `FILE` (PEM), with --key"),
		key:       fs.String("key", "", "the client certificate's key `FILE` (PEM)"),
	}
}

// storeFlags defines a client verb's flags for choosing its store
// (backendFlags): the five verbs have them, the mesh's verbs not.
func storeFlags(fs *flag.FlagSet) *serverOpts {
	o := serverFlags(fs)
	o.store = backendFlags(fs)
	return o
}

// client makes the API client the flags say; nil when --server is not
// given. Errors are usage errors (exit 2) but for unreadable files.
func (o *serverOpts) client() (*api.Client, error) {
	if *o.server == "" {
		for name, v := range map[string]string{"--token-file": *o.tokenFile, "--cert": *o.cert, "--key": *o.key} {
			if v != "" {
				return nil, fmt.Errorf("%w: %s needs --server", errUsageFlag, name)
			}
		}
		return nil, nil
	}
	data := false
	o.fs.Visit(func(f *flag.Flag) { data = data || f.Name == "data" })
	if data {
		return nil, fmt.Errorf("%w: --data and --server name two nodes: give one", errUsageFlag)
	}
	cfg := api.ClientConfig{Server: *o.server}
	if *o.ca == "" {
		return nil, fmt.Errorf("%w: --server needs --ca FILE, the node's %s", errUsageFlag, apiCertFile)
	}
	var err error
	if cfg.CA, err = readBounded(*o.ca); err != nil { // bounded, as --token-file: /dev/zero ends
		return nil, fmt.Errorf("--ca: %w", err)
	}
	if *o.tokenFile != "" {
		tok, err := readBounded(*o.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--token-file: %w", err)
		}
		if cfg.Token = strings.TrimSpace(string(tok)); cfg.Token == "" || strings.ContainsAny(cfg.Token, "\r\n") {
			return nil, fmt.Errorf("%w: --token-file %s: want one token on one line", errUsageFlag, *o.tokenFile)
		}
	}
	switch {
	case (*o.cert == "") != (*o.key == ""):
		return nil, fmt.Errorf("%w: --cert and --key go together", errUsageFlag)
	case *o.cert != "":
		c, err := tls.LoadX509KeyPair(*o.cert, *o.key)
		if err != nil {
			return nil, fmt.Errorf("--cert/--key: %w", err)
		}
		cfg.Certificate = &c
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: --server: %w", errUsageFlag, err)
	}
	return c, nil
}

// errUsageFlag marks a bad combination of client flags (exit 2).
var errUsageFlag = errors.New("usage")

// withTarget runs f against the node the flags name: its API with
// --server, the store --backend names (withBackend), else the data
// directory's node (withNode).
func withTarget(e *env, verb, dir string, srv *serverOpts, f func(ctx context.Context, n nodeClient) int) int {
	if srv.store != nil {
		// Checked even when they choose no other store: a bad --route
		// alone is refused, not ignored.
		if _, _, err := srv.store.parse(dir); err != nil {
			return usageError(e, verb, "%v", strings.TrimPrefix(err.Error(), "usage: "))
		}
	}
	if srv.store != nil && srv.store.chosen() {
		if *srv.server != "" {
			return usageError(e, verb, "--server sends the verb to a node, which serves its own store: --backend, --route and --audit are the node's flags there")
		}
		return withBackend(e, verb, dir, srv.store, f)
	}
	c, err := srv.client()
	switch {
	case errors.Is(err, errUsageFlag):
		return usageError(e, verb, "%v", strings.TrimPrefix(err.Error(), "usage: "))
	case err != nil:
		return clientError(e, verb, err)
	case c == nil:
		return withNode(e, verb, dir, f)
	}
	defer c.Close()
	ctx, stop := e.interruptible()
	defer stop()
	return f(ctx, apiNode{c})
}

// apiNode is a nodeClient over a node's API: the verbs and the status.
// The mesh's operations are not served there.
type apiNode struct{ c *api.Client }

var _ nodeClient = apiNode{}

// errNotOverAPI answers what the API does not serve.
var errNotOverAPI = errors.New("not served over the HTTPS API: run it with --data on the node's host")

func (n apiNode) ApplyFile(ctx context.Context, in applyInput, each func(docResult)) error {
	return n.c.ApplyFile(ctx, in, each)
}

func (n apiNode) Get(ctx context.Context, ref store.Ref) (store.Resource, store.Revision, error) {
	return n.c.Get(ctx, ref, false)
}

func (n apiNode) List(ctx context.Context, kind, namespace string) (backend.List, error) {
	return n.c.List(ctx, kind, namespace, false)
}

func (n apiNode) Delete(ctx context.Context, ref store.Ref, exp store.Expect) (store.Resource, error) {
	return n.c.Delete(ctx, ref, exp)
}

// Watch ends a watch whose server ended it, or went away, with
// errNodeGone, so that the verb resumes it (through the next server).
func (n apiNode) Watch(ctx context.Context, kind string, from store.Revision) (backend.Watch, error) {
	w, err := n.c.Watch(ctx, kind, from)
	if err != nil {
		return nil, err
	}
	return goneWatch{w}, nil
}

type goneWatch struct{ backend.Watch }

func (w goneWatch) Err() error {
	err := w.Watch.Err()
	if errors.Is(err, api.ErrUnavailable) {
		return fmt.Errorf("%w: %w", errNodeGone, err)
	}
	return err
}

func (n apiNode) Kinds(ctx context.Context) ([]string, error) { return n.c.Kinds(ctx) }

func (n apiNode) MeshStatus(ctx context.Context) (meshStatus, error) { return n.c.MeshStatus(ctx) }

func (n apiNode) Chain(ctx context.Context) ([]attest.Block, error) { return n.c.Chain(ctx) }

func (apiNode) Leave(context.Context) error { return fmt.Errorf("mesh leave: %w", errNotOverAPI) }

func (apiNode) Admit(context.Context, roles.NodeID, string) (bool, error) {
	return false, fmt.Errorf("mesh admit: %w", errNotOverAPI)
}

func (apiNode) Shift(context.Context, roles.Shift) error {
	return fmt.Errorf("a role shift: %w", errNotOverAPI)
}

func (apiNode) SetNetFaults(context.Context, float64, float64) error {
	return fmt.Errorf("net faults: %w", errNotOverAPI)
}

func (apiNode) SetClockRate(context.Context, float64) error {
	return fmt.Errorf("clock rate: %w", errNotOverAPI)
}

// apiSpec is how a node serves its API: where, and to whom.
type apiSpec struct {
	listen, access, clientCA string
}

// checkAPISpec checks the node's --api flags.
func checkAPISpec(s apiSpec) error {
	switch {
	case s.listen == "" && (s.access != "" || s.clientCA != ""):
		return errors.New("--api-access and --api-client-ca need --api HOST:PORT")
	case s.listen == "":
		return nil
	case s.access == "":
		return errors.New("--api needs --api-access FILE: the API denies every request without one")
	}
	_, _, err := net.SplitHostPort(s.listen)
	return err
}

// startAPI serves the node's store over HTTPS, writing its certificate to
// DIR/api.crt; nil when spec asks for none.
func startAPI(spec apiSpec, dir string, key ed25519.PrivateKey, n localNode) (*api.Server, error) {
	if spec.listen == "" {
		return nil, nil
	}
	access, err := api.ReadAccess(spec.access)
	if err != nil {
		return nil, fmt.Errorf("--api-access: %w", err)
	}
	if spec.clientCA != "" {
		pemBytes, err := os.ReadFile(spec.clientCA)
		if err != nil {
			return nil, fmt.Errorf("--api-client-ca: %w", err)
		}
		if access.ClientCAs, err = api.CertPool(spec.clientCA, pemBytes); err != nil {
			return nil, fmt.Errorf("--api-client-ca: %w", err)
		}
	}
	host, _, _ := net.SplitHostPort(spec.listen)
	cert, certPEM, err := api.ServerCertificate(key, []string{host})
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, apiCertFile), certPEM); err != nil {
		return nil, err
	}
	return api.Listen(spec.listen, api.Config{Backend: n.b, Access: access, Certificate: cert,
		Status: n.MeshStatus, Chain: n.Chain, Ready: func(ctx context.Context) error { return ready(ctx, n.h) }})
}

// ready says whether h can serve linearizable reads: it is a member of
// its mesh and knows a leader.
func ready(ctx context.Context, h *host.Node) error {
	st, err := h.Status(ctx)
	switch {
	case err != nil:
		return err
	case !st.InShape:
		return errors.New("not a member of the mesh")
	case st.Raft.Lead == 0:
		return errors.New("no leader known")
	}
	return nil
}

// writeFileAtomic writes data to path through a temporary file renamed
// over it, so no reader sees half of it.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
