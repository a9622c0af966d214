package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
)

// kubeEvent is a watch event as kube-apiserver streams it: one JSON
// object a line.
type kubeEvent struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

// kubeWatch streams a kind's changes, Kubernetes style:
// resourceVersion "" or "0" starts with an ADDED for every object held,
// N with the changes after revision N; sendInitialEvents=true (client-go's
// informers) starts with the ADDEDs whatever the resourceVersion, and ends
// them with a BOOKMARK annotated k8s.io/initial-events-end; BOOKMARKs
// when the client allows them; a compacted revision is an ERROR event with a 410 Expired Status
// (the client lists again); a Reset (a snapshot replaced the replica's
// state) ends the stream, and so does timeoutSeconds.
func (s *Server) kubeWatch(w http.ResponseWriter, r *http.Request, t kubeTarget) error {
	q := r.URL.Query()
	sel, err := kubeSelectorOf(r)
	if err != nil {
		return err
	}
	// sendInitialEvents (client-go's informers): the listing first, ended
	// by a BOOKMARK so annotated, whatever resourceVersion the client
	// knows (the listing is the state not older than it).
	initial := q.Get("sendInitialEvents") == "true"
	var from store.Revision
	switch rv := q.Get("resourceVersion"); {
	case rv == "", rv == "0", initial:
	default:
		n, err := strconv.ParseUint(rv, 10, 64)
		if err != nil || n == ^uint64(0) {
			return kubeBadRequest("resourceVersion: %q is not a resourceVersion this server gave", rv)
		}
		from = store.Revision(n + 1)
	}
	var timeout <-chan time.Time
	if v := q.Get("timeoutSeconds"); v != "" {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return kubeBadRequest("timeoutSeconds: %q is not a number of seconds", v)
		}
		if n > 0 {
			tm := time.NewTimer(time.Duration(n) * time.Second)
			defer tm.Stop()
			timeout = tm.C
		}
	}
	bookmarks := q.Get("allowWatchBookmarks") == "true"
	table := kubeTableAsked(r)
	if s.watches.Add(1) > int64(s.lim.WatchesMax) {
		s.watches.Add(-1)
		return fmt.Errorf("%w: %d served at once, the limit", ErrTooMany, s.lim.WatchesMax)
	}
	defer s.watches.Add(-1)
	wt, err := s.cfg.Backend.Watch(r.Context(), t.info.Kind, from)
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	send := func(typ string, obj any) bool {
		raw, ok := obj.([]byte)
		if !ok {
			var err error
			if raw, err = json.Marshal(obj); err != nil {
				panic(fmt.Sprintf("api: encoding a watch event: %v", err))
			}
		}
		line, _ := json.Marshal(kubeEvent{Type: typ, Object: raw})
		rc.SetWriteDeadline(time.Now().Add(s.lim.WriteWaitMax))
		if _, err := w.Write(append(line, '\n')); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	fail := func(err error) {
		st := kubeStatus(&kubeError{t: t, err: err}).Status()
		st.Kind, st.APIVersion = "Status", "v1"
		send("ERROR", st)
	}
	if err != nil {
		fail(err)
		return nil
	}
	defer wt.Close()
	if rc.Flush() != nil {
		return nil
	}
	listing := from == 0 // until the listing's BOOKMARK: no idle BOOKMARK
	last := store.Revision(0)
	if from > 0 {
		last = from - 1
	}
	bookmark := func(rev store.Revision, annotations map[string]string) bool {
		return send("BOOKMARK", map[string]any{"kind": t.info.Kind, "apiVersion": t.gvk.GroupVersion().String(),
			"metadata": metav1.ObjectMeta{ResourceVersion: strconv.FormatUint(uint64(rev), 10), Annotations: annotations}})
	}
	first := true
	idle := time.NewTimer(s.lim.BookmarkEvery)
	defer idle.Stop()
	for {
		select {
		case ev, open := <-wt.Events():
			if !open {
				if err := wt.Err(); err != nil && r.Context().Err() == nil {
					fail(err)
				}
				return nil
			}
			last = max(last, ev.Revision)
			switch ev.Type {
			case store.Reset:
				return nil
			case store.Bookmark:
				if listing && initial {
					listing = false
					if !bookmark(ev.Revision, map[string]string{metav1.InitialEventsAnnotationKey: "true"}) {
						return nil
					}
					continue
				}
				listing = false
				if bookmarks && !bookmark(ev.Revision, nil) {
					return nil
				}
				continue
			}
			res := ev.Resource
			if res.Face != face.Kubernetes || (t.namespace != "" && res.Ref.Namespace != t.namespace) {
				continue
			}
			body, err := kubeObject(res)
			if err != nil || !sel.matches(res, body) {
				continue
			}
			typ := ev.Type.String() // the listing of a watch from 0 is ADDED
			var obj any = body
			if table != "" {
				tab, err := kubeTable(t, ev.Revision, [][]byte{body}, table, q.Get("includeObject"), first)
				if err != nil {
					fail(err)
					return nil
				}
				obj, first = tab, false
			}
			if !send(typ, obj) {
				return nil
			}
			idle.Reset(s.lim.BookmarkEvery)
		case <-idle.C:
			if bookmarks && !listing && !bookmark(last, nil) {
				return nil
			}
			idle.Reset(s.lim.BookmarkEvery)
		case <-timeout:
			return nil
		case <-r.Context().Done():
			return nil
		case <-s.ctx.Done():
			return nil
		}
	}
}
