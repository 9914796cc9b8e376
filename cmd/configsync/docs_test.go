package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// docCommands returns the `go run ./cmd/configsync render ...` commands of
// the Markdown files' shell blocks, continuation lines joined.
func docCommands(t *testing.T, files []string) [][]string {
	t.Helper()
	var out [][]string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inShell, line := false, ""
		for _, l := range strings.Split(string(data), "\n") {
			switch {
			case strings.HasPrefix(l, "```sh"):
				inShell = true
				continue
			case strings.HasPrefix(l, "```"):
				inShell = false
				continue
			case !inShell:
				continue
			}
			line += strings.TrimSuffix(strings.TrimSpace(l), "\\")
			if strings.HasSuffix(strings.TrimSpace(l), "\\") {
				line += " "
				continue
			}
			if rest, ok := strings.CutPrefix(line, "go run ./cmd/configsync "); ok && strings.HasPrefix(rest, "render ") {
				out = append(out, strings.Fields(rest))
			}
			line = ""
		}
	}
	return out
}

// The render commands the README and docs show, copied as written and run
// from the repository's root, work: every one whose files exist in the
// repository (the generic ones name placeholders).
func TestDocumentedRenderCommandsWork(t *testing.T) {
	t.Chdir("../..")
	files, _ := filepath.Glob("docs/renderers/*.md")
	files = append(files, "README.md", "docs/renderers.md")
	ran := 0
	for _, args := range docCommands(t, files) {
		if !filesExist(args) {
			continue
		}
		if _, err := runCLI(t, args...); err != nil {
			t.Errorf("configsync %s: %v", strings.Join(args, " "), err)
		}
		ran++
	}
	if ran < 5 {
		t.Fatalf("ran %d documented commands, want one per renderer at least", ran)
	}
}

func filesExist(args []string) bool {
	for i, a := range args {
		if (a == "-f" || a == "--source" || a == "--age-key-file") && i+1 < len(args) {
			if _, err := os.Stat(args[i+1]); err != nil {
				return false
			}
		}
	}
	return true
}
