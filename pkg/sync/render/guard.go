package render

import (
	"context"
	"fmt"

	"sigs.k8s.io/kustomize/kyaml/openapi"
)

// This file quarantines kustomize's process-global state. Every call into krusty goes through
// guarded, because:
//
//   - kustomize/kyaml are not safe for concurrent builds: shared maps in kyaml/openapi fail with
//     "concurrent map read and map write" (https://github.com/kubernetes-sigs/kustomize/issues/3659,
//     https://github.com/kubernetes-sigs/kustomize/issues/4824; Flux serializes builds for the
//     same reason, https://github.com/fluxcd/kustomize-controller/issues/310). That is a fatal
//     runtime error, which recover cannot catch: only serializing the builds prevents it;
//   - kyaml/openapi keeps one global schema. A kustomization's `openapi:` field replaces it, and a
//     later build without that field keeps using it, so strategic-merge patches silently replace
//     lists instead of merging them (https://github.com/fluxcd/pkg/issues/1237,
//     https://github.com/kubernetes-sigs/kustomize/issues/4613, and the mechanism spelled out in
//     https://github.com/akuity/kargo/issues/7028). So the schema is reset before and after
//     every build that finds it changed. The builtin schema itself is kept: parsing it again
//     costs about 60 ms in every build that patches;
//   - kustomize panics on some inputs (an invalid custom OpenAPI schema panics in
//     kyaml/openapi.initSchema), and a panic must fail one render, not the process.
//
// Parsing YAML with kyaml (kio, yaml) touches none of this state and runs outside the guard.

// kustomizeSlot serializes kustomize builds process-wide. It is the package's only mutable
// global, and global because the state it protects is. A channel rather than a mutex, so that
// waiting for it honours ctx.
var kustomizeSlot = make(chan struct{}, 1)

// panicError is a panic recovered from kustomize.
type panicError struct{ value any }

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// guarded runs build alone, on kyaml's builtin OpenAPI schema, and turns a panic into a
// *panicError. Waiting for the slot honours ctx; once started, a build runs to completion.
func guarded[T any](ctx context.Context, build func() (T, error)) (result T, err error) {
	select {
	case kustomizeSlot <- struct{}{}:
	case <-ctx.Done():
		return result, ctx.Err()
	}
	defer func() { <-kustomizeSlot }()
	resetChangedSchema()
	defer resetChangedSchema()
	defer func() {
		if v := recover(); v != nil {
			openapi.ResetOpenAPI() // a panic may have left it half-parsed
			err = &panicError{value: v}
		}
	}()
	return build()
}

// resetChangedSchema resets kyaml's OpenAPI state unless it is the builtin schema. Only
// openapi.SetSchema changes it during a build, and every change it makes (a custom schema, a
// version) shows in GetSchemaVersion.
func resetChangedSchema() {
	if openapi.GetSchemaVersion() != openapi.DefaultOpenAPI {
		openapi.ResetOpenAPI()
	}
}
