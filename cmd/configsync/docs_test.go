package main

import (
	"os"
	"path/filepath"
	"regexp"
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

// outline.md says where each part lives: every link and path it names
// exists, and every function or type it names beside a Go file is declared
// in that file, so the page cannot drift from the code unnoticed.
func TestOutlineNamesOnlyWhatExists(t *testing.T) {
	t.Chdir("../..")
	data, err := os.ReadFile("outline.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	checked := 0
	for _, m := range regexp.MustCompile(`\]\(([^)#]+)\)`).FindAllStringSubmatch(text, -1) {
		checked++
		if _, err := os.Stat(m[1]); err != nil {
			t.Errorf("link %s: %v", m[1], err)
		}
	}
	for _, m := range regexp.MustCompile("`([A-Za-z0-9_.-]+/[A-Za-z0-9_./-]*)`").FindAllStringSubmatch(text, -1) {
		p := m[1]
		if strings.HasPrefix(p, "kubectl") || strings.Contains(p, "example.io") {
			continue
		}
		checked++
		if _, err := os.Stat(p); err != nil {
			t.Errorf("path %s: %v", p, err)
		}
	}
	for _, m := range regexp.MustCompile("`([A-Za-z0-9_./-]+\\.go)` \\(([^)]*)\\)").FindAllStringSubmatch(text, -1) {
		src, err := os.ReadFile(m[1])
		if err != nil {
			t.Errorf("%s: %v", m[1], err)
			continue
		}
		for _, name := range regexp.MustCompile("`([A-Za-z][A-Za-z0-9_.]*)`").FindAllStringSubmatch(m[2], -1) {
			ident := name[1][strings.LastIndex(name[1], ".")+1:]
			if strings.HasPrefix(ident, "onFailure") || strings.HasPrefix(name[1], ".") {
				continue // a field or a template name, not a declaration
			}
			checked++
			decl := regexp.MustCompile(`(?m)^(func (\([^)]*\) )?` + ident + `\(|type ` + ident + ` )`)
			if !decl.Match(src) {
				t.Errorf("%s declares no %s", m[1], name[1])
			}
		}
	}
	if checked < 40 {
		t.Fatalf("checked only %d names: the patterns no longer match outline.md", checked)
	}
}
