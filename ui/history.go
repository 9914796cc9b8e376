package ui

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/apply"
	"github.com/configsync/configsync/desired"
	"github.com/configsync/configsync/internal/filetree"
	"github.com/configsync/configsync/internal/objdiff"
	"github.com/configsync/configsync/renderers"
	"github.com/configsync/configsync/source"
)

type historyData struct {
	Namespace, Name string
	Entry           configsv1.HistoryEntry
	Previous        string // the revision diffed against; "" for none
	Lines           []diffLine
	Changed         int
	Error           string
}

type diffLine struct{ Class, Text string }

// historyDiff shows what a history entry's revision renders against what
// the entry before it (the next older one of another commit) renders,
// object by object, masked as `configsync diff` masks.
func (s *Server) historyDiff(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*requestTimeout)
	defer cancel()
	cs, err := s.get(ctx, r)
	if err != nil {
		s.failPage(w, err)
		return
	}
	d := historyData{Namespace: cs.Namespace, Name: cs.Name}
	i := entryIndex(cs.Status.History, r.PathValue("revision"))
	if i < 0 {
		http.NotFound(w, r)
		return
	}
	d.Entry = cs.Status.History[i]
	for _, h := range cs.Status.History[i+1:] {
		if h.Revision != d.Entry.Revision {
			d.Previous = h.Revision
			break
		}
	}
	text, n, err := s.diffRevisions(ctx, cs, d.Previous, d.Entry.Revision)
	if err != nil {
		d.Error = errorText(err)
	}
	d.Lines, d.Changed = classify(text), n
	title := fmt.Sprintf("%s/%s at %s", cs.Namespace, cs.Name, d.Entry.Revision)
	s.render(w, http.StatusOK, "history", page{Title: title, Watch: cs.Namespace + "/" + cs.Name, Data: d})
}

func entryIndex(history []configsv1.HistoryEntry, revision string) int {
	for i, h := range history {
		if h.Revision == revision {
			return i
		}
	}
	return -1
}

// diffRevisions renders both revisions and returns the unified diff of
// each object that differs, and how many do.
func (s *Server) diffRevisions(ctx context.Context, cs *configsv1.ConfigSync, from, to string) (string, int, error) {
	before := map[string]*unstructured.Unstructured{}
	if from != "" {
		var err error
		if before, err = s.renderAt(ctx, cs, from); err != nil {
			return "", 0, fmt.Errorf("render %s: %w", from, err)
		}
	}
	after, err := s.renderAt(ctx, cs, to)
	if err != nil {
		return "", 0, fmt.Errorf("render %s: %w", to, err)
	}
	var out strings.Builder
	n := 0
	for _, k := range objdiff.UnionKeys(before, after) {
		b, a := before[k], after[k]
		secret := (b != nil && objdiff.IsSecret(b)) || (a != nil && objdiff.IsSecret(a))
		bm, am := objdiff.Comparable(b), objdiff.Comparable(a)
		objdiff.Mask(bm, am, secret)
		fromName, toName := k, k
		if b == nil {
			fromName = "/dev/null"
		}
		if a == nil {
			toName = "/dev/null"
		}
		text, err := objdiff.Unified(bm, am, fromName, toName)
		if err != nil {
			return "", 0, err
		}
		if text != "" {
			n++
			out.WriteString(text)
		}
	}
	return out.String(), n, nil
}

// renderAt fetches commit and renders it with the ConfigSync's current
// spec, as the CLI's render does: the objects by their reference. Inputs
// the operator reads from the cluster for render steps (valuesFrom, sops
// keys) are not read here; a pipeline that needs them fails to render
// and the page says so.
func (s *Server) renderAt(ctx context.Context, cs *configsv1.ConfigSync, commit string) (map[string]*unstructured.Unstructured, error) {
	git := cs.Spec.Source.Git
	auth, err := s.gitAuth(ctx, cs)
	if err != nil {
		return nil, err
	}
	art, err := s.opts.Fetcher.Fetch(ctx, source.Request{URL: git.URL(), Revision: commit, Auth: auth})
	if err != nil {
		return nil, err
	}
	defer art.Release()
	tree, err := art.Load(git.Path, filetree.DefaultLimits)
	if err != nil {
		return nil, err
	}
	in := renderers.Inputs{Namespace: cs.Namespace, Steps: map[int]renderers.StepInputs{}}
	in.Context = renderers.ContextOf(cs, source.RedactURL(git.URL()), art.Ref, art.Commit)
	out, err := renderers.Run(ctx, cs.Spec.Render, in, tree)
	if err != nil {
		return nil, err
	}
	objs, err := desired.Objects(cs, out)
	if err != nil {
		return nil, err
	}
	byRef := map[string]*unstructured.Unstructured{}
	for _, obj := range objs {
		if obj.GetNamespace() == "" {
			if namespaced, err := s.opts.Client.IsObjectNamespaced(obj); err == nil && namespaced {
				obj.SetNamespace(cs.Namespace)
			}
		}
		byRef[apply.RefOf(obj).String()] = obj
	}
	return byRef, nil
}

// gitAuth reads the source's credentials with the user's own rights; they
// go to the fetch only. A ConfigSync that names a ServiceAccount reads
// them as that ServiceAccount in the operator, which may refuse: the user's
// wider rights must not send a Secret its author could not read to the URL
// the author chose, so the UI does not read them at all.
func (s *Server) gitAuth(ctx context.Context, cs *configsv1.ConfigSync) (*source.Auth, error) {
	git := cs.Spec.Source.Git
	if git.AuthMethod == "" || git.AuthMethod == configsv1.AuthNone || git.AuthSecretRef == nil {
		return nil, nil
	}
	if cs.Spec.ServiceAccountName != "" {
		return nil, fmt.Errorf("the source's credentials are read as ServiceAccount %s, not with your rights: no diff of a private source here (use configsync diff)", cs.Spec.ServiceAccountName)
	}
	secret := &corev1.Secret{}
	key := client.ObjectKey{Namespace: cs.Namespace, Name: git.AuthSecretRef.Name}
	if err := s.opts.Client.Get(ctx, key, secret); err != nil {
		return nil, fmt.Errorf("read the source's credentials: %w", err)
	}
	return source.AuthFromSecret(source.Method(git.AuthMethod), secret.Data, git.InsecureSkipHostKeyVerification)
}

// classify splits a unified diff into lines with a class for their colour;
// the sign at the start of each line says the same in text.
func classify(text string) []diffLine {
	if text == "" {
		return nil
	}
	var out []diffLine
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		c := "ctx"
		switch {
		case strings.HasPrefix(l, "+++"), strings.HasPrefix(l, "---"):
			c = "file"
		case strings.HasPrefix(l, "@@"):
			c = "hunk"
		case strings.HasPrefix(l, "+"):
			c = "add"
		case strings.HasPrefix(l, "-"):
			c = "del"
		}
		out = append(out, diffLine{c, l})
	}
	return out
}
