package webhook

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/go-logr/logr"
)

// outcome is what one request came to, with a short reason for the
// response: never a secret, a signature or payload content.
type outcome struct {
	result Result
	reason string
}

// serve is the pipeline of the package doc: route → method → credential →
// body → verify → event → parse → OnPush. Each step either passes or decides
// the outcome.
func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	provider, out := r.receive(w, req)
	r.metrics.count(provider, out.result)
	log := logr.FromContextOrDiscard(req.Context()).WithValues("provider", provider, "result", out.result, "remote", req.RemoteAddr)
	if out.result == Forbidden { // most likely a secret that differs at the git host
		log.Info("webhook refused: check the secret configured at the git host", "reason", out.reason)
	} else {
		log.V(1).Info("webhook", "reason", out.reason)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(out.result.Status())
	fmt.Fprintln(w, out.reason)
}

// receive returns the provider label and the outcome of a request.
func (r *Receiver) receive(w http.ResponseWriter, req *http.Request) (string, outcome) {
	provider, ok := strings.CutPrefix(req.URL.Path, PathPrefix)
	p := Provider(provider)
	switch {
	case !ok || !p.known():
		return unknownProvider, outcome{NotFound, "no such webhook endpoint"}
	case r.secrets[p] == nil:
		return provider, outcome{Disabled, "no such webhook endpoint"}
	case req.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		return provider, outcome{MethodNotAllowed, "method not allowed: use POST"}
	}
	return provider, r.receivePost(w, req, p)
}

func (r *Receiver) receivePost(w http.ResponseWriter, req *http.Request, p Provider) outcome {
	d := dialectOf(p)
	proof, ok := d.credential.find(req.Header)
	if !ok {
		return outcome{Unauthorized, "missing " + d.credential.headers[0] + " header"}
	}
	body, out := r.readBody(w, req)
	if out.result != "" {
		return out
	}
	if !d.credential.verify(proof, r.secrets[p], body) {
		return outcome{Forbidden, d.credential.headers[0] + " does not match the secret"}
	}
	return r.dispatch(req, p, d, body)
}

// dispatch handles a verified request: a push goes to OnPush, any other
// event is acknowledged.
func (r *Receiver) dispatch(req *http.Request, p Provider, d dialect, body []byte) outcome {
	isPush, err := d.isPush(req.Header)
	switch {
	case err != nil:
		return outcome{BadRequest, err.Error() + " " + d.eventHeaders[0]}
	case !isPush:
		return outcome{Ignored, "ignored: not a push event"}
	}
	data, err := d.payload(req.Header.Get("Content-Type"), body)
	if err != nil {
		return outcome{BadRequest, err.Error()}
	}
	push, err := d.parse(p, data)
	if err != nil {
		return outcome{BadRequest, err.Error()}
	}
	r.onPush(push)
	return outcome{Accepted, "accepted"}
}

// readBody reads at most MaxBody bytes, whether or not the request declared
// its length. A declared length over the limit is refused unread.
func (r *Receiver) readBody(w http.ResponseWriter, req *http.Request) ([]byte, outcome) {
	tooLarge := outcome{TooLarge, fmt.Sprintf("body larger than %d bytes", r.maxBody)}
	if req.ContentLength > r.maxBody {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.maxBody))
	var maxBytes *http.MaxBytesError
	switch {
	case errors.As(err, &maxBytes):
		return nil, tooLarge
	case err != nil:
		return nil, outcome{BadRequest, "reading the body failed"}
	}
	return body, outcome{}
}
