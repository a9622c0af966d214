// Package face holds revoada's five front doors to the resource store. A
// Face turns input files into store resources (Decode) and renders stored
// resources back (Encode); Detect picks the face and format for a file.
//
// The package is pure: it works on bytes (reading files is the caller's
// job), keeps no state and is safe to call from any goroutine. Every
// function is deterministic: the same input gives the same resources, byte
// for byte, on every replica. Inputs larger than InputBytesMax are refused
// before parsing; no input makes a face panic (each parser is fuzzed).
//
// Errors wrap exactly one of store.ErrInvalid (bad input: a
// *store.InvalidError naming the field, e.g. "metadata.name", "line 12" or
// `job["web"].group["app"].count`) or store.ErrUnsupported (well-formed
// input the face does not serve: an *UnsupportedError naming the field,
// e.g. "kind", "format", "job"). Test them with errors.Is and errors.As.
//
// # kubernetes
//
// Accepts YAML (a stream: documents split at "---" lines as kubectl splits
// them, empty documents skipped) and JSON (one value). A List (kind "List",
// or any kind ending in "List" with items) yields one resource per item.
// YAML is transcoded with sigs.k8s.io/yaml in strict mode, the library
// Kubernetes uses (YAML 1.1 scalars: unquoted yes/no are booleans);
// duplicate keys are errors in YAML and JSON alike.
//
// Each manifest needs apiVersion, kind (ASCII letters and digits) and
// metadata.name. The ref is {Kind: kind, Namespace, Name: metadata.name}.
// Names are DNS-1123 subdomains (at most 253), except Namespace names
// (DNS-1123 labels), Service names (DNS-1035 labels) and the RBAC kinds
// Role, ClusterRole, RoleBinding and ClusterRoleBinding (path segments, as
// Kubernetes allows "system:controller:x"). The namespace is
// metadata.namespace, a DNS-1123 label defaulting to "default"; for the
// built-in cluster-scoped kinds it is empty and any metadata.namespace is
// dropped, as the API server does. The cluster-scoped kinds:
//
//	APIService CertificateSigningRequest ClusterRole ClusterRoleBinding
//	ClusterTrustBundle ComponentStatus CSIDriver CSINode
//	CustomResourceDefinition DeviceClass FlowSchema IngressClass IPAddress
//	MutatingAdmissionPolicy MutatingAdmissionPolicyBinding
//	MutatingWebhookConfiguration Namespace Node PersistentVolume
//	PriorityClass PriorityLevelConfiguration ResourceSlice RuntimeClass
//	SelfSubjectAccessReview SelfSubjectReview SelfSubjectRulesReview
//	ServiceCIDR StorageClass StorageVersion StorageVersionMigration
//	SubjectAccessReview TokenReview ValidatingAdmissionPolicy
//	ValidatingAdmissionPolicyBinding ValidatingWebhookConfiguration
//	VolumeAttachment VolumeAttributesClass
//
// Scope is decided by kind alone (custom kinds are namespaced), and the ref
// does not carry the API group.
//
// Beyond identity, a manifest is checked as kube-apiserver 1.37 would
// check it, as far as that can be done without its admission chain and
// full validation (see kubevalidate.go): its apiVersion and kind must be
// served by default (a custom resource's group is a DNS name with a dot, and
// its kind may not be a kind any face owns, in any spelling); a built-in
// kind is decoded strictly into its k8s.io/api type (unknown and duplicate
// fields, wrongly typed values and nulls in lists refused, naming the
// field); the common kinds' required fields must be there (a Pod's
// containers with names and images, a workload's selector and template, a
// CronJob's schedule, a Service's ports). Deeper checks — a selector that
// matches its template, port ranges, label syntax, cross-field rules — are
// the API server's and are not made here. JSON and YAML nested deeper than
// NestingMax are refused before parsing.
//
// Stored once, as canonical JSON (sorted keys, no HTML escaping), with
// metadata.namespace set to the effective namespace and
// metadata.resourceVersion and metadata.uid removed. Numbers are read as the
// API server reads them, int64 when they are one and float64 otherwise
// (integral floats within int64 are written as integers, those beyond it
// with an exponent; numbers beyond float64, and integers beyond int64 that
// would lose digits as a float, are refused), so the same manifest stores
// the same bytes from YAML or JSON.
// Encode renders JSON or YAML with metadata.resourceVersion set to the
// decimal ModRevision (when non-zero); YAML is written with go-yaml v2, the
// library under sigs.k8s.io/yaml, so every value reads back as itself.
//
// # nomad
//
// Accepts HCL2 job files and JSON. An HCL file holds exactly one job block
// (one label, the job ID) and any variable/variables blocks; a file without
// a job (a node_pool, only variables) is ErrUnsupported "not a job", any
// other top-level content ErrInvalid. Parsing uses hcl/v2's hclsyntax;
// evaluation follows Nomad v1.6's jobspec2:
//
//   - var.NAME is the variable's default, evaluated without variables or
//     functions and converted to its type; validation blocks are checked.
//     revoada takes no -var input, so a variable without a default, or a
//     reference to an undeclared one, is an error: "needs input variables".
//   - Every other reference (attr.kernel.name, node.unique.id, meta.x,
//     NOMAD_TASK_DIR, ...) is kept as its own text, "${attr.kernel.name}",
//     for the Nomad client to interpolate at run time, as Nomad's HCL fork
//     does with its UnknownVariable hook.
//   - Functions: the deterministic, file-system-free part of Nomad's table
//     (go-cty's stdlib under Nomad's names, plus uuidv5). File functions,
//     uuidv4/bcrypt/timestamp, the expanding range/formatlist/setproduct/
//     indent/pow and the functions revoada lacks (base64*, sha*, cidr*,
//     yaml*, ...) fail with the reason.
//   - Refused, because evaluation must stay bounded without a clock (each
//     limit is there because a small file could otherwise take minutes or
//     gigabytes): for expressions and %{for} directives, locals blocks,
//     dynamic blocks, nesting deeper than NestingMax (the parser is
//     recursive), more than OperatorsMax operators, lists and objects of more
//     than CollectionMax elements (go-cty unifies element types pairwise),
//     numbers beyond float64's range (go-cty formats a number in time
//     proportional to its exponent), references that together bring in more
//     than 4 MiB, and any function call or job that would produce more than
//     InputBytesMax. Before lexing, a linear scan refuses more than
//     HCLTokensMax tokens, template text costing more than
//     LiteralJoinBytesMax to join, and runs of more than DigitRunMax digits
//     (go-cty reads numbers in quadratic time); during evaluation each file
//     has one budget of EvalCallsMax function calls and operators and
//     EvalBytesMax bytes produced by functions and template parts, reserved
//     from a bound on each result before it is made, and an overrun stays
//     an error even inside try and can.
//
// The job is stored in the form Nomad's HTTP API takes and returns,
// {"Job": {"ID": ..., "Name": ..., "TaskGroups": [...]}}: what api.Job
// marshals to and PUT /v1/jobs accepts, so a job applied to revoada is a
// job Nomad accepts. The evaluated file is converted as jobspec2 decodes it
// into api.Job (nomadapi.go; the table of api fields, nomadschema.go, is
// generated from github.com/hashicorp/nomad/api by real/nomad's
// TestFaceSchema): block and attribute names become the API's field names,
// values the fields' types (cpu = "500" is 500, "30s" is 30000000000
// nanoseconds), a task directly under the job gets a group of its own
// name, constraint and affinity shorthands set the operator, static ports
// are reserved ports, and templates, vault blocks and change scripts get
// jobspec2's defaults; an argument or block Nomad v1.6 does not know is
// ErrInvalid. Only the fields the file sets appear: Nomad fills in the
// rest. JSON input is either HCL's JSON syntax {"job": {"<ID>": {...}}},
// converted the same way (labelled blocks in key order), or the API form
// (ID, or Name when ID is absent), stored as given, canonically (numbers
// as for kubernetes). The ref is {Kind: NomadJobKind ("NomadJob"),
// Namespace: the job's namespace or "default", Name: the job ID};
// namespaces follow Nomad's rule (1 to 128 letters, digits, '-'). Encode
// renders JSON only: HCL output is ErrUnsupported, since the stored form
// holds values, not the expressions that made them.
//
// # systemd
//
// Accepts unit files. The file name is the unit name, checked by systemd's
// rules (at most 255 bytes of letters, digits and ":_.\-", one optional '@'
// for templates and instances, a unit type suffix); the kind is the suffix
// without its dot (service, socket, device, mount, automount, swap, target,
// path, timer, slice, scope) and the ref has no namespace: "getty@.service"
// is {Kind: "service", Name: "getty@.service"}. The content is parsed with
// go-systemd's unit parser, plus checks it skips, each naming the line:
// text before the first [Section], malformed section headers, lines that
// are not Key=Value, lines of 2048 bytes or more (go-systemd's limit), and
// at least one section. Stored verbatim; Encode renders the same bytes.
//
// # pureraft
//
// The raw door: one or more concatenated native envelopes
// (store.AppendResource); revisions are zeroed. The door runs every face:
// each envelope must hold a resource its own face would have made (Validate:
// decoding the payload with that face, in its stored format, gives back the
// same ref and payload bytes), so an envelope cannot carry what a face would
// refuse — a unit-breaking name, a payload that is not the face's format, a
// kind of another face. Resources owned by pureraft itself are opaque blobs
// in the native format, of a kind no other face owns. Encode writes the
// envelope, revisions included.
//
// # baremetal
//
// Accepts Kubernetes Pods (v1, YAML or JSON, checked as the kubernetes face
// checks them); any other kind is ErrUnsupported naming "kind". Stored like
// the kubernetes face stores it, with Face "baremetal" and Kind "Pod".
// Encode renders YAML or JSON (the Pod back) or Unit, the systemd unit that
// runs it with podman:
//
//	[Unit]
//	Description=revoada baremetal Pod <namespace>/<name>
//	Wants=network-online.target
//	After=network-online.target
//	RequiresMountsFor=%t/containers
//
//	[Service]
//	Environment=PODMAN_SYSTEMD_UNIT=%n
//	Restart=always|on-failure|no      (restartPolicy Always, OnFailure, Never)
//	TimeoutStopSec=T+60               (T: terminationGracePeriodSeconds, else 10)
//	ExecStartPre=/bin/rm \
//		-f %t/%n.ctr-id
//	ExecStart=/usr/bin/podman run \
//		--cidfile=%t/%n.ctr-id \
//		--cgroups=no-conmon \
//		--rm \
//		--sdnotify=conmon \
//		-d \
//		--replace \
//		--name=<namespace>_<pod>_<container> \
//		--network=host --hostname=H --sysctl=K=V    (hostNetwork, hostname, sysctls)
//		--publish=[hostIP:]hostPort:containerPort[/udp] \
//		--label=K=V --annotation=K=V                 (metadata)
//		--pull=always|missing|never                  (imagePullPolicy)
//		--stop-timeout=T                             (terminationGracePeriodSeconds)
//		--user=UID[:GID] --group-add=G               (runAsUser, runAsGroup, supplementalGroups)
//		--privileged --security-opt=no-new-privileges --read-only
//		--cap-drop=C --cap-add=C                     (capabilities)
//		--security-opt=seccomp=unconfined|/var/lib/kubelet/seccomp/P
//		--cpus=N --memory=B --cpu-shares=S --memory-reservation=B   (resources)
//		--health-cmd=["CMD",...] --health-interval=... --health-on-failure=kill   (exec livenessProbe)
//		--interactive --tty                          (stdin, tty)
//		--workdir=DIR \
//		--env=K=V \
//		--entrypoint=["cmd","arg"] \
//		IMAGE ARGS...
//	ExecStop=/usr/bin/podman stop \
//		--ignore -t T \
//		--cidfile=%t/%n.ctr-id
//	ExecStopPost=/usr/bin/podman rm \
//		-f \
//		--ignore -t T \
//		--cidfile=%t/%n.ctr-id
//	Type=notify
//	NotifyAccess=all
//
//	[Install]
//	WantedBy=multi-user.target
//
// That is what `podman generate systemd --new` (podman 4.3) writes for a
// container: conmon tells systemd the container runs (READY, with
// NotifyAccess=all) and stays the service's main process; the container's
// id in %t/%n.ctr-id is how ExecStop and ExecStopPost find it. The
// differences: Restart follows the Pod's restartPolicy (podman's default
// is on-failure), WantedBy is multi-user.target (podman's default.target
// suits user managers), and options are written --option=value.
//
// That is the shape for one container and no init containers. Any other Pod
// runs as a podman pod named <namespace>_<pod>, its id in %t/%n.pod-id:
// ExecStartPre creates the pod (podman pod create --pod-id-file
// --exit-policy=stop --replace; it owns the published ports, host
// networking, the hostname and sysctls), runs each init container to
// completion in order, and starts the containers after the first detached;
// ExecStart runs the first container in the pod as above, so the service
// lives as long as the main container; ExecStopPost also removes the pod.
// (podman generate systemd would write a unit for the pod and one per
// container; a Pod here is one resource, so one unit.) '_' is in no Kubernetes
// name, so two Pods' names never collide. Ports are published only where
// hostPort is set. Each option sits on its own continuation line, as podman
// generate systemd writes them. Words are quoted for systemd's command-line
// syntax: '%' and '$' doubled, words with anything but [A-Za-z0-9-_./:=@+,]
// double-quoted with C escapes, a lone ";" written "\;"; the Description is
// written with every control character escaped, so no value can start a
// line of the unit.
//
// The Pod is decoded strictly: a field the unit does not render is refused
// with ErrUnsupported naming it (volumes, envFrom, env valueFrom, readiness
// and startup probes, probes other than exec, node selection, resources
// other than cpu and memory, ...), never dropped. runAsNonRoot needs a
// non-zero runAsUser, since podman cannot check the image's user before it
// runs. Kubernetes' $(VAR) expansion is not performed.
package face
