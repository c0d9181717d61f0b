package render

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestErrorMessage(t *testing.T) {
	cases := []struct {
		name string
		err  *Error
		want string
	}{
		{
			name: "names the file, the line, the problem and the fix",
			err:  &Error{Problem: InvalidYAML, File: "apps/web/app.yaml", Line: 12, Detail: "mapping values are not allowed in this context", Fix: "correct the YAML syntax"},
			want: "apps/web/app.yaml:12: invalid YAML: mapping values are not allowed in this context; fix: correct the YAML syntax",
		},
		{
			name: "names the object when known",
			err:  &Error{Problem: InvalidObject, File: "apps/web/deploy.yaml", Object: "apps/v1 Deployment web/nginx", Detail: "missing kind", Fix: "set kind"},
			want: "apps/web/deploy.yaml: apps/v1 Deployment web/nginx: invalid object: missing kind; fix: set kind",
		},
		{
			name: "folds a multi-line detail onto one line",
			err:  &Error{Problem: BuildFailed, File: "k.yaml", Detail: "Failed to read kustomization file:\n  kind should be Kustomization\n"},
			want: "k.yaml: kustomize build failed: Failed to read kustomization file: kind should be Kustomization",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q\nwant      %q", got, tc.want)
			}
		})
	}
}

func TestErrorsAreTerminalThroughWrapping(t *testing.T) {
	cause := errors.New("cause")
	e := &Error{Problem: MissingFile, File: "k.yaml", Err: cause}
	cases := []struct {
		name string
		err  error
	}{
		{"is terminal as it is", e},
		{"is terminal when wrapped", fmt.Errorf("sync web: %w", e)},
		{"is terminal when joined with others", errors.Join(e, &Error{Problem: InvalidYAML, File: "b.yaml"})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var terminal interface{ Terminal() bool }
			if !errors.As(tc.err, &terminal) || !terminal.Terminal() {
				t.Errorf("%v: not terminal", tc.err)
			}
			if !errors.Is(tc.err, cause) {
				t.Errorf("%v: does not unwrap to its cause", tc.err)
			}
		})
	}
}

func TestCancelledRenderIsNotTerminal(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, path := range []string{"overlays/dev", "plain"} {
		t.Run("returns the context's error for "+path, func(t *testing.T) {
			_, err := New().Render(ctx, repo, path)
			var terminal interface{ Terminal() bool }
			if !errors.Is(err, context.Canceled) || errors.As(err, &terminal) {
				t.Errorf("err = %v: want context.Canceled, not terminal", err)
			}
		})
	}
}
