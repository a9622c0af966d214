module revoada.dev/revoada

go 1.26.8

require (
	github.com/anishathalye/porcupine v1.3.1 // indirect
	github.com/klauspost/cpuid/v2 v2.0.9 // indirect
	go.etcd.io/raft/v3 v3.7.0 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
	lukechampine.com/blake3 v1.4.1 // indirect
	pgregory.net/rapid v1.3.0 // indirect
)
