package face

import (
	"errors"
	"fmt"
	"strings"
)

// clusterScoped lists the built-in Kubernetes kinds that have no namespace
// (kubectl api-resources --namespaced=false, Kubernetes 1.34). Scope is
// decided by kind alone: revoada does not know the API groups of custom
// resources, so a custom kind is namespaced.
var clusterScoped = map[string]bool{
	"APIService":                       true,
	"CertificateSigningRequest":        true,
	"ClusterRole":                      true,
	"ClusterRoleBinding":               true,
	"ClusterTrustBundle":               true,
	"ComponentStatus":                  true,
	"CSIDriver":                        true,
	"CSINode":                          true,
	"CustomResourceDefinition":         true,
	"DeviceClass":                      true,
	"FlowSchema":                       true,
	"IngressClass":                     true,
	"IPAddress":                        true,
	"MutatingAdmissionPolicy":          true,
	"MutatingAdmissionPolicyBinding":   true,
	"MutatingWebhookConfiguration":     true,
	"Namespace":                        true,
	"Node":                             true,
	"PersistentVolume":                 true,
	"PriorityClass":                    true,
	"PriorityLevelConfiguration":       true,
	"ResourceSlice":                    true,
	"RuntimeClass":                     true,
	"SelfSubjectAccessReview":          true,
	"SelfSubjectReview":                true,
	"SelfSubjectRulesReview":           true,
	"ServiceCIDR":                      true,
	"StorageClass":                     true,
	"StorageVersion":                   true,
	"StorageVersionMigration":          true,
	"SubjectAccessReview":              true,
	"TokenReview":                      true,
	"ValidatingAdmissionPolicy":        true,
	"ValidatingAdmissionPolicyBinding": true,
	"ValidatingWebhookConfiguration":   true,
	"VolumeAttachment":                 true,
	"VolumeAttributesClass":            true,
}

// ClusterScoped reports whether the Kubernetes kind is a built-in
// cluster-scoped kind (stored without a namespace).
func ClusterScoped(kind string) bool { return clusterScoped[kind] }

// pathSegmentNamed lists kinds whose names Kubernetes validates as path
// segments rather than DNS-1123 subdomains (RBAC: "system:controller:x").
var pathSegmentNamed = map[string]bool{
	"Role": true, "ClusterRole": true, "RoleBinding": true, "ClusterRoleBinding": true,
}

// checkObjectName applies the name rule of kind: DNS-1123 label for
// Namespace, DNS-1035 label for Service, path segment for RBAC kinds, and a
// DNS-1123 subdomain for everything else.
func checkObjectName(kind, name string) error {
	switch {
	case kind == "Namespace":
		return checkDNSLabel(name, 63)
	case kind == "Service":
		if err := checkDNSLabel(name, 63); err != nil {
			return err
		}
		if !isLetter(name[0]) {
			return fmt.Errorf("%q must start with a letter (DNS-1035 label)", name)
		}
		return nil
	case pathSegmentNamed[kind]:
		if name == "." || name == ".." || strings.ContainsAny(name, "/%") {
			return fmt.Errorf("%q may not be '.', '..' or contain '/' or '%%'", name)
		}
		return nil
	}
	return checkDNSSubdomain(name)
}

// checkDNSSubdomain accepts RFC 1123 subdomains: dot-separated labels of
// lowercase letters, digits and '-', at most 253 bytes in all.
func checkDNSSubdomain(s string) error {
	if len(s) > 253 {
		return fmt.Errorf("%d bytes, limit 253 (DNS-1123 subdomain)", len(s))
	}
	for _, label := range strings.Split(s, ".") {
		if err := checkDNSLabel(label, 253); err != nil {
			return fmt.Errorf("%q is not a DNS-1123 subdomain: %w", s, err)
		}
	}
	return nil
}

// checkDNSLabel accepts RFC 1123 labels: lowercase letters, digits and '-',
// starting and ending with a letter or digit, at most max bytes.
func checkDNSLabel(s string, max int) error {
	switch {
	case s == "":
		return errors.New("empty (DNS-1123 label)")
	case len(s) > max:
		return fmt.Errorf("%q is %d bytes, limit %d (DNS-1123 label)", s, len(s), max)
	case s[0] == '-' || s[len(s)-1] == '-':
		return fmt.Errorf("%q must start and end with a lowercase letter or digit (DNS-1123)", s)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(isLower(c) || isDigit(c) || c == '-') {
			return fmt.Errorf("%q has %q; want lowercase letters, digits and '-' (DNS-1123)", s, c)
		}
	}
	return nil
}

func isLower(c byte) bool  { return 'a' <= c && c <= 'z' }
func isLetter(c byte) bool { return isLower(c) || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
