// Package webhook receives push webhooks from git hosts, verifies their
// signature and tells its caller which repository and ref were pushed, so
// that `gitsync run` fetches within a second instead of at the next
// interval. It does not fetch, schedule or debounce: that is the caller's
// job, through Options.OnPush.
//
// # Endpoints
//
// Receiver.Handler serves POST /hooks/<provider>; mount it at PathPrefix.
// Each provider has its own secret, and a provider without one has its
// endpoint off: it answers 404, as an unknown provider does, so that a
// stranger cannot tell which endpoints exist.
//
//	provider  path            proof of the secret                                   event header (push events)
//	github    /hooks/github   X-Hub-Signature-256: sha256=<hex HMAC-SHA256(body)>   X-GitHub-Event (push)
//	gitea     /hooks/gitea    X-Gitea-Signature: <hex HMAC-SHA256(body)>            X-Gitea-Event (push)
//	gitlab    /hooks/gitlab   X-Gitlab-Token: <the secret itself>                   X-Gitlab-Event (Push Hook, Tag Push Hook)
//	generic   /hooks/generic  X-Gitsync-Signature: sha256=<hex HMAC-SHA256(body)>   none: every request is a push
//
// Forgejo is served by the gitea endpoint: it sends the Gitea headers, and
// X-Forgejo-Signature and X-Forgejo-Event are accepted in their place. The
// legacy SHA-1 X-Hub-Signature is not accepted. GitHub and Gitea may deliver
// their payload as JSON or form-encoded (a "payload" field); both are read,
// and the signature always covers the raw body. Every comparison with a
// secret runs in constant time.
//
// # The generic payload
//
// Anything that can compute an HMAC can trigger a fetch, a CI job for
// instance. The body is JSON:
//
//	{"repository": "https://git.example.com/org/fleet.git", "ref": "refs/heads/main", "after": "<sha, optional>"}
//
// repository is any form Push.Matches accepts and ref a full reference name
// (refs/heads/... or refs/tags/...). It is signed like GitHub's payloads, in
// the X-Gitsync-Signature header:
//
//	sig=$(printf %s "$body" | openssl dgst -sha256 -hmac "$secret" -r | cut -d' ' -f1)
//	curl -H "X-Gitsync-Signature: sha256=$sig" --data-binary "$body" https://gitsync.example.com/hooks/generic
//
// # Responses
//
// Each request comes to one Result, which is both its status code and the
// result label of the gitsync_webhook_requests_total{provider, result}
// counter. The checks run in this order, and the first that fails decides:
//
//	404 not_found           the path names no provider (label provider="unknown")
//	404 disabled            the provider has no secret
//	405 method_not_allowed  the method is not POST
//	401 unauthorized        the signature or token header is missing
//	413 too_large           the body is larger than Options.MaxBody (1 MiB by default); it is never parsed
//	403 forbidden           the signature or token does not match the secret
//	400 bad_request         verified, but the event header is missing, the JSON is malformed, or it names no ref or repository
//	200 ignored             verified, but not a push event (ping, issues, merge request, ...)
//	202 accepted            verified push: OnPush was called exactly once
//
// Response bodies are one short line naming the reason; they never hold the
// secret, the signature or content of the payload.
//
// # Deleted refs
//
// Deleting a branch or tag is a push like any other, with Push.Deleted set
// and After the all-zero SHA: OnPush is called, and the caller fetches and
// finds out itself that the ref is gone, as it would at its next interval.
package webhook
