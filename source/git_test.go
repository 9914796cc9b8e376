package source_test

import (
	"context"
	"strings"
	"testing"

	"github.com/configsync/configsync/internal/failure"
	"github.com/configsync/configsync/internal/filetree"
	"github.com/configsync/configsync/internal/testgit"
	"github.com/configsync/configsync/source"
)

// A revision resolves as git rev-parse resolves it against the remote: a
// full or short SHA, a tag, a branch, any full ref name; a tag wins over a
// branch of the same name. The artifact says the full ref it came from.
func TestGitFetcherResolvesRevisionsAsGitDoes(t *testing.T) {
	srv := testgit.Start(t)
	repo := srv.NewRepo(t, "org/app.git")
	first := repo.Commit(t, map[string]string{"app.yaml": "v: 1\n"}, "first")
	repo.Tag(t, "v1.0.0")
	second := repo.Commit(t, map[string]string{"app.yaml": "v: 2\n"}, "second")
	repo.Branch(t, "staging")
	third := repo.Commit(t, map[string]string{"app.yaml": "v: 3\n"}, "third")
	repo.Tag(t, "both") // a tag and a branch of one name: the tag wins
	repo.Branch(t, "main")
	repo.Branch(t, "both")
	pull := repo.Commit(t, map[string]string{"app.yaml": "v: pull\n"}, "pull request")
	repo.Ref(t, "refs/pull/1/head")

	tests := []struct {
		name    string
		req     source.Request
		commit  string
		ref     string
		content string
	}{
		{"remote HEAD", source.Request{}, second, "refs/heads/main", "v: 2\n"},
		{"branch", source.Request{Branch: "staging"}, third, "refs/heads/staging", "v: 3\n"},
		{"tag", source.Request{Revision: "v1.0.0"}, first, "refs/tags/v1.0.0", "v: 1\n"},
		{"branch name as revision", source.Request{Revision: "staging"}, third, "refs/heads/staging", "v: 3\n"},
		{"main as revision", source.Request{Revision: "main"}, second, "refs/heads/main", "v: 2\n"},
		{"full branch ref", source.Request{Revision: "refs/heads/staging"}, third, "refs/heads/staging", "v: 3\n"},
		{"pull request ref", source.Request{Revision: "refs/pull/1/head"}, pull, "refs/pull/1/head", "v: pull\n"},
		{"ambiguous: the tag wins", source.Request{Revision: "both"}, third, "refs/tags/both", "v: 3\n"},
		{"full SHA", source.Request{Revision: first}, first, "", "v: 1\n"},
		{"short SHA", source.Request{Revision: first[:8]}, first, "", "v: 1\n"},
		{"tag on the branch", source.Request{Branch: "staging", Revision: "v1.0.0"}, first, "refs/tags/v1.0.0", "v: 1\n"},
		{"SHA on the branch", source.Request{Branch: "staging", Revision: second[:10]}, second, "", "v: 2\n"},
	}
	fetcher := &source.GitFetcher{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			req.URL = repo.URL
			art, err := fetcher.Fetch(context.Background(), req)
			if err != nil {
				t.Fatalf("fetch: %v", err)
			}
			defer art.Release()
			if art.Commit != tt.commit || art.Ref != tt.ref {
				t.Errorf("got %s from %q, want %s from %q", art.Commit, art.Ref, tt.commit, tt.ref)
			}
			if got := fileOf(t, art, "app.yaml"); got != tt.content {
				t.Errorf("app.yaml = %q; want %q", got, tt.content)
			}
			all, err := art.Load(".", filetree.DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range all.Paths() {
				if strings.HasPrefix(p, ".git/") {
					t.Errorf("artifact holds %s", p)
				}
			}
		})
	}

	refused := []struct {
		name string
		req  source.Request
		want string
	}{
		{"unknown name", source.Request{Revision: "no-such-thing"}, "neither a commit SHA nor a tag, branch or ref"},
		{"unknown ref", source.Request{Revision: "refs/pull/2/head"}, "neither a commit SHA nor a tag, branch or ref"},
		{"a commit not on the branch", source.Request{Branch: "main", Revision: third}, `is not on branch "main"`},
		{"a tag not on the branch", source.Request{Branch: "main", Revision: "both"}, `is not on branch "main"`},
		{"the branch is missing", source.Request{Branch: "nope", Revision: first}, `branch "nope" not found`},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			req.URL = repo.URL
			_, err := fetcher.Fetch(context.Background(), req)
			if got := failure.ReasonOf(err); got != source.ReasonRevisionNotFound || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %q (%v), want RevisionNotFound saying %q", got, err, tt.want)
			}
		})
	}
}

func TestGitFetcherReusesTheArtifactOfAnUnchangedCommit(t *testing.T) {
	srv := testgit.Start(t)
	repo := srv.NewRepo(t, "app.git")
	repo.Commit(t, map[string]string{"a.yaml": "a: 1\n"}, "first")
	fetcher := &source.GitFetcher{}
	ctx := context.Background()

	first, err := fetcher.Fetch(ctx, source.Request{URL: repo.URL})
	if err != nil {
		t.Fatal(err)
	}
	again, err := fetcher.Fetch(ctx, source.Request{URL: repo.URL})
	if err != nil {
		t.Fatal(err)
	}
	if n := srv.UploadPacks(); n != 1 || again.Commit != first.Commit {
		t.Fatalf("second fetch: %d downloads in all, commit %s; want 1 and %s", n, again.Commit, first.Commit)
	}

	sha := repo.Commit(t, map[string]string{"a.yaml": "a: 2\n"}, "second")
	changed, err := fetcher.Fetch(ctx, source.Request{URL: repo.URL})
	if err != nil {
		t.Fatal(err)
	}
	if changed.Commit != sha || srv.UploadPacks() != 2 || fileOf(t, changed, "a.yaml") != "a: 2\n" {
		t.Fatalf("after a new commit got %s, %d downloads in all", changed.Commit, srv.UploadPacks())
	}
	if got := fileOf(t, first, "a.yaml"); got != "a: 1\n" {
		t.Fatalf("the first commit's artifact changed: a.yaml = %q", got)
	}
}

func TestGitFetcherClassifiesFailures(t *testing.T) {
	srv := testgit.Start(t)
	repo := srv.NewRepo(t, "app.git")
	repo.Commit(t, map[string]string{"a.yaml": "a: 1\n"}, "first")
	empty := srv.NewRepo(t, "empty.git")

	tests := []struct {
		name string
		req  source.Request
		want string
	}{
		{"missing branch", source.Request{URL: repo.URL, Branch: "nope"}, source.ReasonRevisionNotFound},
		{"missing tag or SHA", source.Request{URL: repo.URL, Revision: "no-such-tag"}, source.ReasonRevisionNotFound},
		{"missing commit", source.Request{URL: repo.URL, Revision: "0123456789abcdef0123456789abcdef01234567"}, source.ReasonRevisionNotFound},
		{"missing repository", source.Request{URL: srv.HTTPAddress() + "/nope.git"}, source.ReasonRevisionNotFound},
		{"empty repository", source.Request{URL: empty.URL}, source.ReasonRevisionNotFound},
		{"nothing listening", source.Request{URL: "http://127.0.0.1:1/app.git"}, source.ReasonSourceUnreachable},
	}
	fetcher := &source.GitFetcher{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := fetcher.Fetch(context.Background(), tt.req)
			if got := failure.ReasonOf(err); got != tt.want {
				t.Fatalf("reason %q (%v), want %q", got, err, tt.want)
			}
		})
	}
}
