package source

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
)

// Method is how to authenticate to a Git server.
type Method string

const (
	MethodNone  Method = "none"
	MethodHTTPS Method = "https"
	MethodSSH   Method = "ssh"
)

// Keys of an authentication Secret, the same as Flux's GitRepository uses so
// that existing Secrets work unchanged.
const (
	KeyUsername    = "username"
	KeyPassword    = "password"
	KeyBearerToken = "bearerToken"
	KeyCAFile      = "caFile"
	KeyIdentity    = "identity"
	KeyKnownHosts  = "known_hosts"
)

// Auth holds the credentials of one fetch. Its String never shows them.
type Auth struct {
	Method      Method
	Username    string
	Password    string // https password, or the passphrase of an ssh identity
	BearerToken string
	CABundle    []byte
	Identity    []byte // ssh private key, PEM
	KnownHosts  []byte
	// InsecureSkipHostKey accepts any SSH host key.
	InsecureSkipHostKey bool
}

func (a *Auth) String() string {
	if a == nil {
		return "none"
	}
	return string(a.Method) + " (redacted)"
}

// AuthFromSecret reads the credentials of method from a Secret's data. It is
// a pure function: the caller reads the Secret.
func AuthFromSecret(method Method, data map[string][]byte, insecureSkipHostKey bool) (*Auth, error) {
	a := &Auth{
		Method:              method,
		Username:            string(data[KeyUsername]),
		Password:            string(data[KeyPassword]),
		BearerToken:         string(data[KeyBearerToken]),
		CABundle:            data[KeyCAFile],
		Identity:            data[KeyIdentity],
		KnownHosts:          data[KeyKnownHosts],
		InsecureSkipHostKey: insecureSkipHostKey,
	}
	switch method {
	case MethodHTTPS:
		if a.BearerToken == "" && a.Password == "" {
			return nil, fmt.Errorf("the Secret has neither %q nor %q", KeyBearerToken, KeyPassword)
		}
		if a.BearerToken != "" && (a.Username != "" || a.Password != "") {
			return nil, fmt.Errorf("the Secret sets %q and also %q or %q: use one", KeyBearerToken, KeyUsername, KeyPassword)
		}
	case MethodSSH:
		if len(a.Identity) == 0 {
			return nil, fmt.Errorf("the Secret has no %q", KeyIdentity)
		}
		if len(a.KnownHosts) == 0 && !insecureSkipHostKey {
			return nil, fmt.Errorf("the Secret has no %q: host keys are always verified unless insecureSkipHostKeyVerification is set", KeyKnownHosts)
		}
	default:
		return nil, fmt.Errorf("unknown auth method %q", method)
	}
	return a, nil
}

// identity is a digest of the credentials, for keying the cache: a
// repository fetched with one identity is never served to another.
func (a *Auth) identity() string {
	if a == nil {
		return "none"
	}
	h := sha256.New()
	for _, part := range [][]byte{[]byte(a.Method), []byte(a.Username), []byte(a.Password), []byte(a.BearerToken),
		a.CABundle, a.Identity, a.KnownHosts, []byte(strconv.FormatBool(a.InsecureSkipHostKey))} {
		fmt.Fprintf(h, "%d:", len(part))
		h.Write(part)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// secrets lists the values that must never appear in a message.
func (a *Auth) secrets() []string {
	if a == nil {
		return nil
	}
	var out []string
	for _, s := range []string{a.Password, a.BearerToken, string(a.Identity)} {
		if len(s) >= 4 { // shorter values would redact ordinary words
			out = append(out, s)
		}
	}
	return out
}

// transportAuth turns Auth into go-git's auth method for url.
func (a *Auth) transportAuth(url string) (transport.AuthMethod, error) {
	if a == nil || a.Method == MethodNone {
		return nil, nil
	}
	ep, err := transport.NewEndpoint(url)
	if err != nil {
		return nil, fmt.Errorf("parse repository URL: %w", err)
	}
	switch a.Method {
	case MethodHTTPS:
		if ep.Protocol != "https" && ep.Protocol != "http" {
			return nil, fmt.Errorf("authMethod https needs an http(s):// URL, got %s://", ep.Protocol)
		}
		if a.BearerToken != "" {
			return &githttp.TokenAuth{Token: a.BearerToken}, nil
		}
		user := a.Username
		if user == "" {
			user = "git" // token-as-password hosts ignore the user name
		}
		return &githttp.BasicAuth{Username: user, Password: a.Password}, nil
	case MethodSSH:
		if ep.Protocol != "ssh" {
			return nil, fmt.Errorf("authMethod ssh needs an ssh:// or user@host:path URL, got %s://", ep.Protocol)
		}
		user := ep.User
		if user == "" {
			user = "git"
		}
		keys, err := gitssh.NewPublicKeys(user, a.Identity, a.Password)
		if err != nil {
			// The parser's message never quotes the key.
			return nil, fmt.Errorf("parse the ssh identity: %w", err)
		}
		if a.InsecureSkipHostKey {
			keys.HostKeyCallback = ssh.InsecureIgnoreHostKey() //nolint:gosec // the user opted out, and status says so
			return keys, nil
		}
		callback, algorithms, err := knownHostsCallback(a.KnownHosts, net.JoinHostPort(ep.Host, strconv.Itoa(portOr(ep.Port, 22))))
		if err != nil {
			return nil, err
		}
		keys.HostKeyCallback, keys.HostKeyAlgorithms = callback, algorithms
		return keys, nil
	}
	return nil, fmt.Errorf("unknown auth method %q", a.Method)
}

// knownHostsCallback verifies host keys against known_hosts content. The
// parser reads files, so the content goes through a short-lived file.
func knownHostsCallback(content []byte, hostport string) (ssh.HostKeyCallback, []string, error) {
	f, err := os.CreateTemp("", "known_hosts-")
	if err != nil {
		return nil, nil, fmt.Errorf("write known_hosts: %w", err)
	}
	defer os.Remove(f.Name())
	_, werr := f.Write(content)
	if cerr := f.Close(); werr != nil || cerr != nil {
		return nil, nil, fmt.Errorf("write known_hosts: %w", errors.Join(werr, cerr))
	}
	db, err := gitssh.NewKnownHostsDb(f.Name())
	if err != nil {
		return nil, nil, fmt.Errorf("parse known_hosts: %w", err)
	}
	return db.HostKeyCallback(), db.HostKeyAlgorithms(hostport), nil
}

func portOr(port, def int) int {
	if port == 0 {
		return def
	}
	return port
}

// refuseCleartext refuses to send credentials over plain http://: those of
// authMethod https, and a user name or password in the URL itself, which
// go-git sends as basic auth. Its message quotes nothing of them.
func refuseCleartext(raw string, a *Auth) error {
	u, err := url.Parse(raw)
	if err != nil || !strings.EqualFold(u.Scheme, "http") {
		return nil
	}
	switch {
	case a != nil && a.Method == MethodHTTPS:
		return fmt.Errorf("authMethod https with the plain http:// URL %s would send the credentials unencrypted: use https://", RedactURL(raw))
	case u.User != nil:
		return fmt.Errorf("the plain http:// URL %s carries credentials, which would be sent unencrypted: use https:// and an authSecretRef", RedactURL(raw))
	}
	return nil
}
