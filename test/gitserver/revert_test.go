package gitserver_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync-io/gitsync/test/gitserver"
)

func TestRevert(t *testing.T) {
	repo := gitserver.NewRepo(t)
	first := repo.Commit(t, "first", map[string]string{"a": "1", "b": "1"})
	change := repo.Commit(t, "change", map[string]string{"a": "2", "b": "", "c": "new"})
	repo.Commit(t, "unrelated", map[string]string{"d": "later"})
	revert := repo.Revert(t, change)

	t.Run("undoes exactly the reverted commit's changes", func(t *testing.T) {
		want := map[string]string{"a": "1", "b": "1", "d": "later"}
		if diff := cmp.Diff(want, clone(t, nil, repo.URL(), "main")); diff != "" {
			t.Errorf("files after the revert (-want +got):\n%s", diff)
		}
	})
	t.Run("adds a commit on top of the history instead of rewriting it", func(t *testing.T) {
		if repo.Head(t) != revert {
			t.Errorf("Head = %s, want the revert %s", repo.Head(t), revert)
		}
		log := mustRun(t, nil, "git", "-C", repo.Dir(), "log", "--format=%s", "main")
		if lines := strings.Split(log, "\n"); len(lines) != 4 || lines[0] != `Revert "change"` {
			t.Errorf("log:\n%s\nwant 4 commits, the newest `Revert \"change\"`", log)
		}
		mustRun(t, nil, "git", "-C", repo.Dir(), "merge-base", "--is-ancestor", first, revert)
	})
}
