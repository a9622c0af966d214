package kube

import "revoada.dev/revoada/backend"

// Reopens is how many times w reopened its apiserver watch.
func Reopens(w backend.Watch) int {
	kw := w.(*kwatch)
	kw.mu.Lock()
	defer kw.mu.Unlock()
	return kw.reopens
}
