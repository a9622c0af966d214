// Package api serves a node's resource store over HTTPS: the five verbs
// (apply, get, list, delete, watch) for every face, the kinds the store
// holds, the mesh's status, and /livez and /readyz; and Client, the other
// end, which the CLI's client verbs use with --server.
//
// # Endpoints
//
//	GET    /livez                            the process serves (no credentials)
//	GET    /readyz                           the node can serve reads: it knows a leader (no credentials)
//	POST   /v1/apply?face=F&format=FMT[&file=NAME][&expect=REV|absent]
//	                                         the body is one input file, decoded by the face
//	                                         document by document, as 'revoada apply' does
//	GET    /v1/resources/{kind}[?namespace=NS][&local=true]        list
//	GET    /v1/resources/{kind}/{name}[?namespace=NS][&local=true] get
//	DELETE /v1/resources/{kind}/{name}[?namespace=NS][&expect=REV]
//	GET    /v1/watch/{kind}?from=REV         a stream of events, one JSON object a line
//	GET    /v1/kinds                         the kinds the store holds
//	GET    /v1/mesh/status                   what the node knows of its mesh
//
// Reads are linearizable unless local=true asks for the replica's own
// state; every read answers the store revision it was served at in the
// Revoada-Revision header, and says how in Revoada-Read (linearizable or
// local); a local one says in Revoada-Behind how many entries the replica
// knew committed but had not applied when it served it (a worker, serving
// the state root it synced: how many entries that root is behind the
// newest its voters gossip). A watch from revision 0 lists what the store holds, then a
// BOOKMARK, then the changes; a watch idle for Limits.BookmarkEvery gets a
// BOOKMARK at the last revision it was sent, so that proxies and clients
// see it alive. A watch from a revision the store has compacted is
// refused with 410 and code "compacted": the client lists again.
//
// Errors are JSON bodies {"code", "message"} (plus "current" for a
// conflict and "revision" for a get that found nothing) with the HTTP
// status of their class: 400 a request that does not parse (a malformed
// document, an unknown face or format, a bad query), 401 no valid
// credentials, 403 an identity whose role does not allow the verb, 404
// not found, 409 a conflict, 410 a compacted revision, 413 a body over
// face.InputBytesMax, 422 a resource the store refuses, 429 too many
// watches or applies at once, 503 the node cannot answer now, 504 an outcome unknown
// (node.ErrTimeout).
//
// # Credentials and roles
//
// The server speaks TLS 1.3 only. A client proves who it is with a bearer
// token (Authorization: Bearer T) or a client certificate signed by the
// client CA (its subject's common name is the user); the access file maps
// tokens to users and users to one role each:
//
//	read-only   get, list, watch, kinds
//	read-write  read-only, and apply and delete
//	admin       read-write, and the mesh's status
//
// Everything else is denied: a request with no credentials, or with
// credentials the server does not know, is 401 and changes nothing; a
// known user without a role, or whose role does not allow the verb, is
// 403. A node's peer certificate (real/tcp) is self-signed, so it is no
// client credential unless the client CA file holds it.
//
// # Limits
//
// Limits names the bounds that keep one client from holding the node: how
// long a request's headers and body may take to arrive (a slow-loris
// client is cut off), how long a client may take to read one write of an
// answer (a watch client that never reads is dropped), the header and
// body sizes, the watches and applies served at once (past them, 429),
// and the connections open at once (past it, none is accepted until one
// closes).
//
// # The Kubernetes front door
//
// The Kubernetes face's kinds are served at kube-apiserver's paths too,
// so that kubectl and client-go drive a node as they drive a cluster
// (kube.go): /version, /api, /apis, /api/v1 and /apis/GROUP/VERSION
// discovery (built-in kinds and those the stored CustomResourceDefinitions
// define), /openapi/v3 documents naming each kind's PATCH and its
// fieldValidation parameter, and under
// /api/v1/[namespaces/NS/]PLURAL[/NAME] and
// /apis/GROUP/VERSION/[namespaces/NS/]PLURAL[/NAME]:
//
//	GET     get; list (labelSelector, fieldSelector on metadata.name and
//	        metadata.namespace; as a meta.k8s.io Table when the Accept
//	        header asks); watch=true from resourceVersion (ADDED,
//	        MODIFIED, DELETED, BOOKMARK; ERROR 410 Expired when compacted),
//	        or with sendInitialEvents, as client-go's informers ask
//	POST    create (409 AlreadyExists)
//	PUT     update (409 Conflict on a stale resourceVersion)
//	PATCH   JSON merge, JSON patch, strategic merge (built-in kinds), and
//	        server-side apply with Kubernetes' field manager
//	DELETE  delete (DeleteOptions.preconditions.resourceVersion)
//
// The store's ModRevision is the resourceVersion; resourceVersion=0 on a
// read is a local read (kube-apiserver serves it from its cache). Errors
// are Status objects (404 NotFound, 409 AlreadyExists or Conflict, 410
// Expired, 422 Invalid naming the field, 401, 403, 413, 415, 429, 503,
// 504). A read needs read-only, anything else read-write. Not served, and
// refused by name: dry runs, subresources, collection deletes,
// cluster-scoped custom kinds (the face stores custom resources
// namespaced), and conversion between a kind's versions.
package api
