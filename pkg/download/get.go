package download

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Options bound a download. Zero fields take DefaultOptions' values.
type Options struct {
	// Client makes the request; nil means one with http.DefaultTransport, which honours
	// $HTTPS_PROXY.
	Client *http.Client
	// Timeout bounds the whole download, from the request to the last byte of the body.
	Timeout time.Duration
	// MaxBytes bounds the body: a larger one fails with a *TooLargeError.
	MaxBytes int64
	// Username and Password, if either is set, authenticate the request
	// (HTTP basic authentication).
	Username, Password string
}

// DefaultOptions are 30 seconds and 64 MiB: a manifest or a checksum file, not a release
// tarball.
func DefaultOptions() Options {
	return Options{Client: &http.Client{}, Timeout: 30 * time.Second, MaxBytes: 64 << 20}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.Client == nil {
		o.Client = d.Client
	}
	if o.Timeout <= 0 {
		o.Timeout = d.Timeout
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = d.MaxBytes
	}
	return o
}

// Get returns the body of a 200 answer to a GET of rawURL. Its errors do not name the URL,
// which the caller names (redacted where it may hold credentials): a *StatusError for
// another answer, a *TooLargeError for a body over the limit, a *TimeoutError when the
// download takes longer than opts.Timeout, or the network's error.
func Get(ctx context.Context, rawURL string, opts Options) ([]byte, error) {
	opts = opts.withDefaults()
	ctx, cancel := context.WithTimeoutCause(ctx, opts.Timeout, &TimeoutError{Timeout: opts.Timeout})
	defer cancel()
	data, err := get(ctx, rawURL, opts)
	if err != nil {
		return nil, withoutURL(ctx, err)
	}
	return data, nil
}

func get(ctx context.Context, rawURL string, opts Options) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	if opts.Username != "" || opts.Password != "" {
		req.SetBasicAuth(opts.Username, opts.Password)
	}
	resp, err := opts.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &StatusError{StatusCode: resp.StatusCode, Status: resp.Status}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, opts.MaxBytes+1))
	switch {
	case err != nil:
		return nil, err
	case int64(len(data)) > opts.MaxBytes:
		return nil, &TooLargeError{MaxBytes: opts.MaxBytes}
	}
	return data, nil
}

// withoutURL drops the URL net/http puts in its errors, and says a timeout that was Get's
// own as such.
func withoutURL(ctx context.Context, err error) error {
	var timeout *TimeoutError
	if errors.Is(err, context.DeadlineExceeded) && errors.As(context.Cause(ctx), &timeout) {
		return timeout
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return urlErr.Err
	}
	return err
}

// StatusError is an answer other than 200 OK.
type StatusError struct {
	StatusCode int
	Status     string // as the server gave it, e.g. "404 Not Found"
}

func (e *StatusError) Error() string { return "HTTP " + e.Status }

// TooLargeError is a body longer than Options.MaxBytes.
type TooLargeError struct {
	MaxBytes int64
}

func (e *TooLargeError) Error() string {
	if e.MaxBytes%(1<<20) == 0 {
		return fmt.Sprintf("larger than %d MiB", e.MaxBytes>>20)
	}
	return fmt.Sprintf("larger than %d bytes", e.MaxBytes)
}

// TimeoutError is a download that took longer than Options.Timeout.
type TimeoutError struct {
	Timeout time.Duration
}

func (e *TimeoutError) Error() string { return fmt.Sprintf("no answer within %s", e.Timeout) }

// Unwrap makes errors.Is(err, context.DeadlineExceeded) true.
func (e *TimeoutError) Unwrap() error { return context.DeadlineExceeded }
