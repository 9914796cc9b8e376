package ui

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/renderers"
	"github.com/configsync/configsync/source"
)

// The states a ConfigSync is shown in, worst first after Suspended.
const (
	StateSuspended   = "Suspended"
	StateStalled     = "Stalled"
	StateDegraded    = "Degraded"
	StateReconciling = "Reconciling"
	StateReady       = "Ready"
	StateUnknown     = "Unknown"
)

// States lists them in the order the overview counts them.
var States = []string{StateReady, StateDegraded, StateStalled, StateSuspended, StateReconciling, StateUnknown}

// StateOf sums up a ConfigSync's conditions in one word: Suspended and
// Stalled (a configuration the user must fix) win, then Ready, then a
// failed sync (Degraded), then a first sync under way.
func StateOf(cs *configsv1.ConfigSync) string {
	is := func(t string) bool { return apimeta.IsStatusConditionTrue(cs.Status.Conditions, t) }
	ready := apimeta.FindStatusCondition(cs.Status.Conditions, configsv1.ConditionReady)
	switch {
	case cs.Spec.Suspend:
		return StateSuspended
	case is(configsv1.ConditionStalled):
		return StateStalled
	case ready != nil && ready.Status == metav1.ConditionTrue:
		return StateReady
	case is(configsv1.ConditionDegraded), ready != nil && ready.Status == metav1.ConditionFalse && ready.Reason != configsv1.ReasonProgressing:
		return StateDegraded
	case is(configsv1.ConditionReconciling):
		return StateReconciling
	}
	return StateUnknown
}

// row is one ConfigSync on the overview.
type row struct {
	Namespace, Name string
	State           string
	Reason, Message string
	Revision, Ref   string
	RolledBackTo    string
	LastSync        time.Time
	Applied         int32
	Targets         int
	Repo            string
}

func rowOf(cs *configsv1.ConfigSync) row {
	r := row{
		Namespace: cs.Namespace, Name: cs.Name, State: StateOf(cs),
		Revision: cs.Status.SourceRevision, Ref: shortRef(cs.Status.SourceRef),
		RolledBackTo: cs.Status.RolledBackTo, Applied: cs.Status.AppliedTargets,
		Targets: len(cs.Status.Targets), Repo: source.RedactURL(cs.Spec.Source.Git.URL()),
	}
	if c := apimeta.FindStatusCondition(cs.Status.Conditions, configsv1.ConditionReady); c != nil {
		r.Reason, r.Message = c.Reason, c.Message
	}
	if t := cs.Status.LastSyncedTime; t != nil {
		r.LastSync = t.Time
	}
	return r
}

func shortRef(ref string) string {
	for _, p := range []string{"refs/heads/", "refs/tags/"} {
		if strings.HasPrefix(ref, p) {
			return strings.TrimPrefix(ref, p)
		}
	}
	return ref
}

// list lists the ConfigSyncs of every namespace, or of the context's
// namespace when the user may not list across namespaces. scope says which.
func (s *Server) list(ctx context.Context) (items []configsv1.ConfigSync, scope string, err error) {
	all := &configsv1.ConfigSyncList{}
	err = s.opts.Client.List(ctx, all)
	if err == nil {
		return all.Items, "all namespaces", nil
	}
	if !apierrors.IsForbidden(err) || s.opts.Namespace == "" {
		return nil, "", err
	}
	one := &configsv1.ConfigSyncList{}
	if err := s.opts.Client.List(ctx, one, client.InNamespace(s.opts.Namespace)); err != nil {
		return nil, "", err
	}
	return one.Items, "namespace " + s.opts.Namespace + " (you may not list across namespaces)", nil
}

// overviewData is the overview page.
type overviewData struct {
	Rows       []row
	Total      int // of the namespace and search shown, any state
	Counts     []count
	Namespaces []string
	Filter     filter
	Scope      string
	Error      string
}

type count struct {
	State string
	N     int
}

type filter struct{ Namespace, State, Query string }

func (f filter) matches(r row) bool {
	if f.Namespace != "" && r.Namespace != f.Namespace {
		return false
	}
	if f.State != "" && r.State != f.State {
		return false
	}
	if q := strings.ToLower(f.Query); q != "" {
		hay := strings.ToLower(strings.Join([]string{r.Namespace, r.Name, r.Repo, r.Ref, r.Revision, r.Reason, r.Message}, " "))
		return strings.Contains(hay, q)
	}
	return true
}

func overviewOf(items []configsv1.ConfigSync, f filter) overviewData {
	d := overviewData{Filter: f}
	counts := map[string]int{}
	namespaces := map[string]bool{}
	// The counts follow the namespace and the search, not the state: they
	// are the links that choose a state among what is shown.
	anyState := f
	anyState.State = ""
	for i := range items {
		r := rowOf(&items[i])
		namespaces[r.Namespace] = true
		if anyState.matches(r) {
			counts[r.State]++
			d.Total++
		}
		if f.matches(r) {
			d.Rows = append(d.Rows, r)
		}
	}
	for _, st := range States {
		d.Counts = append(d.Counts, count{st, counts[st]})
	}
	for ns := range namespaces {
		d.Namespaces = append(d.Namespaces, ns)
	}
	sort.Strings(d.Namespaces)
	sort.Slice(d.Rows, func(i, j int) bool {
		a, b := d.Rows[i], d.Rows[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return d
}

// detailData is a ConfigSync's page.
type detailData struct {
	Row    row
	CS     *configsv1.ConfigSync
	Source []field
	Steps  []step
	// Conditions, Targets and Inventory are the page's plain tables.
	Conditions, Targets, Inventory listTable
	Events                         []corev1.Event
	EventsErr                      string
	History                        []historyRow
	Pinned                         string // spec.rollback.toRevision
	Notice                         string
}

type field struct{ Name, Value string }

type step struct{ Kind, Detail string }

// listTable is a table of the page whose rows are cells of text: the
// "list" template draws every such table the same way.
type listTable struct {
	ID, Title string
	Head      []string
	Rows      [][]cell
	// Empty is the one row of a table without rows; Note follows the table.
	Empty, Note string
}

// cell is a table cell: text, an aside in small print, a CSS class.
type cell struct{ Text, Small, Class string }

func conditionsTable(conds []metav1.Condition) listTable {
	t := listTable{ID: "conditions", Title: "Conditions", Empty: "None yet.", Head: []string{"Type", "Status", "Reason", "Message", "Since"}}
	for _, c := range conds {
		t.Rows = append(t.Rows, []cell{{Text: c.Type}, {Text: string(c.Status), Class: "cond-" + string(c.Status)},
			{Text: c.Reason}, {Text: c.Message, Class: "msg"}, {Text: age(c.LastTransitionTime.Time)}})
	}
	return t
}

func targetsTable(targets []configsv1.TargetStatus) listTable {
	t := listTable{ID: "targets", Title: "Targets", Empty: "No result yet.", Head: []string{"Kind", "Namespace", "Name", "Result", "Message"}}
	for _, ts := range targets {
		t.Rows = append(t.Rows, []cell{{Text: ts.Kind}, {Text: ts.Namespace}, {Text: ts.Name},
			{Text: string(ts.Result), Class: "result-" + string(ts.Result)}, {Text: ts.Message, Class: "msg"}})
	}
	return t
}

type historyRow struct {
	configsv1.HistoryEntry
	// Current marks the entry of the applied revision; Applied marks every
	// entry of that revision, which rolling back to would not change.
	Current, Applied bool
}

// maxInventoryShown bounds the objects read live for one page view: each
// is a GET with the user's credentials.
const maxInventoryShown = 200

func (s *Server) detailOf(ctx context.Context, cs *configsv1.ConfigSync) detailData {
	git := cs.Spec.Source.Git
	d := detailData{Row: rowOf(cs), CS: cs, Conditions: conditionsTable(cs.Status.Conditions), Targets: targetsTable(cs.Status.Targets)}
	d.Source = []field{
		{"Repository", source.RedactURL(git.URL())},
		{"Branch", orDash(git.Branch)},
		{"Revision (spec)", orDash(git.Revision)},
		{"Path", orDash(git.Path)},
		{"Ref", orDash(cs.Status.SourceRef)},
		{"Commit", orDash(cs.Status.SourceRevision)},
	}
	for _, st := range cs.Spec.Render {
		d.Steps = append(d.Steps, stepOf(st))
	}
	if rb := cs.Spec.Rollback; rb != nil {
		d.Pinned = rb.ToRevision
	}
	marked := false
	for _, h := range cs.Status.History {
		current := !marked && h.Revision == cs.Status.SourceRevision
		marked = marked || current
		d.History = append(d.History, historyRow{HistoryEntry: h, Current: current, Applied: h.Revision == cs.Status.SourceRevision})
	}
	d.Inventory = s.liveInventory(ctx, cs.Status.Inventory)
	d.Events, d.EventsErr = s.eventsOf(ctx, cs)
	return d
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func stepOf(st configsv1.RenderStep) step {
	kind := renderers.KindOf(st)
	switch {
	case st.Kustomize != nil:
		return step{kind, orDash(st.Kustomize.Path)}
	case st.Helm != nil:
		return step{kind, st.Helm.Chart}
	case st.Jsonnet != nil:
		return step{kind, st.Jsonnet.Entrypoint}
	case st.Template != nil:
		return step{kind, st.Template.Environment}
	}
	return step{Kind: kind}
}

// liveInventory reads each object's live state (kstatus). A Secret is read
// as metadata only: its values never enter this process.
func (s *Server) liveInventory(ctx context.Context, refs []configsv1.ObjectReference) listTable {
	t := listTable{ID: "inventory", Title: "Objects", Empty: "Nothing applied yet.", Head: []string{"Kind", "Namespace", "Name", "Live state", "Message"}}
	if len(refs) > maxInventoryShown {
		t.Note = fmt.Sprintf("and %d more, not read live.", len(refs)-maxInventoryShown)
		refs = refs[:maxInventoryShown]
	}
	for _, ref := range refs {
		st, msg := s.liveStatus(ctx, ref)
		t.Rows = append(t.Rows, []cell{{Text: ref.Kind, Small: ref.APIVersion}, {Text: ref.Namespace}, {Text: ref.Name},
			{Text: st, Class: "kstatus-" + st}, {Text: msg, Class: "msg"}})
	}
	return t
}

func (s *Server) liveStatus(ctx context.Context, ref configsv1.ObjectReference) (string, string) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return "Unknown", err.Error()
	}
	key := client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}
	gvk := gv.WithKind(ref.Kind)
	if gvk.Group == "" && gvk.Kind == "Secret" {
		m := &metav1.PartialObjectMetadata{}
		m.SetGroupVersionKind(gvk)
		if err := s.opts.Client.Get(ctx, key, m); err != nil {
			return readErr(err)
		}
		if m.DeletionTimestamp != nil {
			return string(status.TerminatingStatus), "being deleted"
		}
		return string(status.CurrentStatus), "exists"
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	if err := s.opts.Client.Get(ctx, key, u); err != nil {
		return readErr(err)
	}
	res, err := status.Compute(u)
	if err != nil {
		return "Unknown", err.Error()
	}
	return string(res.Status), res.Message
}

func readErr(err error) (string, string) {
	if apierrors.IsNotFound(err) {
		return string(status.NotFoundStatus), "not in the cluster"
	}
	return "Unknown", err.Error()
}

// eventsOf lists the ConfigSync's Events, newest first.
func (s *Server) eventsOf(ctx context.Context, cs *configsv1.ConfigSync) ([]corev1.Event, string) {
	list := &corev1.EventList{}
	err := s.opts.Client.List(ctx, list, client.InNamespace(cs.Namespace),
		client.MatchingFields{"involvedObject.name": cs.Name, "involvedObject.kind": "ConfigSync"})
	if err != nil {
		return nil, err.Error()
	}
	events := list.Items
	sort.SliceStable(events, func(i, j int) bool { return eventTime(events[i]).After(eventTime(events[j])) })
	if len(events) > 50 {
		events = events[:50]
	}
	return events, ""
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// errorText is what the page says about a failed call: the apiserver's own
// words, which name the user and the verb RBAC refused.
func errorText(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) && apierrors.IsForbidden(err) {
		return fmt.Sprintf("forbidden: %s", status.Status().Message)
	}
	return err.Error()
}
