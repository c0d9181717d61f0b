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
// network at all. Errors are *Error.
func (s *Source) Fetch(ctx context.Context) (Artifact, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if dir, ok := s.pinned(); ok {
		return s.artifact(target{commit: plumbing.NewHash(s.ref)}, dir, true), nil
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
	if dir, ok := s.snapshots.lookup(t.commit); ok {
		return s.artifact(t, dir, true), nil
	}
	return s.fetchNew(ctx, auth, t)
}

// pinned returns the snapshot of a commit SHA ref, which never changes.
func (s *Source) pinned() (string, bool) {
	if !isCommitSHA(s.ref) {
		return "", false
	}
	return s.snapshots.lookup(plumbing.NewHash(s.ref))
}

// fetchNew downloads the target, publishes its snapshot and prunes old ones.
func (s *Source) fetchNew(ctx context.Context, auth transport.AuthMethod, t target) (Artifact, error) {
	commit, err := s.download(ctx, auth, t)
	if err != nil {
		return Artifact{}, s.fail(ctx, "fetch", err)
	}
	from := s.snapshots.newest()
	var written blobs
	dir, err := s.snapshots.publish(commit.Hash, func(tmp string) (err error) {
		written, err = writeTree(ctx, commit, tmp, from)
		return err
	})
	if err != nil {
		return Artifact{}, s.fail(ctx, "checkout", err)
	}
	if err := s.snapshots.recordBlobs(commit.Hash, written); err != nil {
		logr.FromContextOrDiscard(ctx).Error(err, "recording the snapshot's blobs failed; the next fetch writes every file", "url", s.remote.display)
	} else {
		s.blobs.keep(commit.Hash, written)
	}
	if err := s.snapshots.prune(s.keep, commit.Hash); err != nil {
		logr.FromContextOrDiscard(ctx).Error(err, "pruning old snapshots failed; the next fetch retries", "url", s.remote.display)
	}
	t.commit = commit.Hash // the ref may have moved since it was listed
	return s.artifact(t, dir, false), nil
}

func (s *Source) artifact(t target, dir string, cached bool) Artifact {
	ref := t.name.String()
	if t.name == "" || isCommitSHA(s.ref) {
		ref = t.commit.String()
	}
	return Artifact{URL: s.remote.display, Ref: ref, Revision: t.commit.String(), Dir: dir, Cached: cached,
		Blobs: s.blobs.of(t.commit, s.snapshots)}
}

// download fetches the target into an in-memory repository: one commit deep
// for a ref, and for an unadvertised commit too if the server allows asking
// for it; otherwise every branch and tag, whole.
func (s *Source) download(ctx context.Context, auth transport.AuthMethod, t target) (*object.Commit, error) {
	if t.name != "" {
		return s.fetchInto(ctx, auth, 1, config.RefSpec("+"+t.name.String()+":"+fetchedRef))
	}
	commit, err := s.fetchInto(ctx, auth, 1, config.RefSpec(t.commit.String()+":"+fetchedRef))
	if !errors.Is(err, git.ErrExactSHA1NotSupported) {
		return commit, err
	}
	return s.fetchCommit(ctx, auth, t.commit)
}

// fetchCommit fetches all branches and tags and finds the commit among them.
func (s *Source) fetchCommit(ctx context.Context, auth transport.AuthMethod, hash plumbing.Hash) (*object.Commit, error) {
	repo, err := s.fetchRepo(ctx, auth, 0, "+refs/heads/*:refs/gitsync/heads/*", "+refs/tags/*:refs/gitsync/tags/*")
	if err != nil {
		return nil, err
	}
	commit, err := repo.CommitObject(hash)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return nil, withKind(RefNotFound, fmt.Errorf("commit %s is on no branch or tag of the remote", hash))
	}
	return commit, err
}

// fetchInto fetches one refspec into fetchedRef and returns its commit.
func (s *Source) fetchInto(ctx context.Context, auth transport.AuthMethod, depth int, spec config.RefSpec) (*object.Commit, error) {
	repo, err := s.fetchRepo(ctx, auth, depth, spec)
	if err != nil {
		return nil, err
	}
	ref, err := repo.Reference(plumbing.ReferenceName(fetchedRef), true)
	if err != nil {
		return nil, err
	}
	return peelCommit(repo, ref.Hash())
}

func (s *Source) fetchRepo(ctx context.Context, auth transport.AuthMethod, depth int, specs ...config.RefSpec) (*git.Repository, error) {
	repo, err := git.Init(memory.NewStorage(), nil)
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
