package source_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/configsync/configsync/internal/failure"
	"github.com/configsync/configsync/internal/testgit"
	"github.com/configsync/configsync/source"
)

func TestHTTPAuth(t *testing.T) {
	basic := testgit.StartWith(t, testgit.Options{Username: "alice", Password: "s3cret-basic-pw"})
	basicRepo := basic.NewRepo(t, "private.git")
	basicSHA := basicRepo.Commit(t, map[string]string{"a.yaml": "a: 1\n"}, "first")
	bearer := testgit.StartWith(t, testgit.Options{BearerToken: "tok-0123456789"})
	bearerRepo := bearer.NewRepo(t, "private.git")
	bearerSHA := bearerRepo.Commit(t, map[string]string{"a.yaml": "a: 1\n"}, "first")

	withPassword := func(raw, user, pw string) string {
		u, _ := url.Parse(raw)
		u.User = url.UserPassword(user, pw)
		return u.String()
	}
	withUser := func(raw, user string) string {
		u, _ := url.Parse(raw)
		u.User = url.User(user)
		return u.String()
	}
	https := func(data map[string]string) *source.Auth {
		t.Helper()
		bytes := map[string][]byte{}
		for k, v := range data {
			bytes[k] = []byte(v)
		}
		a, err := source.AuthFromSecret(source.MethodHTTPS, bytes, false)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}

	tests := []struct {
		name    string
		req     source.Request
		want    string // commit SHA, or "" for AuthenticationFailed
		secrets []string
	}{
		{"basic auth", source.Request{URL: basicRepo.URL, Auth: https(map[string]string{"username": "alice", "password": "s3cret-basic-pw"})}, basicSHA, nil},
		{"wrong password", source.Request{URL: basicRepo.URL, Auth: https(map[string]string{"username": "alice", "password": "wrong-password-123"})}, "", []string{"wrong-password-123"}},
		{"no credentials", source.Request{URL: basicRepo.URL}, "", nil},
		{"wrong password in the URL", source.Request{URL: withPassword(basicRepo.URL, "alice", "url-pw-987654")}, "", []string{"url-pw-987654"}},
		{"token as the URL's user name", source.Request{URL: withUser(basicRepo.URL, "ghp_tokenAsUserName0123")}, "", []string{"ghp_tokenAsUserName0123"}},
		{"token as the URL's user name, x-oauth-basic", source.Request{URL: withPassword(basicRepo.URL, "ghp_tokenAsUserName0456", "x-oauth-basic")}, "", []string{"ghp_tokenAsUserName0456"}},
		{"bearer token", source.Request{URL: bearerRepo.URL, Auth: https(map[string]string{"bearerToken": "tok-0123456789"})}, bearerSHA, nil},
		{"wrong bearer token", source.Request{URL: bearerRepo.URL, Auth: https(map[string]string{"bearerToken": "tok-wrong-000000"})}, "", []string{"tok-wrong-000000"}},
	}
	// The test servers speak plain HTTP on loopback.
	fetcher := &source.GitFetcher{AllowPlainHTTPCredentials: true}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			art, err := fetcher.Fetch(context.Background(), tt.req)
			if tt.want != "" {
				if err != nil {
					t.Fatalf("fetch: %v", err)
				}
				defer art.Release()
				if art.Commit != tt.want {
					t.Fatalf("commit %s, want %s", art.Commit, tt.want)
				}
				return
			}
			if got := failure.ReasonOf(err); got != source.ReasonAuthenticationFailed {
				t.Fatalf("reason %q (%v), want AuthenticationFailed", got, err)
			}
			t.Logf("error: %v", err)
			for _, secret := range tt.secrets {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("the error shows a credential: %v", err)
				}
			}
		})
	}
}

func newSSHKey(t *testing.T) (ssh.PublicKey, []byte) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sshPub, pem.EncodeToMemory(block)
}

func TestSSHAuth(t *testing.T) {
	srv := testgit.Start(t)
	repo := srv.NewRepo(t, "app.git")
	sha := repo.Commit(t, map[string]string{"a.yaml": "a: 1\n"}, "first")
	clientPub, clientKey := newSSHKey(t)
	sshSrv := srv.StartSSH(t, clientPub)
	repoURL := sshSrv.URL + "/app.git"

	_, strangerKey := newSSHKey(t)
	// A host key of the server's type (RSA) that is not the server's.
	otherRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherHostPub, err := ssh.NewPublicKey(&otherRSA.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	wrongKnownHosts := strings.Fields(sshSrv.KnownHosts)[0] + " " + string(ssh.MarshalAuthorizedKey(otherHostPub))

	sshAuth := func(identity []byte, knownHosts string, insecure bool) *source.Auth {
		t.Helper()
		a, err := source.AuthFromSecret(source.MethodSSH, map[string][]byte{"identity": identity, "known_hosts": []byte(knownHosts)}, insecure)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	tests := []struct {
		name string
		auth *source.Auth
		ok   bool
	}{
		{"key and known host", sshAuth(clientKey, sshSrv.KnownHosts, false), true},
		{"wrong host key", sshAuth(clientKey, wrongKnownHosts, false), false},
		{"unknown client key", sshAuth(strangerKey, sshSrv.KnownHosts, false), false},
		{"host key check opted out", sshAuth(clientKey, "", true), true},
	}
	fetcher := &source.GitFetcher{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			art, err := fetcher.Fetch(context.Background(), source.Request{URL: repoURL, Auth: tt.auth})
			if !tt.ok {
				if got := failure.ReasonOf(err); got != source.ReasonAuthenticationFailed {
					t.Fatalf("reason %q (%v), want AuthenticationFailed", got, err)
				}
				t.Logf("error: %v", err)
				if strings.Contains(err.Error(), "PRIVATE KEY") {
					t.Fatalf("the error shows the key: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("fetch: %v", err)
			}
			defer art.Release()
			if art.Commit != sha {
				t.Fatalf("commit %s, want %s", art.Commit, sha)
			}
			if got := fileOf(t, art, "a.yaml"); got != "a: 1\n" {
				t.Fatalf("a.yaml = %q", got)
			}
		})
	}
}

func TestAuthFromSecretRejectsIncompleteSecrets(t *testing.T) {
	tests := []struct {
		name   string
		method source.Method
		data   map[string][]byte
		want   string
	}{
		{"https without password or token", source.MethodHTTPS, map[string][]byte{"username": []byte("a")}, "neither"},
		{"https with token and password", source.MethodHTTPS, map[string][]byte{"bearerToken": []byte("t"), "password": []byte("p")}, "use one"},
		{"ssh without identity", source.MethodSSH, map[string][]byte{"known_hosts": []byte("x")}, `no "identity"`},
		{"ssh without known_hosts", source.MethodSSH, map[string][]byte{"identity": []byte("x")}, `no "known_hosts"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := source.AuthFromSecret(tt.method, tt.data, false)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestHostOfRepositoryURLs(t *testing.T) {
	for raw, want := range map[string]string{
		"https://GitHub.com/org/repo.git":       "github.com",
		"ssh://git@git.example.com:2222/org/r":  "git.example.com",
		"git@gitlab.example.com:org/repo.git":   "gitlab.example.com",
		"https://user:pw@git.example.com/r.git": "git.example.com",
	} {
		if got := source.Host(raw); got != want {
			t.Errorf("Host(%q) = %q, want %q", raw, got, want)
		}
	}
}

func TestRedactURLHidesEveryHTTPCredential(t *testing.T) {
	for raw, want := range map[string]string{
		"https://user:pw@git.example.com/r.git":                   "https://xxxxx:xxxxx@git.example.com/r.git",
		"https://ghp_0123456789abcdef@github.com/org/r.git":       "https://xxxxx@github.com/org/r.git",
		"https://ghp_0123456789abcdef:x-oauth-basic@github.com/r": "https://xxxxx:xxxxx@github.com/r",
		"http://glpat-secret-token@gitlab.example.com/r.git":      "http://xxxxx@gitlab.example.com/r.git",
		"https://ghp_0123456789abcdef@github.com:notaport/r.git":  "https://xxxxx@github.com:notaport/r.git",
		"https://git.example.com/r.git":                           "https://git.example.com/r.git",
		"ssh://git@git.example.com:2222/org/r.git":                "ssh://git@git.example.com:2222/org/r.git",
		"ssh://git:passphrase@git.example.com/org/r.git":          "ssh://git:xxxxx@git.example.com/org/r.git",
		"git@github.com:org/r.git":                                "git@github.com:org/r.git",
	} {
		if got := source.RedactURL(raw); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", raw, got, want)
		}
	}
}

// TestCredentialsNeverGoOverPlainHTTP: authMethod https, or credentials in
// the URL, with an http:// URL fail with AuthenticationFailed before any
// connection, unless the admin allows it.
func TestCredentialsNeverGoOverPlainHTTP(t *testing.T) {
	var requests atomic.Int64
	listener := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Error(w, "no", http.StatusUnauthorized)
	}))
	defer listener.Close()
	repoURL := listener.URL + "/org/app.git"
	tokenURL := strings.Replace(repoURL, "http://", "http://ghp_plainHTTPtoken42@", 1)
	bearer, err := source.AuthFromSecret(source.MethodHTTPS, map[string][]byte{"bearerToken": []byte("plain-http-bearer-77")}, false)
	if err != nil {
		t.Fatal(err)
	}
	basic, err := source.AuthFromSecret(source.MethodHTTPS, map[string][]byte{"username": []byte("u"), "password": []byte("plain-http-pw-88")}, false)
	if err != nil {
		t.Fatal(err)
	}
	for name, req := range map[string]source.Request{
		"bearer token":          {URL: repoURL, Auth: bearer},
		"basic auth":            {URL: repoURL, Auth: basic},
		"token in the URL":      {URL: tokenURL},
		"password in the URL":   {URL: strings.Replace(repoURL, "http://", "http://u:plain-http-pw-99@", 1)},
		"https auth, URL token": {URL: tokenURL, Auth: basic},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := (&source.GitFetcher{}).Fetch(context.Background(), req)
			if got := failure.ReasonOf(err); got != source.ReasonAuthenticationFailed {
				t.Fatalf("reason %q (%v), want AuthenticationFailed", got, err)
			}
			if !strings.Contains(err.Error(), "unencrypted") {
				t.Errorf("the message does not say why: %v", err)
			}
			for _, secret := range []string{"ghp_plainHTTPtoken42", "plain-http-bearer-77", "plain-http-pw-88", "plain-http-pw-99"} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("the error shows a credential: %v", err)
				}
			}
			if n := requests.Load(); n != 0 {
				t.Fatalf("%d requests reached the server", n)
			}
		})
	}
	// Allowed by the admin, the credentials go out (and the server refuses them).
	_, err = (&source.GitFetcher{AllowPlainHTTPCredentials: true}).Fetch(context.Background(), source.Request{URL: repoURL, Auth: bearer})
	if got := failure.ReasonOf(err); got != source.ReasonAuthenticationFailed || requests.Load() == 0 {
		t.Fatalf("allowed: reason %q (%v), %d requests", got, err, requests.Load())
	}
	// Without credentials, plain HTTP is as before.
	requests.Store(0)
	_, _ = (&source.GitFetcher{}).Fetch(context.Background(), source.Request{URL: repoURL})
	if requests.Load() == 0 {
		t.Fatal("an anonymous http:// fetch was refused")
	}
}
