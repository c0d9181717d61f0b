package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
)

// Options shape a Notifier.
type Options struct {
	// Cluster names the cluster in messages and in commit status contexts
	// (gitsync/<cluster>/<sync>); default "default".
	Cluster string
	// StatusURL, if set, is the base of the links to each sync's page:
	// <StatusURL>/syncs/<namespace>/<name>.
	StatusURL string
	// Client sends the requests; default a client with a 10 s timeout.
	Client *http.Client
	// Backoff is the wait before the first retry; it doubles at each
	// retry. Default 1 s.
	Backoff time.Duration
	// Attempts bounds the tries of one delivery; default 6 (the last about
	// 30 s after the first).
	Attempts int
	// QueueSize bounds the events waiting per receiver; default 256. When
	// it is full the oldest waits, and the new event is dropped and logged.
	QueueSize int
	// Log hears about deliveries that failed for good.
	Log logr.Logger
}

// Notifier delivers events to receivers, each from a queue of its own, so a
// slow or failing receiver holds back no other and no sync.
type Notifier struct {
	opts       Options
	deliverers []*deliverer
	mu         sync.RWMutex // held for reading while enqueuing; Close takes it to close the queues
	closed     bool
	cancel     context.CancelFunc
	done       sync.WaitGroup
}

// deliverer is one receiver's queue and worker.
type deliverer struct {
	r       Receiver
	queue   chan Event
	limiter *rate.Limiter
	stats   Stats
	mu      sync.Mutex // guards stats
}

// Stats count a receiver's deliveries.
type Stats struct {
	Sent, Failed, Dropped int
}

// New validates the receivers and starts delivering. Each error names the
// receiver and the field.
func New(receivers []Receiver, opts Options) (*Notifier, error) {
	if opts.Cluster == "" {
		opts.Cluster = "default"
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Backoff <= 0 {
		opts.Backoff = time.Second
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 6
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 256
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Notifier{opts: opts, cancel: cancel}
	names := map[string]bool{}
	for i, r := range receivers {
		if err := r.validate(); err != nil {
			cancel()
			return nil, fmt.Errorf("notifications[%d] (%s): %w", i, r.Name, err)
		}
		if names[r.Name] {
			cancel()
			return nil, fmt.Errorf("notifications[%d].name: %q is used twice", i, r.Name)
		}
		names[r.Name] = true
		perMinute := r.PerMinute
		if perMinute == 0 {
			perMinute = 30
		}
		d := &deliverer{r: r, queue: make(chan Event, opts.QueueSize), limiter: rate.NewLimiter(rate.Limit(float64(perMinute)/60), min(perMinute, 5))}
		n.deliverers = append(n.deliverers, d)
		n.done.Add(1)
		go func() {
			defer n.done.Done()
			for e := range d.queue {
				n.deliver(ctx, d, e)
			}
		}()
	}
	return n, nil
}

// Notify queues e for every receiver that wants it and returns at once. A
// nil Notifier, or one closed, drops it.
func (n *Notifier) Notify(e Event) {
	if n == nil {
		return
	}
	e.Cluster = n.opts.Cluster
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	if n.opts.StatusURL != "" && e.Link == "" {
		e.Link = strings.TrimSuffix(n.opts.StatusURL, "/") + "/syncs/" + url.PathEscape(e.Namespace) + "/" + url.PathEscape(e.Sync)
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.closed {
		return
	}
	for _, d := range n.deliverers {
		if !d.r.wants(e) {
			continue
		}
		select {
		case d.queue <- e:
		default:
			d.count(func(s *Stats) { s.Dropped++ })
			n.opts.Log.Info("notification dropped: the receiver's queue is full", "receiver", d.r.Name, "event", e.Kind, "sync", e.Namespace+"/"+e.Sync)
		}
	}
}

// Close stops taking events and waits until the queued ones are delivered,
// or ctx ends; then it abandons the rest.
func (n *Notifier) Close(ctx context.Context) {
	if n == nil {
		return
	}
	n.mu.Lock()
	if !n.closed {
		n.closed = true
		for _, d := range n.deliverers {
			close(d.queue)
		}
	}
	n.mu.Unlock()
	drained := make(chan struct{})
	go func() {
		n.done.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-ctx.Done():
		n.cancel()
		<-drained
	}
	n.cancel()
}

// Stats returns the counts of the receiver called name.
func (n *Notifier) Stats(name string) Stats {
	for _, d := range n.deliverers {
		if d.r.Name == name {
			d.mu.Lock()
			defer d.mu.Unlock()
			return d.stats
		}
	}
	return Stats{}
}

func (d *deliverer) count(f func(*Stats)) {
	d.mu.Lock()
	f(&d.stats)
	d.mu.Unlock()
}

// deliver sends e, retrying with backoff what may succeed later (network
// errors, 429, 5xx), within the receiver's rate.
func (n *Notifier) deliver(ctx context.Context, d *deliverer, e Event) {
	wait := n.opts.Backoff
	for attempt := 1; ; attempt++ {
		if err := d.limiter.Wait(ctx); err != nil {
			return
		}
		err := n.send(ctx, d, e)
		if err == nil {
			d.count(func(s *Stats) { s.Sent++ })
			return
		}
		var perm *permanentError
		if errors.As(err, &perm) || attempt >= n.opts.Attempts || ctx.Err() != nil {
			d.count(func(s *Stats) { s.Failed++ })
			n.opts.Log.Error(err, "notification failed", "receiver", d.r.Name, "type", d.r.Type, "event", e.Kind,
				"sync", e.Namespace+"/"+e.Sync, "revision", short(e.Revision), "attempts", attempt)
			return
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
		wait *= 2
	}
}

// permanentError is a refusal a retry cannot change (400, 401, 404, ...).
type permanentError struct{ error }

// send makes one request. Its errors never hold the URL or a credential.
func (n *Notifier) send(ctx context.Context, d *deliverer, e Event) error {
	req, err := d.r.request(ctx, e, time.Now())
	if errors.Is(err, errNoStatus) {
		return nil
	}
	if err != nil {
		return &permanentError{err}
	}
	resp, err := n.opts.Client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // url.Error quotes the URL, which may hold a token
		}
		return fmt.Errorf("%s %s: %w", req.Method, d.r.Type, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	text, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	err = fmt.Errorf("%s answered %s: %s", d.r.Type, resp.Status, d.r.scrub(strings.TrimSpace(string(text))))
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		return err
	}
	return &permanentError{err}
}

// scrub hides the receiver's credentials in text a server sent back: the
// token, the secret, and the webhook URL whole or in parts (its path and
// query, and each long segment of them, any of which may be the token).
func (r *Receiver) scrub(text string) string {
	secrets := []string{r.URL, r.Token, r.Secret}
	if u, err := url.Parse(r.URL); err == nil {
		secrets = append(secrets, u.Path, u.RawQuery)
		secrets = append(secrets, strings.FieldsFunc(u.Path+"&"+u.RawQuery, func(c rune) bool { return strings.ContainsRune("/&=", c) })...)
	}
	for _, secret := range secrets {
		if len(secret) >= 8 {
			text = strings.ReplaceAll(text, secret, "xxxxx")
		}
	}
	return text
}
