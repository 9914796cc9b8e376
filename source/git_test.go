package source_test

import (
	"context"
	"path"
	"strings"
	"testing"

	"github.com/configsync/configsync/internal/filetree"
	"github.com/configsync/configsync/internal/testgit"
	"github.com/configsync/configsync/source"
)

func TestGitFetcherResolvesRefsOverSmartHTTP(t *testing.T) {
	srv := testgit.Start(t)
	repo := srv.NewRepo(t, "org/app.git")
	first := repo.Commit(t, map[string]string{"app.yaml": "v: 1\n"}, "first")
	repo.Tag(t, "v1.0.0")
	second := repo.Commit(t, map[string]string{"app.yaml": "v: 2\n"}, "second")
	repo.Branch(t, "staging")
	third := repo.Commit(t, map[string]string{"app.yaml": "v: 3\n"}, "third")

	tests := []struct {
		name     string
		req      source.Request
		commit   string
		revision string
		content  string
	}{
		{"remote HEAD", source.Request{}, second, "main@sha1:" + second, "v: 2\n"},
		{"branch", source.Request{Branch: "staging"}, third, "staging@sha1:" + third, "v: 3\n"},
		{"tag wins over branch", source.Request{Branch: "staging", Revision: "v1.0.0"}, first, "v1.0.0@sha1:" + first, "v: 1\n"},
		{"full SHA", source.Request{Revision: first}, first, first[:12] + "@sha1:" + first, "v: 1\n"},
		{"short SHA", source.Request{Revision: first[:8]}, first, first[:8] + "@sha1:" + first, "v: 1\n"},
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
			if art.Commit != tt.commit || art.Revision() != tt.revision {
				t.Errorf("got %s (%s), want %s (%s)", art.Commit, art.Revision(), tt.commit, tt.revision)
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

// fileOf reads one file of an artifact.
func fileOf(t *testing.T, art *source.Artifact, name string) string {
	t.Helper()
	tree, err := art.Load(name, filetree.DefaultLimits)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return string(tree[path.Base(name)])
}

func TestGitFetcherClassifiesFailures(t *testing.T) {
	srv := testgit.Start(t)
	repo := srv.NewRepo(t, "app.git")
	repo.Commit(t, map[string]string{"a.yaml": "a: 1\n"}, "first")
	empty := srv.NewRepo(t, "empty.git")

	tests := []struct {
		name string
		req  source.Request
		want source.Reason
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
			if got := source.ReasonOf(err); got != tt.want {
				t.Fatalf("reason %q (%v), want %q", got, err, tt.want)
			}
		})
	}
}
