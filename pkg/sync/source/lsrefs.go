package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// lsRefs lists the refs the Source can use with protocol version 2's
// ls-refs. It returns errV0 or errAskGoGit when the caller should list with
// go-git instead; other errors are final.
func (s *Source) lsRefs(ctx context.Context, auth transport.AuthMethod) (remoteRefs, error) {
	if !s.mayAskForV2() {
		return nil, errV0
	}
	var refs remoteRefs
	err := s.exchange(ctx, auth, lsRefsRequest(s.refPrefixes()), capabilities{lsRefs: true}, func(r io.Reader) (err error) {
		refs, err = readRefs(r)
		return asAnswer(ctx, err)
	})
	switch {
	case err == nil:
		s.protocol = protocolV2
	case errors.Is(err, errV0):
		s.protocol = protocolV0
	case errors.Is(err, errAskGoGit):
		s.protocol = protocolUnknown
	}
	return refs, err
}

// refPrefixes are the ref-prefix arguments of ls-refs that list every ref
// resolve may need: nil lists them all, for a commit SHA, which any ref may
// point to.
func (s *Source) refPrefixes() []string {
	switch {
	case s.semver != nil:
		return []string{"refs/tags/"}
	case isCommitSHA(s.ref):
		return nil
	}
	names := candidates(s.ref)
	prefixes := make([]string, len(names))
	for i, name := range names {
		prefixes[i] = name.String()
	}
	return prefixes
}

// lsRefsRequest is the ls-refs command: peeled tags and symbolic refs
// (HEAD → its branch), limited to prefixes.
func lsRefsRequest(prefixes []string) []byte {
	var buf bytes.Buffer
	e := pktline.NewEncoder(&buf)
	e.EncodeString("command=ls-refs\n")
	buf.WriteString(delimPkt)
	e.EncodeString("peel\n", "symrefs\n")
	for _, p := range prefixes {
		e.EncodeString("ref-prefix " + p + "\n")
	}
	e.Flush()
	return buf.Bytes()
}

// readRefs reads the answer to ls-refs: "<oid> <name>[ symref-target:<ref>]
// [ peeled:<oid>]" lines up to a flush-pkt. A symbolic ref also gives its
// target's hash, which the prefixes may not have listed.
func readRefs(r io.Reader) (remoteRefs, error) {
	refs := remoteRefs{}
	for {
		line, err := readPkt(r)
		if err != nil {
			return nil, err
		}
		if line == flushPkt {
			return refs, nil
		}
		fields := strings.Split(line, " ")
		if len(fields) < 2 || !plumbing.IsHash(fields[0]) {
			return nil, fmt.Errorf("%w: unexpected line %q", errAskGoGit, line)
		}
		hash, name := plumbing.NewHash(fields[0]), plumbing.ReferenceName(fields[1])
		refs[name] = plumbing.NewHashReference(name, hash)
		for _, attr := range fields[2:] {
			key, value, _ := strings.Cut(attr, ":")
			switch key {
			case "symref-target":
				target := plumbing.ReferenceName(value)
				refs[name] = plumbing.NewSymbolicReference(name, target)
				if _, ok := refs[target]; !ok {
					refs[target] = plumbing.NewHashReference(target, hash)
				}
			case "peeled":
				refs[name+"^{}"] = plumbing.NewHashReference(name+"^{}", plumbing.NewHash(value))
			}
		}
	}
}
