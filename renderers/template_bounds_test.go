package renderers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/configsync/configsync/internal/filetree"
	"github.com/configsync/configsync/renderers"
)

// Sprig's string builders with huge counts fail at once with a message
// naming the limit, instead of allocating the operator's memory away;
// ordinary counts render as sprig does.
func TestTemplateStringBuildersAreBounded(t *testing.T) {
	for _, expr := range []string{
		`{{ repeat 1000000000 "abcdefgh" }}`,
		`{{ repeat -1 "a" }}`,
		`{{ randAlphaNum 1000000000 }}`,
		`{{ randAlpha 1000000000 }}`,
		`{{ randNumeric 1000000000 }}`,
		`{{ randAscii 1000000000 }}`,
		`{{ randBytes 1000000000 }}`,
		`{{ indent 1000000000 "a" }}`,
		`{{ nindent 1000000000 "a" }}`,
	} {
		t.Run(expr, func(t *testing.T) {
			start := time.Now()
			_, err := (&renderers.Template{}).Render(context.Background(), filetree.Tree{"a.yaml": []byte(expr)})
			if err == nil || !strings.Contains(err.Error(), "limit") && !strings.Contains(err.Error(), "between 0 and") {
				t.Fatalf("error %v, want one naming the limit", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("took %s", d)
			}
		})
	}
	out, err := (&renderers.Template{}).Render(context.Background(), filetree.Tree{"a.yaml": []byte(
		`{{ repeat 3 "ab" }} {{ len (randAlphaNum 16) }} {{ len (randAscii 8) }}{{ nindent 2 "x" }}`)})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out["a.yaml"]); got != "ababab 16 8\n  x" {
		t.Fatalf("got %q", got)
	}
}

// A template that would run for hours, writing a little at a time within
// every bound, stops when its step's context ends instead of going on in
// the background after the step has given up on it.
func TestATemplateStopsWhenItsStepTimesOut(t *testing.T) {
	slow := `{{ range until 10000 }}{{ range until 10000 }}{{ sha256sum (repeat 100000 "x") | trunc 1 }}{{ end }}{{ end }}`
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := (&renderers.Template{}).Render(ctx, filetree.Tree{"slow.yaml": []byte(slow)})
	if err == nil || !strings.Contains(err.Error(), context.DeadlineExceeded.Error()) {
		t.Fatalf("error %v, want the step's deadline", err)
	}
}
