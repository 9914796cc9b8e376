package ui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/control"
)

// requestTimeout bounds the cluster calls of one page view.
const requestTimeout = 20 * time.Second

func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	q := r.URL.Query()
	f := filter{Namespace: q.Get("namespace"), State: q.Get("state"), Query: strings.TrimSpace(q.Get("q"))}
	items, scope, err := s.list(ctx)
	d := overviewOf(items, f)
	d.Scope = scope
	status := http.StatusOK
	if err != nil {
		d.Error, status = errorText(err), statusOf(err)
	}
	s.render(w, status, "overview", page{Title: "ConfigSyncs", Data: d})
}

// get reads the ConfigSync of the request's path.
func (s *Server) get(ctx context.Context, r *http.Request) (*configsv1.ConfigSync, error) {
	cs := &configsv1.ConfigSync{}
	key := client.ObjectKey{Namespace: r.PathValue("ns"), Name: r.PathValue("name")}
	return cs, s.opts.Client.Get(ctx, key, cs)
}

func (s *Server) detail(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	cs, err := s.get(ctx, r)
	if err != nil {
		s.failPage(w, err)
		return
	}
	d := s.detailOf(ctx, cs)
	d.Notice = notices[r.URL.Query().Get("done")]
	s.render(w, http.StatusOK, "detail", page{Title: cs.Namespace + "/" + cs.Name, Watch: cs.Namespace + "/" + cs.Name, Data: d})
}

// failPage shows an error where a page would be: the apiserver's answer,
// with its status code.
func (s *Server) failPage(w http.ResponseWriter, err error) {
	d := overviewData{Error: errorText(err)}
	for _, st := range States {
		d.Counts = append(d.Counts, count{State: st})
	}
	s.render(w, statusOf(err), "overview", page{Title: "Error", Data: d})
}

func statusOf(err error) int {
	var st apierrors.APIStatus
	if errors.As(err, &st) && st.Status().Code != 0 {
		return int(st.Status().Code)
	}
	return http.StatusBadGateway
}

// The actions a page may ask for, with what the confirmation says.
var actions = map[string]struct{ Title, Explain, Button string }{
	"reconcile": {"Reconcile now", "The operator fetches the source and syncs it now, instead of at the next interval.", "Reconcile now"},
	"suspend":   {"Suspend", "The operator stops syncing this ConfigSync; what it applied stays as it is.", "Suspend"},
	"resume":    {"Resume", "The operator syncs this ConfigSync again.", "Resume"},
	"rollback":  {"Roll back", "The operator applies this revision again and holds it against new commits until the pin is cleared.", "Roll back"},
	"clear":     {"Clear the rollback pin", "The operator follows the branch again and applies its latest commit.", "Clear the pin"},
}

// Notices a redirect after an action shows; the query names one, so that
// nothing of the request is reflected into the page.
var notices = map[string]string{
	"reconcile": "Reconcile requested: the page follows the operator's progress.",
	"suspend":   "Suspended.",
	"resume":    "Resumed: the operator syncs it again.",
	"rollback":  "Rollback requested: the operator applies the pinned revision.",
	"clear":     "Rollback pin cleared: the operator follows the branch again.",
}

type confirmData struct {
	Namespace, Name string
	Action          string
	Title, Explain  string
	Button          string
	Revision        string
	Error           string
}

func (s *Server) confirm(w http.ResponseWriter, r *http.Request) {
	a, ok := actions[r.PathValue("action")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	d := confirmData{Namespace: r.PathValue("ns"), Name: r.PathValue("name"), Action: r.PathValue("action"),
		Title: a.Title, Explain: a.Explain, Button: a.Button, Revision: r.URL.Query().Get("revision")}
	s.render(w, http.StatusOK, "confirm", page{Title: a.Title + " " + d.Namespace + "/" + d.Name, Data: d})
}

// act performs a confirmed action with the control code the CLI uses, then
// goes back to the ConfigSync's page; a refusal (RBAC) is shown on the
// confirmation page with the apiserver's words.
func (s *Server) act(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	a, ok := actions[action]
	if !ok {
		http.NotFound(w, r)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	key := client.ObjectKey{Namespace: r.PathValue("ns"), Name: r.PathValue("name")}
	revision := r.PostFormValue("revision")
	err := s.do(ctx, action, key, revision)
	if err != nil {
		d := confirmData{Namespace: key.Namespace, Name: key.Name, Action: action, Title: a.Title, Explain: a.Explain,
			Button: a.Button, Revision: revision, Error: errorText(err)}
		s.render(w, statusOf(err), "confirm", page{Title: a.Title + " " + key.String(), Data: d})
		return
	}
	to := "/cs/" + url.PathEscape(key.Namespace) + "/" + url.PathEscape(key.Name) + "?done=" + action
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (s *Server) do(ctx context.Context, action string, key client.ObjectKey, revision string) error {
	c := s.opts.Client
	switch action {
	case "reconcile":
		_, err := control.RequestReconcile(ctx, c, key)
		return err
	case "suspend", "resume":
		return control.SetSuspend(ctx, c, key, action == "suspend")
	case "rollback":
		if revision == "" {
			return fmt.Errorf("roll back: no revision given")
		}
		return control.SetRollback(ctx, c, key, revision)
	case "clear":
		return control.SetRollback(ctx, c, key, "")
	}
	return fmt.Errorf("unknown action %q", action)
}
