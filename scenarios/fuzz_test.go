package scenarios_test

import (
	"errors"
	"reflect"
	"testing"

	"revoada.dev/revoada/internal/testalloc"
	"revoada.dev/revoada/scenarios"
	"revoada.dev/revoada/sim"
)

// FuzzParse checks that Parse never panics, that every error it returns is an
// *Error matching ErrInvalid, and that every plan it accepts is valid and
// survives Marshal and Parse unchanged.
func FuzzParse(f *testing.F) {
	for _, name := range scenarios.Names() {
		src, err := scenarios.Source(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	for _, s := range []string{
		full,
		"",
		"---\n",
		"name: a\n---\nname: b\n",
		"name: t\nnodes: 5\ncontrol_plane: 3\nduration: 60s\nfaults:\n  - {at: 1s, crash: n1, pause: n2}\n",
		"name: t\nnodes: 5\ncontrol_plane: 3\nduration: 2x\n",
		"name: t\nnodes: 5\ncontrol_plane: 3\nduration: 60s\nfaults: [{at: 1s, partition: [[n1], n2]}]\n",
		"name: t\nnodes: 5\ncontrol_plane: 3\nduration: 60s\nfaults: [&a [*a]]\n",
		"name: t\nnodes: 5\ncontrol_plane: 3\nduration: 60s\nfaults: [{at: 1s, partition: &g [[n1], *g]}]\n",
		"name: t\nnodes: 5\ncontrol_plane: 3\nduration: 60s\ncommands: [{at: 1s, promote: n9, roles: worker}]\n",
		"name: t\nnodes: 5\ncontrol_plane: 3\nduration: 60s\ncommands: [{at: 1s, shift: [{promote: n4}, {demote: n1, roles: etcd}]}]\n",
		"name: t\nnodes: 5\ncontrol_plane: 3\nduration: 60s\ncommands:\n  - at: 1s\n    shift:\n      - {promote: n4, reason: rebalance}\n      - {shift: [{at: 2s, demote: n1}]}\n",
		"name: t\nnodes: \"5\"\nnodes: 5\n",
		"name: t\ndescription: >\n \n 0\nnodes: 7\ncontrol_plane: 1\nduration: 10s",
		"workload: {clients: 4, rate: 50/s}\n",
		"name: t\nnodes: 5\ncontrol_plane: 3\nduration: 60s\nworkload: {clients: 2, rate: 7/m, keys: 3, face: nomad, mix: {watch: 1}, local: 1}\nexpect: {progress: 1}\n",
		"name: t\nnodes: 5\ncontrol_plane: 3\nduration: 60s\nworkload: {clients: 2, rate: .5/s, keys: 3, face: baremetal, mix: {}}\n",
		"name: t\nnodes: 5\ncontrol_plane: 3\nduration: 60s\ntarget: quorum_3m\npolicy: {grace: 2s, phi_threshold: 8.5}\n",
		"name: t\nnodes: 5\ncontrol_plane: 3\nduration: 60s\ntarget: {voters: 4}\n",
		"name: t\nnodes: 5\ncontrol_plane: 3\nduration: 60s\ntarget: &v {voters: 3}\npolicy: *v\n",
		"name: t\nnodes: 5\ncontrol_plane: 3\nduration: 60s\nfaults: [{at: 1s, clock: n3, rate: 1.05, for: 10s}, {at: 2s, crash: n1, rate: 2}]\n",
		"name: t\nnodes: 5\ncontrol_plane: 3\nduration: 60s\nfaults: [{at: 1s, partition: [[leader], {not: [leader]}]}, {at: 2s, crash: {not: follower}}]\ncommands: [{at: 3s, promote: n4, to: n2}]\n",
		"name: t\nnodes: 5\ncontrol_plane: 3\nduration: 60s\nfaults: [{at: 1s, partition: [{not: [n1, n2]}, [n1]], one_way: true}]\ncommands: [{at: 3s, to: n9, shift: [{promote: n4, to: n1}]}]\n",
		everyFault,
		"name: t\nnodes: 5\ncontrol_plane: 3\nduration: 60s\nnetwork: {bandwidth: 1KiB/s, queue: 0B, links: [{from: [n1, n2], one_way: true, latency: {distribution: normal}}]}\n",
		"name: t\nnodes: 5\ncontrol_plane: 3\nduration: 60s\nfaults: [{at: 1s, ring: [n2, n1], traffic: requests}, {at: 2s, swizzle: {not: [n1]}, for: 3s}, {at: 3s, clock: n1, jump: -1h}]\n",
		"name: t\nnodes: 5\ncontrol_plane: 3\nduration: 60s\nfaults: [{at: 1s, link: {from: n1, to: leader, loss: 1}, for: 1s}, {at: 2s, disk: {not: [n1]}, mode: read-errors, rate: 1}]\n",
		"name: [\n",
		"? [a]\n: 1\n",
		"\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	for _, s := range denseFiles() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p *sim.Plan
		var err error
		testalloc.Check(t, testalloc.FuzzMax, func() { p, err = scenarios.Parse("fuzz.yaml", data) })
		if err != nil {
			var e *scenarios.Error
			if !errors.Is(err, scenarios.ErrInvalid) || !errors.As(err, &e) || e.Line < 0 {
				t.Fatalf("Parse error %v (%T) is not a well-formed *Error", err, err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("Parse accepted an invalid plan: %v", err)
		}
		out, err := scenarios.Marshal(p)
		if err != nil {
			t.Fatalf("Marshal of a parsed plan: %v", err)
		}
		back, err := scenarios.Parse("fuzz.yaml", out)
		if err != nil {
			t.Fatalf("Parse of Marshal's output: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(back, p) {
			t.Fatalf("round trip changed the plan:\n got %+v\nwant %+v\n%s", back, p, out)
		}
	})
}
