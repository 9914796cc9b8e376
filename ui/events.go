package ui

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
)

// heartbeat keeps the event stream from looking idle to proxies and lets
// the server notice a closed page.
const heartbeat = 20 * time.Second

// events streams one server-sent event per change of the ConfigSyncs in the
// scope (?watch=ns/name, or every one the user may list); the page's script
// then fetches its own URL again and swaps the main content. Each event
// says only which ConfigSync changed.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	flusher.Flush()
	ctx := r.Context()
	scope := r.URL.Query().Get("watch")
	for ctx.Err() == nil {
		err := s.follow(ctx, scope, func(ev watch.Event) {
			fmt.Fprintf(w, "data: %s\n\n", changed(ev))
			flusher.Flush()
		}, func() {
			fmt.Fprint(w, ": ping\n\n")
			flusher.Flush()
		})
		if err != nil && ctx.Err() == nil {
			// Say it on the page; the browser tries again in 30 s rather
			// than hammer an apiserver that refuses (RBAC without watch).
			fmt.Fprintf(w, "retry: 30000\nevent: failure\ndata: %s\n\n", strings.ReplaceAll(errorText(err), "\n", " "))
			flusher.Flush()
			return
		}
	}
}

func changed(ev watch.Event) string {
	if o, ok := ev.Object.(*configsv1.ConfigSync); ok {
		return o.Namespace + "/" + o.Name
	}
	return string(ev.Type)
}

// follow lists, asks the page to refresh, then watches from the list's
// resourceVersion, so that no change is lost between the page's render and
// the watch; it returns when the watch ends (the apiserver closes watches
// now and then) or fails.
func (s *Server) follow(ctx context.Context, scope string, send func(watch.Event), ping func()) error {
	opts, err := s.watchScope(ctx, scope)
	if err != nil {
		return err
	}
	list := &configsv1.ConfigSyncList{}
	if err := s.opts.Client.List(ctx, list, opts...); err != nil {
		return err
	}
	// The page was rendered before this list: a change in between would be
	// in neither, so the page refreshes once now, and the watch takes every
	// change after the list.
	send(watch.Event{Type: "RESYNC"})
	raw := &metav1.ListOptions{ResourceVersion: list.ResourceVersion}
	wi, err := s.opts.Client.Watch(ctx, &configsv1.ConfigSyncList{}, append(opts, &client.ListOptions{Raw: raw})...)
	if err != nil {
		return err
	}
	defer wi.Stop()
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			ping()
		case ev, ok := <-wi.ResultChan():
			if !ok {
				return nil
			}
			switch ev.Type {
			case watch.Error:
				if st, ok := ev.Object.(*metav1.Status); ok && st.Code == 410 {
					return nil // expired: list and watch again
				}
				return apierrors.FromObject(ev.Object)
			case watch.Bookmark:
			default:
				send(ev)
			}
		}
	}
}

// watchScope turns ?watch= into list options: one ConfigSync, every one,
// or the context's namespace when the user may not list across namespaces.
func (s *Server) watchScope(ctx context.Context, scope string) ([]client.ListOption, error) {
	if ns, name, ok := strings.Cut(scope, "/"); ok {
		return []client.ListOption{client.InNamespace(ns), client.MatchingFields{"metadata.name": name}}, nil
	}
	probe := &configsv1.ConfigSyncList{}
	err := s.opts.Client.List(ctx, probe, client.Limit(1))
	if apierrors.IsForbidden(err) && s.opts.Namespace != "" {
		return []client.ListOption{client.InNamespace(s.opts.Namespace)}, nil
	}
	return nil, err
}
