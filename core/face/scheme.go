package face

import (
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	admissionregistrationv1beta1 "k8s.io/api/admissionregistration/v1beta1"
	appsv1 "k8s.io/api/apps/v1"
	appsv1beta1 "k8s.io/api/apps/v1beta1"
	appsv1beta2 "k8s.io/api/apps/v1beta2"
	authenticationv1 "k8s.io/api/authentication/v1"
	authenticationv1beta1 "k8s.io/api/authentication/v1beta1"
	authorizationv1 "k8s.io/api/authorization/v1"
	authorizationv1beta1 "k8s.io/api/authorization/v1beta1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	batchv1beta1 "k8s.io/api/batch/v1beta1"
	certificatesv1 "k8s.io/api/certificates/v1"
	certificatesv1beta1 "k8s.io/api/certificates/v1beta1"
	coordinationv1 "k8s.io/api/coordination/v1"
	coordinationv1beta1 "k8s.io/api/coordination/v1beta1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	discoveryv1beta1 "k8s.io/api/discovery/v1beta1"
	eventsv1 "k8s.io/api/events/v1"
	eventsv1beta1 "k8s.io/api/events/v1beta1"
	extensionsv1beta1 "k8s.io/api/extensions/v1beta1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	flowcontrolv1beta1 "k8s.io/api/flowcontrol/v1beta1"
	flowcontrolv1beta2 "k8s.io/api/flowcontrol/v1beta2"
	flowcontrolv1beta3 "k8s.io/api/flowcontrol/v1beta3"
	networkingv1 "k8s.io/api/networking/v1"
	networkingv1beta1 "k8s.io/api/networking/v1beta1"
	nodev1 "k8s.io/api/node/v1"
	nodev1beta1 "k8s.io/api/node/v1beta1"
	policyv1 "k8s.io/api/policy/v1"
	policyv1beta1 "k8s.io/api/policy/v1beta1"
	rbacv1 "k8s.io/api/rbac/v1"
	rbacv1beta1 "k8s.io/api/rbac/v1beta1"
	resourcev1 "k8s.io/api/resource/v1"
	resourcev1beta1 "k8s.io/api/resource/v1beta1"
	resourcev1beta2 "k8s.io/api/resource/v1beta2"
	schedulingv1 "k8s.io/api/scheduling/v1"
	schedulingv1beta1 "k8s.io/api/scheduling/v1beta1"
	storagev1 "k8s.io/api/storage/v1"
	storagev1beta1 "k8s.io/api/storage/v1beta1"
	storagemigrationv1 "k8s.io/api/storagemigration/v1"
	storagemigrationv1beta1 "k8s.io/api/storagemigration/v1beta1"
)

// ServedRelease is the Kubernetes release whose served API kinds the
// kubernetes face accepts: k8s.io/api at this release, less what its
// kube-apiserver does not serve by default.
const ServedRelease = "1.37"

const servedMinor = 37

// builtinKinds holds every kind kube-apiserver 1.37 serves by default, by
// group and version ("apps/v1", "v1" for the core group), read from k8s.io/api's
// own scheme. A version is served when it is GA, or a beta introduced before
// 1.24 and not yet removed (from 1.24 on, new beta APIs are off by default:
// KEP-3136); alpha versions are never on by default and are not here. List
// kinds and option kinds (…List, …Options) are not resources.
var builtinScheme, builtinKinds = servedKinds()

func servedKinds() (*runtime.Scheme, map[string]map[string]bool) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		admissionregistrationv1.AddToScheme,
		admissionregistrationv1beta1.AddToScheme,
		appsv1.AddToScheme,
		appsv1beta1.AddToScheme,
		appsv1beta2.AddToScheme,
		authenticationv1.AddToScheme,
		authenticationv1beta1.AddToScheme,
		authorizationv1.AddToScheme,
		authorizationv1beta1.AddToScheme,
		autoscalingv1.AddToScheme,
		autoscalingv2.AddToScheme,
		batchv1.AddToScheme,
		batchv1beta1.AddToScheme,
		certificatesv1.AddToScheme,
		certificatesv1beta1.AddToScheme,
		coordinationv1.AddToScheme,
		coordinationv1beta1.AddToScheme,
		corev1.AddToScheme,
		discoveryv1.AddToScheme,
		discoveryv1beta1.AddToScheme,
		eventsv1.AddToScheme,
		eventsv1beta1.AddToScheme,
		extensionsv1beta1.AddToScheme,
		flowcontrolv1.AddToScheme,
		flowcontrolv1beta1.AddToScheme,
		flowcontrolv1beta2.AddToScheme,
		flowcontrolv1beta3.AddToScheme,
		networkingv1.AddToScheme,
		networkingv1beta1.AddToScheme,
		nodev1.AddToScheme,
		nodev1beta1.AddToScheme,
		policyv1.AddToScheme,
		policyv1beta1.AddToScheme,
		rbacv1.AddToScheme,
		rbacv1beta1.AddToScheme,
		resourcev1.AddToScheme,
		resourcev1beta1.AddToScheme,
		resourcev1beta2.AddToScheme,
		schedulingv1.AddToScheme,
		schedulingv1beta1.AddToScheme,
		storagev1.AddToScheme,
		storagev1beta1.AddToScheme,
		storagemigrationv1.AddToScheme,
		storagemigrationv1beta1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic("face: registering k8s.io/api: " + err.Error()) // a k8s.io/api bug, found by any test
		}
	}
	out := map[string]map[string]bool{}
	for gvk, t := range s.AllKnownTypes() {
		if !strings.HasPrefix(t.PkgPath(), "k8s.io/api/") || strings.HasSuffix(gvk.Kind, "List") || strings.HasSuffix(gvk.Kind, "Options") || notResources[gvk.Kind] {
			continue
		}
		if !served(gvk, s) {
			continue
		}
		gv := gvk.GroupVersion().String()
		if out[gv] == nil {
			out[gv] = map[string]bool{}
		}
		out[gv][gvk.Kind] = true
	}
	// Served by kube-apiserver from outside k8s.io/api.
	out["apiextensions.k8s.io/v1"] = map[string]bool{"CustomResourceDefinition": true}
	out["apiregistration.k8s.io/v1"] = map[string]bool{"APIService": true}
	return s, out
}

// notResources are kinds k8s.io/api registers that are no resource of their
// own: subresource bodies and the apiserver's internal records.
var notResources = map[string]bool{
	"Scale": true, "Eviction": true, "TokenRequest": true, "RangeAllocation": true, "SerializedReference": true,
}

// lifecycle is what prerelease-lifecycle-gen adds to beta types.
type lifecycle interface {
	APILifecycleIntroduced() (major, minor int)
	APILifecycleRemoved() (major, minor int)
}

// served applies the default-enablement rule above to one beta or GA kind.
func served(gvk schema.GroupVersionKind, s *runtime.Scheme) bool {
	if !strings.Contains(gvk.Version, "beta") {
		return true
	}
	obj, err := s.New(gvk)
	if err != nil {
		return false
	}
	l, ok := obj.(lifecycle)
	if !ok {
		return false
	}
	_, introduced := l.APILifecycleIntroduced()
	major, removed := l.APILifecycleRemoved()
	return introduced < 24 && (major > 1 || removed > servedMinor)
}

// BuiltinKind reports whether apiVersion/kind is a kind kube-apiserver
// serves by default, and whether its group and version are known at all.
func BuiltinKind(apiVersion, kind string) (kindOK, versionKnown bool) {
	kinds, ok := builtinKinds[apiVersion]
	return kinds[kind], ok
}

// BuiltinScheme is the scheme of k8s.io/api's types the built-in kinds
// come from (for strategic merge patches and server-side apply's
// schemas). It is shared: callers must not register anything in it.
func BuiltinScheme() *runtime.Scheme { return builtinScheme }

// BuiltinKinds returns every served apiVersion and its kinds.
func BuiltinKinds() map[string][]string {
	out := map[string][]string{}
	for gv, kinds := range builtinKinds {
		for k := range kinds {
			out[gv] = append(out[gv], k)
		}
	}
	return out
}
