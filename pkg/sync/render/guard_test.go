package render

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/openapi"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

func TestGuarded(t *testing.T) {
	t.Run("returns what the build returns", func(t *testing.T) {
		want := errors.New("bad kustomization")
		got, err := guarded(t.Context(), func() (int, error) { return 7, want })
		if got != 7 || !errors.Is(err, want) {
			t.Errorf("guarded = %d, %v; want 7, %v", got, err, want)
		}
	})
	t.Run("turns a panic into an error and frees the slot", func(t *testing.T) {
		_, err := guarded(t.Context(), func() (int, error) { panic("concurrent map writes") })
		var p *panicError
		if !errors.As(err, &p) || err.Error() != "panic: concurrent map writes" {
			t.Errorf("err = %v, want the recovered panic", err)
		}
		if _, err := guarded(t.Context(), func() (int, error) { return 0, nil }); err != nil {
			t.Errorf("next build: %v", err)
		}
	})
	t.Run("starts every build with the builtin OpenAPI schema and leaves it that way", func(t *testing.T) {
		_, err := guarded(t.Context(), func() (int, error) {
			return 0, openapi.SetSchema(nil, []byte(`{"definitions": {}}`), true)
		})
		if err != nil {
			t.Fatal(err)
		}
		builtin := openapi.GetSchemaVersion()
		if err := openapi.SetSchema(nil, []byte(`{"definitions": {}}`), true); err != nil { // as code outside the guard might
			t.Fatal(err)
		}
		seen, _ := guarded(t.Context(), func() (string, error) { return openapi.GetSchemaVersion(), nil })
		if seen != builtin || openapi.GetSchemaVersion() != builtin {
			t.Errorf("schema during the build = %q, after = %q; want %q", seen, openapi.GetSchemaVersion(), builtin)
		}
	})
	t.Run("resets all OpenAPI state after a panic, also what the schema version does not show", func(t *testing.T) {
		_, _ = guarded(t.Context(), func() (int, error) {
			openapi.SuppressBuiltInSchemaUse() // state a half-done build could leave behind
			panic("half-done")
		})
		known, _ := guarded(t.Context(), func() (bool, error) {
			return openapi.SchemaForResourceType(kyaml.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}) != nil, nil
		})
		if !known {
			t.Error("the builtin schema no longer knows Deployments")
		}
	})
	t.Run("gives up waiting for the slot when the context ends", func(t *testing.T) {
		kustomizeSlot <- struct{}{}
		defer func() { <-kustomizeSlot }()
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		ran := false
		_, err := guarded(ctx, func() (int, error) { ran = true; return 0, nil })
		if !errors.Is(err, context.DeadlineExceeded) || ran {
			t.Errorf("err = %v, ran = %v; want the deadline and no build", err, ran)
		}
	})
	t.Run("runs builds one at a time", func(t *testing.T) {
		var running atomic.Int32
		var overlapped atomic.Bool
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				_, _ = guarded(t.Context(), func() (int, error) {
					overlapped.CompareAndSwap(false, running.Add(1) > 1)
					time.Sleep(time.Millisecond)
					running.Add(-1)
					return 0, nil
				})
			})
		}
		wg.Wait()
		if overlapped.Load() {
			t.Error("two builds ran at once")
		}
	})
}
