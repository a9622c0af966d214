// Package nomad is revoada's store backend over a Nomad agent's HTTP API.
// For now it holds TestFaceSchema, which generates the Nomad face's table
// of api.Job's fields from github.com/hashicorp/nomad/api.
package nomad
