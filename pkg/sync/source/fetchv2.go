package source

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/memory"
	"github.com/go-logr/logr"
)

// fetchV2 fetches the target one commit deep into st with version 2's fetch
// command, which sends no list of refs first. If from is a snapshot, st
// holds its revision (onSnapshot), and the server is told so: it sends what
// the target adds, as a thin pack whose outside bases st serves.
func (s *Source) fetchV2(ctx context.Context, auth transport.AuthMethod, st storage.Storer, t target, from base) (fetched, error) {
	repo, err := git.Init(st, nil)
	if err != nil {
		return fetched{}, err
	}
	want := t.commit
	if !t.tag.IsZero() {
		want = t.tag // an annotated tag is fetched whole, as a refspec naming it would
	}
	err = s.exchange(ctx, auth, fetchRequest(want, from.rev), capabilities{shallowFetch: true}, func(r io.Reader) error {
		return readPack(r, st)
	})
	s.closeStream() // the answer's last flush-pkt is left unread: the stream takes no further command
	if err != nil {
		return fetched{}, err
	}
	if err := st.SetReference(plumbing.NewHashReference(fetchedRef, want)); err != nil {
		return fetched{}, err
	}
	return fetchedAt(repo, want)
}

// downloadCommit fetches a commit by its SHA, one commit deep, without
// listing refs: a version 2 server serves any commit it has, advertised or
// not, where version 0 needs a ref that points to it, or else fetches every
// branch and tag whole. Where that fails, the refs are listed in version 0
// to fetch the commit as before.
func (s *Source) downloadCommit(ctx context.Context, auth transport.AuthMethod, t target) (fetched, error) {
	got, err := s.fetchV2(ctx, auth, memory.NewStorage(), t, base{})
	if err == nil || ctx.Err() != nil {
		return got, err
	}
	logr.FromContextOrDiscard(ctx).V(1).Info("fetching the commit with git protocol version 2 failed; listing the refs to fetch it with version 0",
		"url", s.remote.display, "error", s.scrub(err).Error())
	s.protocol = protocolV0
	refs, err := s.listRemote(ctx, auth)
	if err != nil {
		return fetched{}, err
	}
	return s.downloadCommitV0(ctx, auth, refs.commit(t.commit))
}

// fetchRequest asks for want alone, one commit deep, without progress; with
// have, for what it adds to have, which is a shallow commit here too.
func fetchRequest(want, have plumbing.Hash) []byte {
	var buf bytes.Buffer
	e := pktline.NewEncoder(&buf)
	e.EncodeString("command=fetch\n")
	buf.WriteString(delimPkt)
	e.EncodeString("ofs-delta\n", "no-progress\n", "deepen 1\n", "want "+want.String()+"\n")
	if !have.IsZero() {
		e.EncodeString("thin-pack\n", "shallow "+have.String()+"\n", "have "+have.String()+"\n")
	}
	e.EncodeString("done\n")
	e.Flush()
	return buf.Bytes()
}

// readPack reads the answer to fetch into st: its sections up to the
// packfile, whose objects st stores, and the commits the server made
// shallow. Having sent "done", the client gets no acknowledgments.
func readPack(r io.Reader, st storage.Storer) error {
	shallow, err := st.Shallow()
	if err != nil {
		return err
	}
	section := ""
	for {
		line, err := readPkt(r)
		switch {
		case err != nil:
			return err
		case line == flushPkt:
			return fmt.Errorf("%w: the answer ended without a packfile", errAskGoGit)
		case section == "" && line == "packfile":
			if err := packfile.UpdateObjectStorage(st, sideband.NewDemuxer(sideband.Sideband64k, r)); err != nil {
				return fmt.Errorf("reading the pack: %w", err)
			}
			return st.SetShallow(shallow)
		case section == "" && (line == "shallow-info" || line == "acknowledgments" || line == "wanted-refs" || line == "packfile-uris"):
			section = line
		case section != "" && line == delimPkt:
			section = ""
		case section == "shallow-info" && strings.HasPrefix(line, "shallow "):
			shallow = append(shallow, plumbing.NewHash(strings.TrimPrefix(line, "shallow ")))
		case section == "":
			return fmt.Errorf("%w: unexpected line %q", errAskGoGit, line)
		}
	}
}
