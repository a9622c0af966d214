package face

import "testing"

func TestBuiltinKindsAreWhatKubeAPIServerServes(t *testing.T) {
	for _, c := range []struct {
		apiVersion, kind string
		ok, known        bool
	}{
		{"v1", "Pod", true, true},
		{"apps/v1", "Deployment", true, true},
		{"batch/v1", "CronJob", true, true},
		{"apiextensions.k8s.io/v1", "CustomResourceDefinition", true, true},
		{"v1", "Deployment", false, true},                            // wrong group
		{"v1", "FooBar", false, true},                                // no such kind
		{"v1", "PodList", false, true},                               // a list, not a resource
		{"autoscaling/v1", "Scale", false, true},                     // a subresource body
		{"banana", "Pod", false, false},                              // no such group or version
		{"apps/v1beta1", "Deployment", false, false},                 // removed in 1.16
		{"batch/v1beta1", "CronJob", false, false},                   // removed in 1.25
		{"rbac.authorization.k8s.io/v1alpha1", "Role", false, false}, // alpha: off by default
	} {
		ok, known := BuiltinKind(c.apiVersion, c.kind)
		if ok != c.ok || known != c.known {
			t.Errorf("BuiltinKind(%q, %q) = %v, %v; want %v, %v", c.apiVersion, c.kind, ok, known, c.ok, c.known)
		}
	}
}
