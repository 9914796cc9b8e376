package source

import (
	"regexp"
	"strings"
	"testing"
)

func TestNormalizeURL(t *testing.T) {
	const want = "github.com/org/repo"
	same := []string{
		"https://github.com/org/repo.git",
		"https://github.com/org/repo",
		"https://GitHub.com/org/repo/",
		"http://github.com:80/org/repo.git",
		"https://user:token@github.com:443/org/repo.git",
		"ssh://git@github.com/org/repo.git",
		"ssh://git@github.com:22/org/repo",
		"git@github.com:org/repo.git",
		"github.com:org/repo",
		"git://github.com/org/repo.git",
		"  https://github.com/org/repo.git\n",
	}
	for _, in := range same {
		if got := NormalizeURL(in); got != want {
			t.Errorf("NormalizeURL(%q) = %q, want %q", in, got, want)
		}
	}
	other := map[string]string{
		"https://github.com/org/Repo.git":          "github.com/org/Repo",
		"https://git.example.com:8443/org/repo":    "git.example.com:8443/org/repo",
		"ssh://git@git.example.com:2222/org/repo":  "git.example.com:2222/org/repo",
		"http://127.0.0.1:37999/app.git":           "127.0.0.1:37999/app",
		"https://[::1]:8443/app.git":               "[::1]:8443/app",
		"https://gitlab.com/group/sub/project.git": "gitlab.com/group/sub/project",
		"":                        "",
		"not a url":               "",
		"https:///org/repo.git":   "",
		"https://github.com/":     "",
		"https://github.com/.git": "",
	}
	for in, want := range other {
		if got := NormalizeURL(in); got != want {
			t.Errorf("NormalizeURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzNormalizeURL(f *testing.F) {
	for _, s := range []string{"https://github.com/org/repo.git", "git@host:a/b.git", "ssh://u@h:22/p", "x", ":", "@:"} {
		f.Add(s)
	}
	plain := regexp.MustCompile(`^[a-z0-9.\-]+/[A-Za-z0-9._/~-]+$`)
	f.Fuzz(func(t *testing.T, raw string) {
		n := NormalizeURL(raw)
		if strings.Contains(n, "://") || strings.HasSuffix(n, ".git") || strings.HasSuffix(n, "/") {
			t.Fatalf("NormalizeURL(%q) = %q: not normal", raw, n)
		}
		// On plain host/path results, normalising is idempotent whatever
		// the scheme it is read back with.
		if !plain.MatchString(n) {
			return
		}
		for _, form := range []string{"https://" + n, "ssh://git@" + n + ".git"} {
			if again := NormalizeURL(form); again != n {
				t.Fatalf("NormalizeURL(%q) = %q, but NormalizeURL(%q) = %q", raw, n, form, again)
			}
		}
	})
}
