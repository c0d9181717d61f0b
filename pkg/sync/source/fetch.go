package source

import (
	"context"
	"errors"
	"fmt"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/memory"
	"github.com/go-logr/logr"
)

// fetchedRef is where a fetch stores the wanted ref in the in-memory repository.
const fetchedRef = "refs/gitsync/fetched"

// Fetch returns the snapshot of the commit the ref points to now. It first
// lists the remote's refs (one round trip); if that commit has a snapshot
// already, it returns it with Cached set. Otherwise it fetches the commit,
// shallowly where the server allows, into memory, publishes its tree as a
// new snapshot and prunes old ones. A commit SHA with a snapshot costs no
// network at all. With Options.Verify, a revision whose signature does not
// verify fails with Kind Unverified before any of its files is written, and
// is not downloaded again to be refused again. Errors are *Error.
func (s *Source) Fetch(ctx context.Context) (Artifact, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.closeStream()
	if s.pinned() {
		t := target{commit: plumbing.NewHash(s.ref)}
		if sig, known, err := s.verifyKept(t); known {
			if err != nil {
				return Artifact{}, s.failVerify(ctx, t, err)
			}
			return s.artifact(ctx, t, true, sig)
		}
	}
	auth, release, err := s.authMethod(ctx)
	if err != nil {
		return Artifact{}, err
	}
	defer release()
	t, err := s.resolve(ctx, auth)
	if err != nil {
		return Artifact{}, err
	}
	sig, known, err := s.verifyKept(t)
	if err != nil {
		return Artifact{}, s.failVerify(ctx, t, err)
	}
	if known && s.kept(t.commit) {
		return s.artifact(ctx, t, true, sig)
	}
	return s.fetchNew(ctx, auth, t)
}

// pinned reports whether the ref is a commit SHA that is kept: it never
// changes.
func (s *Source) pinned() bool {
	return isCommitSHA(s.ref) && s.kept(plumbing.NewHash(s.ref))
}

// kept reports whether rev is kept and its record can be read, marking it
// as just used. A record that cannot be read is removed, so that rev is
// downloaded again.
func (s *Source) kept(rev plumbing.Hash) bool {
	if !s.snapshots.lookup(rev) {
		return false
	}
	if _, err := s.blobs.of(rev, s.snapshots); err != nil {
		s.snapshots.forget(rev)
		return false
	}
	return true
}

// fetchNew downloads the target, verifies it, keeps it and prunes old
// revisions.
func (s *Source) fetchNew(ctx context.Context, auth transport.AuthMethod, t target) (Artifact, error) {
	// From the revision it starts from to the new one's record, no sweep
	// may remove a blob the new revision holds.
	unlock, err := s.snapshots.lock.shared()
	if err != nil {
		return Artifact{}, s.fail(ctx, "fetch", err)
	}
	defer func() { unlock() }()
	from := s.snapshots.newest()
	got, err := s.download(ctx, auth, t, from)
	if err != nil {
		return Artifact{}, s.fail(ctx, "fetch", err)
	}
	commit := got.commit
	t.commit, t.tag = commit.Hash, got.tag // the ref may have moved since it was listed
	if err := s.snapshots.saveObjects(got.repo.Storer, t.commit, t.tag); err != nil {
		logr.FromContextOrDiscard(ctx).Error(err, "keeping the revision's commit failed; a verifying fetch downloads it again", "url", s.remote.display)
	}
	sig, err := s.verifyFetched(got)
	if err != nil {
		return Artifact{}, s.failVerify(ctx, t, err)
	}
	written, err := s.snapshots.storeTree(ctx, commit)
	if err != nil {
		return Artifact{}, s.fail(ctx, "checkout", err)
	}
	if err := s.snapshots.saveTrees(got.repo.Storer, commit); err != nil {
		logr.FromContextOrDiscard(ctx).Error(err, "keeping the revision's trees failed; the next fetch downloads the whole revision", "url", s.remote.display)
	}
	if err := s.snapshots.recordBlobs(commit.Hash, written); err != nil {
		return Artifact{}, s.fail(ctx, "checkout", err)
	}
	s.blobs.keep(commit.Hash, written)
	unlock()
	unlock = func() {}
	if err := s.snapshots.prune(s.keep, commit.Hash); err != nil {
		logr.FromContextOrDiscard(ctx).Error(err, "pruning old snapshots failed; the next fetch retries", "url", s.remote.display)
	}
	return s.artifact(ctx, t, false, sig)
}

// artifact returns the kept revision t, checked out unless NoCheckout.
func (s *Source) artifact(ctx context.Context, t target, cached bool, sig *Signature) (Artifact, error) {
	ref := t.name.String()
	if t.name == "" || isCommitSHA(s.ref) {
		ref = t.commit.String()
	}
	b, err := s.blobs.of(t.commit, s.snapshots)
	if err != nil {
		return Artifact{}, s.fail(ctx, "checkout", err)
	}
	art := Artifact{URL: s.remote.display, Ref: ref, Revision: t.commit.String(), Cached: cached, Blobs: b, Signature: sig}
	if !s.noCheckout {
		if art.Dir, err = s.snapshots.checkout(t.commit, b); err != nil {
			return Artifact{}, s.fail(ctx, "checkout", err)
		}
	}
	return art, nil
}

// fetched is what a download brought: the commit, and the annotated tag
// that points to it if the ref is one.
type fetched struct {
	repo   *git.Repository
	commit *object.Commit
	tag    plumbing.Hash
}

// download fetches the target into an in-memory repository: one commit deep
// for a ref, and for a commit SHA too where the server speaks protocol
// version 2 or allows asking for an unadvertised commit; otherwise every
// branch and tag, whole. A ref is fetched on top of the snapshot from where
// it can be (incremental.go), which sends only what changed since.
func (s *Source) download(ctx context.Context, auth transport.AuthMethod, t target, from base) (fetched, error) {
	switch {
	case t.name == "" && s.mayAskForV2():
		return s.downloadCommit(ctx, auth, t)
	case t.name == "":
		return s.downloadCommitV0(ctx, auth, t)
	case !from.rev.IsZero():
		got, err := s.fetchRef(ctx, auth, t, from)
		if err == nil || ctx.Err() != nil {
			return got, err
		}
		logr.FromContextOrDiscard(ctx).V(1).Info("fetching only what changed since the last snapshot failed; fetching the whole revision",
			"url", s.remote.display, "error", s.scrub(err).Error())
	}
	return s.fetchRef(ctx, auth, t, base{})
}

// downloadCommitV0 fetches a commit as version 0 can: by a ref that points
// to it, else by its SHA if the server allows that, else with every branch
// and tag.
func (s *Source) downloadCommitV0(ctx context.Context, auth transport.AuthMethod, t target) (fetched, error) {
	if t.name != "" {
		return s.fetchRef(ctx, auth, t, base{})
	}
	got, err := s.fetchInto(ctx, auth, memory.NewStorage(), 1, config.RefSpec(t.commit.String()+":"+fetchedRef))
	if !errors.Is(err, git.ErrExactSHA1NotSupported) {
		return got, err
	}
	return s.fetchCommit(ctx, auth, t.commit)
}

// fetchRef fetches the target one commit deep, onto the snapshot from if
// there is one: the commit the listing found, with protocol version 2 where
// the server speaks it (fetchv2.go); else the ref by name with go-git, where
// the ref may have moved since. A failed version 2 fetch of the whole
// revision is tried again with go-git.
func (s *Source) fetchRef(ctx context.Context, auth transport.AuthMethod, t target, from base) (fetched, error) {
	st, err := s.storageOn(from)
	if err != nil {
		return fetched{}, err
	}
	if s.protocol == protocolV2 {
		got, err := s.fetchV2(ctx, auth, st, t, from)
		if err == nil || ctx.Err() != nil || !from.rev.IsZero() {
			return got, err
		}
		logr.FromContextOrDiscard(ctx).V(1).Info("fetching with git protocol version 2 failed; fetching with version 0",
			"url", s.remote.display, "error", s.scrub(err).Error())
		s.protocol = protocolUnknown
		st = memory.NewStorage()
	}
	return s.fetchInto(ctx, auth, st, 1, config.RefSpec("+"+t.name.String()+":"+fetchedRef))
}

// storageOn returns an empty in-memory repository, or one holding the
// revision of the snapshot from.
func (s *Source) storageOn(from base) (storage.Storer, error) {
	if from.rev.IsZero() {
		return memory.NewStorage(), nil
	}
	return s.snapshots.newOnSnapshot(from)
}

// fetchCommit fetches all branches and tags and finds the commit among them.
func (s *Source) fetchCommit(ctx context.Context, auth transport.AuthMethod, hash plumbing.Hash) (fetched, error) {
	repo, err := s.fetchRepo(ctx, auth, memory.NewStorage(), 0, "+refs/heads/*:refs/gitsync/heads/*", "+refs/tags/*:refs/gitsync/tags/*")
	if err != nil {
		return fetched{}, err
	}
	commit, err := repo.CommitObject(hash)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return fetched{}, withKind(RefNotFound, fmt.Errorf("commit %s is on no branch or tag of the remote", hash))
	}
	if err != nil {
		return fetched{}, err
	}
	return fetched{repo: repo, commit: commit}, complete(repo.Storer, commit)
}

// fetchInto fetches one refspec into fetchedRef of a repository in st and
// returns its commit, once every tree and blob of it has come.
func (s *Source) fetchInto(ctx context.Context, auth transport.AuthMethod, st storage.Storer, depth int, spec config.RefSpec) (fetched, error) {
	repo, err := s.fetchRepo(ctx, auth, st, depth, spec)
	if err != nil {
		return fetched{}, err
	}
	ref, err := repo.Reference(plumbing.ReferenceName(fetchedRef), true)
	if err != nil {
		return fetched{}, err
	}
	return fetchedAt(repo, ref.Hash())
}

// fetchedAt returns the commit hash names in repo, and the annotated tag if
// hash is one, once every tree and blob of the commit is there.
func fetchedAt(repo *git.Repository, hash plumbing.Hash) (fetched, error) {
	got := fetched{repo: repo}
	if _, err := repo.TagObject(hash); err == nil {
		got.tag = hash
	}
	var err error
	if got.commit, err = peelCommit(repo, hash); err != nil {
		return fetched{}, err
	}
	return got, complete(repo.Storer, got.commit)
}

func (s *Source) fetchRepo(ctx context.Context, auth transport.AuthMethod, st storage.Storer, depth int, specs ...config.RefSpec) (*git.Repository, error) {
	repo, err := git.Init(st, nil)
	if err != nil {
		return nil, err
	}
	remote, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{s.remote.dial}})
	if err != nil {
		return nil, err
	}
	err = remote.FetchContext(ctx, &git.FetchOptions{RefSpecs: specs, Depth: depth, Auth: auth, Tags: git.NoTags})
	if errors.Is(err, git.NoErrAlreadyUpToDate) {
		err = nil
	}
	return repo, err
}

// peelCommit returns the commit hash names, following annotated tags.
func peelCommit(repo *git.Repository, hash plumbing.Hash) (*object.Commit, error) {
	obj, err := repo.Object(plumbing.AnyObject, hash)
	for err == nil {
		switch o := obj.(type) {
		case *object.Commit:
			return o, nil
		case *object.Tag:
			obj, err = o.Object()
		default:
			return nil, withKind(RefNotFound, fmt.Errorf("%s is a %s, not a commit", hash, obj.Type()))
		}
	}
	return nil, err
}
