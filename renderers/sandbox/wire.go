package sandbox

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"time"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/filetree"
	"github.com/configsync/configsync/renderers"
)

// The stream between the manager and a child, each way: a header, then the
// tree's files one gob value each, so that no side encodes or decodes a
// whole tree into a buffer of its own.

// requestHeader opens what the child reads from its stdin.
type requestHeader struct {
	Steps       []configsv1.RenderStep
	Inputs      renderers.Inputs
	StepTimeout time.Duration
	MemoryLimit int64
	Files       int
}

// answerHeader opens what the child writes to its stdout.
type answerHeader struct {
	// Step is set when a step failed (1-based, as renderers.StepError).
	Step     int
	StepKind string
	Err      string
	Files    int
}

// answer is a child's answer as the manager read it.
type answer struct {
	answerHeader
	Tree filetree.Tree
}

type file struct {
	Path string
	Data []byte
}

func writeRequest(w io.Writer, req requestHeader, tree filetree.Tree) error {
	bw := bufio.NewWriter(w)
	enc := gob.NewEncoder(bw)
	if err := enc.Encode(&req); err != nil {
		return fmt.Errorf("encode the render request: %w", err)
	}
	if err := writeFiles(enc, tree); err != nil {
		return err
	}
	return bw.Flush()
}

func writeAnswer(w io.Writer, h answerHeader, tree filetree.Tree) error {
	bw := bufio.NewWriter(w)
	enc := gob.NewEncoder(bw)
	h.Files = len(tree)
	if err := enc.Encode(&h); err != nil {
		return fmt.Errorf("encode the answer: %w", err)
	}
	if err := writeFiles(enc, tree); err != nil {
		return err
	}
	return bw.Flush()
}

func writeFiles(enc *gob.Encoder, tree filetree.Tree) error {
	for _, path := range tree.Paths() {
		if err := enc.Encode(&file{Path: path, Data: tree[path]}); err != nil {
			return fmt.Errorf("encode %s: %w", path, err)
		}
	}
	return nil
}

// readAnswer reads a child's answer, refusing one over limits before it
// holds it.
func readAnswer(r io.Reader, limits filetree.Limits) (*answer, error) {
	// A gob value is framed by its length: the reader is cut a little past
	// the largest answer the limits allow.
	dec := gob.NewDecoder(bufio.NewReader(io.LimitReader(r, limits.MaxTotalBytes+int64(limits.MaxFiles)*4096+1<<20)))
	var a answer
	if err := dec.Decode(&a.answerHeader); err != nil {
		return nil, fmt.Errorf("decode the answer: %w", err)
	}
	if a.Err != "" {
		return &a, nil
	}
	tree, err := readFiles(dec, a.Files, limits)
	if err != nil {
		return nil, err
	}
	a.Tree = tree
	return &a, nil
}

func readFiles(dec *gob.Decoder, n int, limits filetree.Limits) (filetree.Tree, error) {
	if n > limits.MaxFiles {
		return nil, fmt.Errorf("%d files, more than %d: %w", n, limits.MaxFiles, filetree.ErrTooLarge)
	}
	tree := make(filetree.Tree, n)
	var total int64
	for range n {
		var f file
		if err := dec.Decode(&f); err != nil {
			return nil, fmt.Errorf("decode a file: %w", err)
		}
		if total += int64(len(f.Data)); total > limits.MaxTotalBytes {
			return nil, fmt.Errorf("more than %d bytes: %w", limits.MaxTotalBytes, filetree.ErrTooLarge)
		}
		tree[f.Path] = f.Data
	}
	return tree, nil
}

func (a *answer) result() (filetree.Tree, error) {
	switch {
	case a.Err == "":
		return a.Tree, nil
	case a.Step > 0:
		return nil, &renderers.StepError{Index: a.Step, Kind: a.StepKind, Err: errors.New(a.Err)}
	}
	return nil, errors.New(a.Err)
}
