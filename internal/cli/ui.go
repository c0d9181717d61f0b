package cli

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"os"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"

	"github.com/gitsync-io/gitsync/pkg/ui"
)

// uiOptions are where and for whom gitsync run serves its status page.
type uiOptions struct {
	enabled   bool
	addr      string // its own address; else under httpAddr
	httpAddr  string
	tokenFile string
}

func (o *uiOptions) register(fs *pflag.FlagSet) {
	fs.BoolVar(&o.enabled, "ui", true, "serve the status page at /ui/ (on --ui-addr, else on --http-addr)")
	fs.StringVar(&o.addr, "ui-addr", "", "serve the status page on this address of its own (e.g. 127.0.0.1:8081) instead of on --http-addr")
	fs.StringVar(&o.tokenFile, "ui-token-file", "", "file holding the token that lets viewers sync, suspend and resume from the status page, and look at all when it is not on loopback")
}

// handler returns the status page for syncs, nil when it is off. On an
// address other than loopback it needs a token to be looked at, or it is
// off and says so.
func (o uiOptions) handler(ctx context.Context, syncs syncRunner) (http.Handler, error) {
	addr := cmp.Or(o.addr, o.httpAddr)
	if !o.enabled || addr == "" {
		return nil, nil
	}
	log := logr.FromContextOrDiscard(ctx)
	page, ok := syncs.(ui.Syncs)
	if !ok {
		return nil, fmt.Errorf("the status page cannot show %T", syncs)
	}
	loopback := ui.Loopback(addr)
	if !loopback && o.tokenFile == "" {
		log.Info("status page off: " + addr + " is not on loopback, so the page needs a token: give --ui-token-file, or --ui-addr 127.0.0.1:PORT")
		return nil, nil
	}
	if o.tokenFile != "" {
		if _, err := os.Stat(o.tokenFile); err != nil {
			log.Info("status page: no token yet, so no one can log in until it is written", "file", o.tokenFile, "error", err.Error())
		}
	}
	return ui.Handler(ui.Options{Syncs: page, TokenFile: o.tokenFile, Anonymous: loopback})
}
