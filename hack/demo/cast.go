package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// cast writes what passes through it to a terminal too, and records it as
// asciinema v2 (a JSON header, then one [seconds, "o", text] event per write).
type cast struct {
	file  *os.File
	term  io.Writer
	start time.Time
}

func newCast(path string, term io.Writer) (*cast, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	header := map[string]any{"version": 2, "width": 110, "height": 36, "timestamp": time.Now().Unix(),
		"title": "ConfigSync: make demo", "env": map[string]string{"SHELL": "/bin/bash", "TERM": "xterm-256color"}}
	if err := json.NewEncoder(f).Encode(header); err != nil {
		return nil, err
	}
	return &cast{file: f, term: term, start: time.Now()}, nil
}

func (c *cast) Write(p []byte) (int, error) {
	if _, err := c.term.Write(p); err != nil {
		return 0, err
	}
	text := strings.ReplaceAll(string(p), "\n", "\r\n")
	event, err := json.Marshal([]any{time.Since(c.start).Seconds(), "o", text})
	if err != nil {
		return 0, err
	}
	if _, err := fmt.Fprintf(c.file, "%s\n", event); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *cast) Close() error { return c.file.Close() }
