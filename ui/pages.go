package ui

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"time"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
)

// pages are the parsed templates, one set per page, each with the layout.
type pages struct {
	sets map[string]*template.Template
}

var pageNames = []string{"overview", "detail", "history", "confirm"}

var funcs = template.FuncMap{
	"short":     configsv1.ShortRevision,
	"eventTime": eventTime,
	"age":       age,
	"stateClass": func(s string) string {
		return "state-" + s
	},
}

func parsePages() (*pages, error) {
	p := &pages{sets: map[string]*template.Template{}}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parse page %s: %w", name, err)
		}
		p.sets[name] = t
	}
	return p, nil
}

// page is what the layout needs around a page's own data.
type page struct {
	Title string
	// Watch scopes the live updates: "" all ConfigSyncs, "ns/name" one.
	Watch string
	CSRF  string
	Data  any
}

// render executes the page into a buffer first, so that a template error
// becomes a clean 500 instead of half a page.
func (s *Server) render(w http.ResponseWriter, status int, name string, p page) {
	p.CSRF = s.token
	var buf bytes.Buffer
	if err := s.pages.sets[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		s.opts.Log.Error(err, "render page", "page", name)
		http.Error(w, "render page "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// age says how long ago t was, coarsely, as people read it.
func age(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	}
}
