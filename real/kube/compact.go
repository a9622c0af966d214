package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/store"
)

var _ backend.Compactor = (*Backend)(nil)

// etcdAnswerMax bounds the bytes of etcd's answer Compact reads.
const etcdAnswerMax = 4096

// Compact compacts etcd's history below rev, through etcd's v3 JSON
// gateway (POST /v3/kv/compaction, physical) at Options.Etcd: the
// apiserver has no compaction call of its own (it compacts etcd itself,
// every --etcd-compaction-interval). It forgets the history of every
// object of the cluster, not only the store's. A rev etcd already
// compacted does nothing, as store.Store.Compact; a rev beyond etcd's
// revision is store.ErrInvalid. Without Options.Etcd it answers
// store.ErrUnsupported.
//
// Watches from a revision below rev then fail with store.ErrCompacted
// when the apiserver reads etcd (--watch-cache=false); its watch cache,
// when on, may keep serving the recent history it holds in memory.
func (b *Backend) Compact(ctx context.Context, rev store.Revision) error {
	if b.etcd == "" {
		return fmt.Errorf("kube: compact: %w: no etcd URL (Options.Etcd); the apiserver compacts etcd itself", store.ErrUnsupported)
	}
	body, _ := json.Marshal(map[string]any{"revision": fmt.Sprint(uint64(rev)), "physical": true})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(b.etcd, "/")+"/v3/kv/compaction", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("kube: compact: etcd %s: %w", b.etcd, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("kube: compact: %w: etcd %s: %w", ErrUnreachable, b.etcd, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, etcdAnswerMax))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	var e struct {
		Message string `json:"message"`
	}
	json.Unmarshal(answer, &e)
	switch {
	case strings.Contains(e.Message, "required revision has been compacted"):
		return nil // compacted at or beyond rev already
	case strings.Contains(e.Message, "future revision"):
		return fmt.Errorf("kube: compact at %d: %w: etcd %s: %s", rev, store.ErrInvalid, b.etcd, e.Message)
	}
	return fmt.Errorf("kube: compact at %d: etcd %s: %s: %s", rev, b.etcd, resp.Status, answer)
}
