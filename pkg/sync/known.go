package sync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"

	"github.com/go-logr/logr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/gitsync-io/gitsync/pkg/sync/apply"
	"github.com/gitsync-io/gitsync/pkg/sync/health"
)

// A sync run by a process of its own (gitsync sync) keeps, beside the
// renders, which versions of its live objects it found up to date and
// Current (apply.Known), so that the next one does not decode them again:
// at 10,000 objects that decoding was most of a sync that changes one.
// A long-running gitsync needs none: its watch cache holds them decoded.

// knownPath is where the sync's Known is kept.
func (s *Syncer) knownPath() string {
	sum := sha256.Sum256([]byte(s.opts.Namespace + "/" + s.opts.Name + "\x00" + s.opts.label()))
	return filepath.Join(s.opts.Source.CacheDir, "known", hex.EncodeToString(sum[:12])+".json")
}

// readKnown returns what the last run of this sync kept, nil if it runs
// on (its watch cache serves) or only tries (a dry run).
func (s *Syncer) readKnown() apply.Known {
	if !s.opts.Once || s.opts.DryRun {
		return nil
	}
	return apply.ReadKnown(s.knownPath())
}

// keepKnown keeps, for the next run, the versions of the objects applied
// that it found up to date or wrote so, and that were Current as it saw them:
// a ConfigMap it created is kept as the server answered, a Deployment only
// once a run finds it rolled out. An object that names others to wait for
// (health.AnnotationWaitFor) is left out: its readiness is theirs too.
func (s *Syncer) keepKnown(ctx context.Context, applied *apply.ChangeSet) {
	if !s.opts.Once || s.opts.DryRun {
		return
	}
	known := apply.Known{}
	for _, c := range applied.Changes {
		if c.Version().UID == "" || c.Live == nil { // failed, skipped, deleted
			continue
		}
		if _, waits := c.Live.GetAnnotations()[health.AnnotationWaitFor]; waits {
			continue
		}
		if c.Known || health.Compute(c.Live).Status == status.CurrentStatus {
			known[c.ID] = c.Version()
		}
	}
	if err := apply.WriteKnown(s.knownPath(), known); err != nil {
		logr.FromContextOrDiscard(ctx).Error(err, "keeping what this sync found up to date failed; the next run reads every live object", "sync", s.opts.Namespace+"/"+s.opts.Name)
	}
}
