package source

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"
)

// target is what the ref resolved to on the remote.
type target struct {
	name   plumbing.ReferenceName // the remote ref to fetch; "" for a commit no ref points to
	commit plumbing.Hash          // the commit, with annotated tags peeled
	tag    plumbing.Hash          // the annotated tag object name points to; zero for other refs
}

// describe names the target for an error: "tag v1.2.0", "branch main", or
// "commit 1a2b3c4d5e6f".
func (t target) describe() string {
	switch {
	case t.name.IsTag():
		return "tag " + t.name.Short()
	case t.name.IsBranch():
		return "branch " + t.name.Short()
	}
	return "commit " + short(t.commit.String())
}

// remoteRefs maps the remote's reference names to references; peeled
// annotated tags appear as "refs/tags/NAME^{}".
type remoteRefs map[plumbing.ReferenceName]*plumbing.Reference

// resolve lists the remote's refs (one round trip, like git ls-remote) and
// finds the commit the ref points to. A commit SHA needs no listing where the
// server may speak protocol version 2 (downloadCommit).
func (s *Source) resolve(ctx context.Context, auth transport.AuthMethod) (target, error) {
	if isCommitSHA(s.ref) && s.mayAskForV2() {
		return target{commit: plumbing.NewHash(s.ref)}, nil
	}
	refs, err := s.listRemote(ctx, auth)
	if err != nil {
		return target{}, s.fail(ctx, "ls-remote", err)
	}
	t, ok := refs.find(s.ref)
	if s.semver != nil {
		t, ok = refs.newestTag(s.semver)
	}
	if !ok {
		return target{}, s.fail(ctx, "ls-remote", withKind(RefNotFound, s.refNotFound()))
	}
	return t, nil
}

func (s *Source) refNotFound() error {
	if s.semver != nil {
		return fmt.Errorf("no tag on the remote is a version in the range %q", s.semver)
	}
	if s.ref == "" {
		return fmt.Errorf("the remote has no default branch (HEAD)")
	}
	return fmt.Errorf("no branch or tag %q on the remote", s.ref)
}

// listRemote lists the refs resolve needs with protocol version 2 where the
// server speaks it (lsrefs.go), else every ref, with go-git.
func (s *Source) listRemote(ctx context.Context, auth transport.AuthMethod) (remoteRefs, error) {
	refs, err := s.lsRefs(ctx, auth)
	if !errors.Is(err, errV0) && !errors.Is(err, errAskGoGit) {
		return refs, err
	}
	remote := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{s.remote.dial}})
	list, err := remote.ListContext(ctx, &git.ListOptions{Auth: auth, PeelingOption: git.AppendPeeled})
	refs = remoteRefs{}
	for _, r := range list {
		refs[r.Name()] = r
	}
	return refs, err
}

// find resolves a ref as Options.Ref describes it.
func (refs remoteRefs) find(ref string) (target, bool) {
	if isCommitSHA(ref) {
		return refs.commit(plumbing.NewHash(ref)), true
	}
	for _, name := range candidates(ref) {
		if r, ok := refs.deref(name); ok {
			return refs.target(r), true
		}
	}
	return target{}, false
}

// candidates are the full names a ref may stand for, in git's order.
func candidates(ref string) []plumbing.ReferenceName {
	switch {
	case ref == "":
		return []plumbing.ReferenceName{plumbing.HEAD}
	case strings.HasPrefix(ref, "refs/"):
		return []plumbing.ReferenceName{plumbing.ReferenceName(ref)}
	}
	return []plumbing.ReferenceName{plumbing.NewBranchReferenceName(ref), plumbing.NewTagReferenceName(ref)}
}

// deref follows a symbolic reference (HEAD → refs/heads/main) one step.
func (refs remoteRefs) deref(name plumbing.ReferenceName) (*plumbing.Reference, bool) {
	r, ok := refs[name]
	if ok && r.Type() == plumbing.SymbolicReference {
		r, ok = refs[r.Target()]
	}
	return r, ok
}

// target is what the hash reference r points to.
func (refs remoteRefs) target(r *plumbing.Reference) target {
	t := target{name: r.Name(), commit: refs.peel(r)}
	if r.Name().IsTag() && t.commit != r.Hash() {
		t.tag = r.Hash()
	}
	return t
}

// newestTag finds the tag of the highest version in the range, as Flux's
// semver ref does: tags that are not versions are ignored, and a leading
// "v" is allowed.
func (refs remoteRefs) newestTag(c *semver.Constraints) (target, bool) {
	var best *semver.Version
	var found *plumbing.Reference
	for name, r := range refs {
		if !name.IsTag() || strings.HasSuffix(name.String(), "^{}") {
			continue
		}
		v, err := semver.NewVersion(name.Short())
		if err != nil || !c.Check(v) {
			continue
		}
		if best == nil || v.GreaterThan(best) || (v.Equal(best) && name < found.Name()) {
			best, found = v, r
		}
	}
	if found == nil {
		return target{}, false
	}
	return refs.target(found), true
}

// peel returns the commit an annotated tag points to, or the ref's own hash.
func (refs remoteRefs) peel(r *plumbing.Reference) plumbing.Hash {
	if peeled, ok := refs[r.Name()+"^{}"]; ok {
		return peeled.Hash()
	}
	return r.Hash()
}

// commit finds a ref pointing at the commit, so it can be fetched shallowly;
// servers refuse unadvertised commits by default.
func (refs remoteRefs) commit(hash plumbing.Hash) target {
	names := make([]plumbing.ReferenceName, 0, len(refs))
	for name, r := range refs {
		if r.Type() == plumbing.HashReference && refs.peel(r) == hash && !strings.HasSuffix(name.String(), "^{}") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	if len(names) == 0 {
		return target{commit: hash}
	}
	return target{name: names[0], commit: hash}
}
