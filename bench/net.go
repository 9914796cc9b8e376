package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"time"
)

var httpClient = &http.Client{Timeout: 30 * time.Second}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
