package bench

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// serviceAccount returns a client configuration for a non-admin
// ServiceAccount allowed to manage what the benchmark syncs. An admin
// (system:masters) is exempt from API Priority and Fairness, which would
// flatter every tool's numbers.
func serviceAccount(t testing.TB, admin *rest.Config) *rest.Config {
	t.Helper()
	cs, err := kubernetes.NewForConfig(admin)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	const ns, name = "bench-identity", "syncer"
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}))
	must(cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}))
	must(cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "bench-syncer"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"namespaces", "configmaps", "services", "secrets"}, Verbs: []string{"*"}},
			{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"*"}},
			{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch", "update"}},
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"*"}},
			{APIGroups: []string{applySetGroup}, Resources: []string{"applysets"}, Verbs: []string{"*"}},
			// kubectl lists CRDs to find which kinds may parent an ApplySet.
			{APIGroups: []string{"apiextensions.k8s.io"}, Resources: []string{"customresourcedefinitions"}, Verbs: []string{"get", "list"}},
		},
	}, metav1.CreateOptions{}))
	must(cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "bench-syncer"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "bench-syncer"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}},
	}, metav1.CreateOptions{}))
	createApplySetCRD(t, admin)
	hour := int64(3600)
	tok, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &hour},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := rest.AnonymousClientConfig(admin)
	cfg.BearerToken = tok.Status.Token
	return cfg
}

// applySetGroup serves kubectl's ApplySet parents. kubectl allows a namespaced
// parent (Secret, ConfigMap) only with -n, and then refuses objects of other
// namespaces; the benchmark's objects span ten, so the parent is cluster-scoped.
const applySetGroup = "bench.gitsync.io"

func createApplySetCRD(t testing.TB, admin *rest.Config) {
	t.Helper()
	dc, err := dynamic.NewForConfig(admin)
	if err != nil {
		t.Fatal(err)
	}
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata": map[string]any{
			"name":   "applysets." + applySetGroup,
			"labels": map[string]any{"applyset.kubernetes.io/is-parent-type": "true"},
		},
		"spec": map[string]any{
			"group": applySetGroup,
			"scope": "Cluster",
			"names": map[string]any{"plural": "applysets", "singular": "applyset", "kind": "ApplySet"},
			"versions": []any{map[string]any{
				"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
			}},
		},
	}}
	gvr := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	if _, err := dc.Resource(gvr).Create(t.Context(), crd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := dc.Resource(applySets).List(ctx, metav1.ListOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("ApplySet CRD not served: %v", err)
	}
}

var applySets = schema.GroupVersionResource{Group: applySetGroup, Version: "v1", Resource: "applysets"}

// createApplySet creates the parent kubectl records its ApplySet on: kubectl
// creates Secret and ConfigMap parents itself but not custom resources. The
// id label is the one kubectl computes (KEP-3659).
func createApplySet(t testing.TB, admin *rest.Config, name string) {
	t.Helper()
	dc, err := dynamic.NewForConfig(admin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(strings.Join([]string{name, "", "ApplySet", applySetGroup}, ".")))
	parent := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": applySetGroup + "/v1",
		"kind":       "ApplySet",
		"metadata": map[string]any{
			"name":        name,
			"labels":      map[string]any{"applyset.kubernetes.io/id": "applyset-" + base64.RawURLEncoding.EncodeToString(sum[:]) + "-v1"},
			"annotations": map[string]any{"applyset.kubernetes.io/tooling": "kubectl/v1.37.2", "applyset.kubernetes.io/contains-group-kinds": ""},
		},
	}}
	if _, err := dc.Resource(applySets).Create(t.Context(), parent, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
