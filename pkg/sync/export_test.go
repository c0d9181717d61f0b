package sync

import (
	"time"

	"k8s.io/client-go/rest"

	"github.com/gitsync-io/gitsync/pkg/sync/render"
	"github.com/gitsync-io/gitsync/pkg/sync/source"
)

// NewAsManaged returns a Syncer made the way a Manager makes its syncs:
// shared connections, a shared source, and a census of the labelled objects
// for the recovery of its first run.
func NewAsManaged(cfg *rest.Config, opts Options) (*Syncer, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	sh, err := newShared(cfg, 1, nil)
	if err != nil {
		return nil, err
	}
	sh.census = &census{cluster: sh.cluster, pending: 1}
	src, err := source.New(opts.Source)
	if err != nil {
		return nil, err
	}
	s, err := newSyncer(opts, sh, newSharedSource(src, time.Minute), render.New(opts.renderOptions()))
	if err != nil {
		return nil, err
	}
	s.census = sh.census
	return s, nil
}
