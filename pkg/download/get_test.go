package download_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gitsync-io/gitsync/pkg/download"
)

func TestGet(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/file", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("0123456789")) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	mux.HandleFunc("/stalls", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		_, _ = w.Write([]byte("a first part"))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	mux.HandleFunc("/cut", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "100")
		_, _ = w.Write([]byte("only a part"))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // nothing listens at its address any more
	withPassword := "http://user:s3cr3t@" + strings.TrimPrefix(closed.URL, "http://")

	for _, tc := range []struct {
		name    string
		url     string
		opts    download.Options
		want    string // the body, or the error
		wantErr any    // a pointer to the error type errors.As finds
	}{
		{name: "returns the body of a 200 answer", url: srv.URL + "/file", want: "0123456789"},
		{name: "returns a body of exactly the limit", url: srv.URL + "/file", opts: download.Options{MaxBytes: 10}, want: "0123456789"},
		{name: "refuses a body over the limit, in bytes", url: srv.URL + "/file", opts: download.Options{MaxBytes: 9},
			want: "larger than 9 bytes", wantErr: new(*download.TooLargeError)},
		{name: "says another answer's status", url: srv.URL + "/missing",
			want: "HTTP 404 Not Found", wantErr: new(*download.StatusError)},
		{name: "gives up on a server that does not answer in time", url: srv.URL + "/slow", opts: download.Options{Timeout: 100 * time.Millisecond},
			want: "no answer within 100ms", wantErr: new(*download.TimeoutError)},
		{name: "gives up on a body that does not end in time", url: srv.URL + "/stalls", opts: download.Options{Timeout: 100 * time.Millisecond},
			want: "no answer within 100ms", wantErr: new(*download.TimeoutError)},
		{name: "fails on a body cut short", url: srv.URL + "/cut", want: "unexpected EOF"},
		{name: "names the network's error without the URL or its password", url: withPassword + "/file", want: "connection refused"},
		{name: "names a malformed URL without its password", url: "http://user:s3cr3t@host:port/", want: `invalid port ":port" after host`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := download.Get(t.Context(), tc.url, tc.opts)
			got := string(data)
			if err != nil {
				got = err.Error()
				if strings.Contains(got, "s3cr3t") || strings.Contains(got, tc.url) {
					t.Errorf("error %q repeats the URL", got)
				}
			}
			if got != tc.want && (err == nil || !strings.Contains(got, tc.want)) {
				t.Errorf("Get = %q, want %q", got, tc.want)
			}
			if tc.wantErr != nil && !errors.As(err, tc.wantErr) {
				t.Errorf("error %v (%T) is not a %T", err, err, tc.wantErr)
			}
		})
	}
}

func TestGetTimeouts(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(srv.Close)

	t.Run("a timeout of its own is a deadline", func(t *testing.T) {
		_, err := download.Get(t.Context(), srv.URL, download.Options{Timeout: 50 * time.Millisecond})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v is not a context.DeadlineExceeded", err)
		}
	})
	t.Run("the caller's deadline is not called its own", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		_, err := download.Get(ctx, srv.URL, download.Options{Timeout: time.Minute})
		var timeout *download.TimeoutError
		if errors.As(err, &timeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v, want the caller's context.DeadlineExceeded", err)
		}
	})
	t.Run("a canceled caller's context cancels the download", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(50*time.Millisecond, cancel)
		if _, err := download.Get(ctx, srv.URL, download.Options{}); !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
	})
}

func TestTooLargeError(t *testing.T) {
	for limit, want := range map[int64]string{9: "larger than 9 bytes", 64 << 20: "larger than 64 MiB", 1<<20 + 1: "larger than 1048577 bytes"} {
		t.Run("says "+want, func(t *testing.T) {
			if got := (&download.TooLargeError{MaxBytes: limit}).Error(); got != want {
				t.Errorf("Error() = %q, want %q", got, want)
			}
		})
	}
}
