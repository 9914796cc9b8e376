package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/configsync/configsync/ui"
)

// syncBuffer is written by the command while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// `configsync ui` refuses a non-loopback address unless told, and
// otherwise prints the URL of a page that lists the kubeconfig cluster's
// ConfigSyncs, until its context ends.
func TestUICommandServesOnLoopback(t *testing.T) {
	kubeconfig, _ := startCluster(t)
	if _, err := runCLI(t, "ui", "--kubeconfig", kubeconfig, "--listen", "0.0.0.0:0"); !errors.Is(err, ui.ErrRemote) {
		t.Fatalf("a wildcard address: %v, want ErrRemote", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := newRootCommand()
	out := &syncBuffer{}
	cmd.SetOut(out)
	cmd.SetErr(io.Discard)
	cmd.SetArgs([]string{"ui", "--kubeconfig", kubeconfig, "--listen", "127.0.0.1:0"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	printed := regexp.MustCompile(`ConfigSync UI: (http://127\.0\.0\.1:\d+/)`)
	var url string
	deadline := time.After(30 * time.Second)
	for url == "" {
		if m := printed.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("configsync ui ended: %v\n%s", err, out.String())
		case <-deadline:
			t.Fatalf("no URL printed:\n%s", out.String())
		case <-time.After(20 * time.Millisecond): // polls the output for the line
		}
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Showing all namespaces") {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("configsync ui after its context ended: %v", err)
	}
}
