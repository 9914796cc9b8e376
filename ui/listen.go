package ui

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"
)

// DefaultAddress is where `configsync ui` listens unless told otherwise.
const DefaultAddress = "127.0.0.1:9898"

// ErrRemote refuses a listen address other machines could reach: the page
// acts with the user's credentials.
var ErrRemote = errors.New("not a loopback address: the page acts with your credentials; pass --allow-remote to serve it to other machines")

// Listen opens addr, refusing a non-loopback address unless allowRemote,
// and returns the Host headers the server should accept (nil: any, when
// remote access is allowed).
func Listen(addr string, allowRemote bool) (net.Listener, []string, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen address %q: %w", addr, err)
	}
	if !allowRemote && !isLoopback(host) {
		return nil, nil, fmt.Errorf("listen address %q: %w", addr, ErrRemote)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	if allowRemote {
		return l, nil, nil
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	hosts := []string{l.Addr().String()}
	for _, name := range []string{"localhost", "127.0.0.1", "[::1]"} {
		hosts = append(hosts, name+":"+port)
	}
	return l, hosts, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// URL is the address to open for a listener.
func URL(l net.Listener) string {
	a := l.Addr().(*net.TCPAddr)
	if a.IP.IsUnspecified() {
		return fmt.Sprintf("http://localhost:%d/", a.Port)
	}
	return "http://" + a.String() + "/"
}

// Serve serves h on l until ctx ends, then stops within a few seconds
// (event streams are cut).
func Serve(ctx context.Context, l net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
