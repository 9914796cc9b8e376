package ui_test

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/testgit"
	"github.com/configsync/configsync/source"
	"github.com/configsync/configsync/ui"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "write the screenshots of docs/ui/ from the browser tests")

const timeout = 60 * time.Second

// browser starts a headless Chromium (found or installed by
// hack/chromium.sh) for one test and returns a tab's context, which ends
// with the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	out, err := exec.Command("bash", "../hack/chromium.sh").Output()
	if err != nil {
		t.Fatalf("hack/chromium.sh: %v", err)
	}
	path := strings.TrimSpace(string(out))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.WindowSize(1280, 900), chromedp.Flag("disable-dev-shm-usage", true))
	tab, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	if err := chromedp.Do(tab); err != nil { // starts the browser
		t.Fatalf("start %s: %v", path, err)
	}
	return tab
}

// within bounds one browser step by the test-wide deadline, so a page that
// never shows what is awaited fails the test instead of hanging it.
func within(t *testing.T, tab context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %v\n%s", err, dump(tab))
	}
}

// dump is the page the browser shows, for a failure's message.
func dump(tab context.Context) string {
	ctx, cancel := context.WithTimeout(tab, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	if err != nil {
		html = err.Error()
	}
	return "page " + loc + ":\n" + html
}

// text reads an element's text in one evaluation: the live updates may
// replace the element between a query and a read in two steps.
func text(t *testing.T, tab context.Context, sel string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, timeout)
	defer cancel()
	expr := fmt.Sprintf(`(function () { const e = document.querySelector(%s); return e ? e.textContent.trim() || " " : null; })()`, strconv.Quote(sel))
	s, err := chromedp.Run(ctx, chromedp.Poll[string](expr, chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		t.Fatalf("text of %s: %v\n%s", sel, err, dump(tab))
	}
	return strings.TrimSpace(s)
}

// settled waits until the page has caught up with the live stream once:
// the stream's first event refreshes the page, which may replace what the
// test is about to click.
func settled(t *testing.T, tab context.Context) {
	t.Helper()
	within(t, tab, chromedp.WaitReady(chromedp.CSS("body[data-refreshed]")))
}

// click clicks the element sel with the mouse, querying it again when the
// live updates replaced it before the click landed (the click is the last
// step, so a failed attempt clicked nothing).
func click(t *testing.T, tab context.Context, sel string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, timeout)
	defer cancel()
	for {
		err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel)))
		if err == nil {
			return
		}
		if ctx.Err() != nil || !strings.Contains(err.Error(), "-32000") {
			t.Fatalf("click %s: %v\n%s", sel, err, dump(tab))
		}
	}
}

func screenshot(t *testing.T, tab context.Context, name string) {
	t.Helper()
	if !*updateScreenshots {
		return
	}
	png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("..", "docs", "ui", name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func configMap(color string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  color: " + color + "\n"
}

func secret(password string) string {
	return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: web-db\nstringData:\n  password: " + password + "\n"
}

// The Secret values the repository holds; no page may show any of them.
var secretValues = []string{"ui-s3cret-blue", "ui-s3cret-green"}

func getCS(g Gomega, ns, name string) *configsv1.ConfigSync {
	cs := &configsv1.ConfigSync{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, cs)).To(Succeed())
	return cs
}

// The acceptance of `configsync ui` in a real browser: the overview shows
// three ConfigSyncs in their true states; a push turns one to the new
// revision on the open page within 2 s; the history diff shows the changed
// line with the Secret masked; rolling back from the page (confirmed) ends
// RolledBack in the cluster and on the page; a user whose RBAC forbids
// patching sees the refusal; no page's HTML holds a Secret value.
func TestBrowser(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	repo := testgit.Start(t).NewRepo(t, "shop.git")
	blue := repo.Commit(t, map[string]string{"app/cm.yaml": configMap("blue"), "app/secret.yaml": secret(secretValues[0])}, "blue")
	g.Expect(k8s.Create(ctx, newConfigSync(ns, "web", repo.URL, "app", false))).To(Succeed())
	g.Expect(k8s.Create(ctx, newConfigSync(ns, "broken", repo.URL, "no-such-folder", false))).To(Succeed())
	g.Expect(k8s.Create(ctx, newConfigSync(ns, "paused", repo.URL, "app", true))).To(Succeed())
	want := map[string]string{"web": ui.StateReady, "broken": ui.StateStalled, "paused": ui.StateSuspended}
	g.Eventually(func(g Gomega) {
		for name, state := range want {
			g.Expect(ui.StateOf(getCS(g, ns, name))).To(Equal(state), name)
		}
		g.Expect(getCS(g, ns, "web").Status.SourceRevision).To(Equal(blue))
	}, timeout).Should(Succeed())

	url := startUI(t, adminCfg, "")
	tab := browser(t)
	var green string
	pages := map[string]bool{} // every URL the test visits, for the Secret check

	t.Run("the overview lists three ConfigSyncs in their true states", func(t *testing.T) {
		// This namespace's: other tests' ConfigSyncs share the cluster.
		overview := url + "?namespace=" + ns
		within(t, tab, chromedp.Navigate(overview))
		pages[url], pages[overview] = true, true
		for name, state := range want {
			row := fmt.Sprintf(`tr[data-configsync="%s/%s"]`, ns, name)
			within(t, tab, chromedp.WaitVisible(chromedp.CSS(row+`[data-state="`+state+`"]`)))
			if got := text(t, tab, row+` [data-field="state"]`); got != state {
				t.Errorf("%s shows %q, want %q", name, got, state)
			}
		}
		if got := text(t, tab, `tr[data-configsync="`+ns+`/web"] [data-field="revision"]`); got != blue[:12] {
			t.Errorf("web's revision shows %q, want %q", got, blue[:12])
		}
		for state, n := range map[string]string{ui.StateReady: "1", ui.StateStalled: "1", ui.StateSuspended: "1", ui.StateDegraded: "0"} {
			if got := text(t, tab, `[data-count="`+state+`"]`); got != n {
				t.Errorf("count of %s = %s, want %s", state, got, n)
			}
		}
		within(t, tab, chromedp.Navigate(overview+"&state=Stalled"))
		within(t, tab, chromedp.WaitVisible(chromedp.CSS(`tr[data-configsync="`+ns+`/broken"]`)))
		if n, err := chromedp.Run(tab, chromedp.Evaluate[int](`document.querySelectorAll("tr[data-configsync]").length`)); err != nil || n != 1 {
			t.Errorf("the Stalled filter shows %d rows (%v), want 1", n, err)
		}
		within(t, tab, chromedp.Navigate(overview))
		screenshot(t, tab, "overview.png")
	})

	t.Run("a push turns the open page to the new revision within 2 s", func(t *testing.T) {
		within(t, tab, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#live.on")))
		green = repo.Commit(t, map[string]string{"app/cm.yaml": configMap("green"), "app/secret.yaml": secret(secretValues[1])}, "green")
		pushed := time.Now()
		// The Git host's webhook, as the receiver passes it on.
		if _, err := reconciler.TriggerPush(ctx, "", map[string]bool{source.NormalizeURL(repo.URL): true}, nil); err != nil {
			t.Fatal(err)
		}
		within(t, tab, chromedp.WaitVisible(chromedp.CSS(`tr[data-configsync="`+ns+`/web"] code[title="`+green+`"]`)))
		took := time.Since(pushed)
		t.Logf("push to new revision on the page: %s", took)
		if took > 2*time.Second {
			t.Errorf("the page showed the pushed revision after %s, want within 2s", took)
		}
	})

	detail := url + "cs/" + ns + "/web"
	t.Run("the history diff shows the changed line, Secret values masked", func(t *testing.T) {
		within(t, tab, chromedp.Navigate(detail))
		settled(t, tab)
		click(t, tab, `tr[data-revision="`+green+`"] a[href$="/history/`+green+`"]`)
		within(t, tab, chromedp.WaitVisible(chromedp.ID("diff")))
		pages[detail], pages[detail+"/history/"+green] = true, true
		screenshot(t, tab, "history-diff.png")
		diff := text(t, tab, "#diff")
		for _, line := range []string{"-  color: blue", "+  color: green", "*** (before)", "*** (after)"} {
			if !strings.Contains(diff, line) {
				t.Errorf("the diff lacks %q:\n%s", line, diff)
			}
		}
	})

	t.Run("roll back, confirmed, ends RolledBack in the cluster and on the page", func(t *testing.T) {
		within(t, tab, chromedp.Navigate(detail))
		settled(t, tab)
		click(t, tab, `tr[data-revision="`+blue+`"] a[data-action="rollback"]`)
		within(t, tab, chromedp.WaitVisible(chromedp.ID("confirm")))
		pages[detail+"/confirm/rollback?revision="+blue] = true
		settled(t, tab)
		click(t, tab, "#confirm")
		within(t, tab, chromedp.WaitVisible(chromedp.ID("pinned")))
		ctx, cancel := context.WithTimeout(tab, timeout)
		defer cancel()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`((document.getElementById("ready-reason") || {}).textContent === "RolledBack") &&
			document.querySelector('#history tbody tr [data-field="result"]').textContent.startsWith("RolledBack")`, chromedp.WithPollingTimeout(timeout))); err != nil {
			t.Fatalf("the page never showed RolledBack: %v\n%s", err, dump(tab))
		}
		cs := getCS(g, ns, "web")
		ready := apimeta.FindStatusCondition(cs.Status.Conditions, configsv1.ConditionReady)
		g.Expect(ready).NotTo(BeNil())
		g.Expect(ready.Reason).To(Equal(configsv1.ReasonRolledBack))
		g.Expect(cs.Status.RolledBackTo).To(Equal(blue))
		g.Expect(cs.Status.History[0].Result).To(Equal(configsv1.HistoryRolledBack))
		g.Expect(text(t, tab, "#revision")).To(Equal(blue[:12]))
		screenshot(t, tab, "configsync.png")
	})

	t.Run("a user whose RBAC forbids patching sees the refusal", func(t *testing.T) {
		viewer := addViewer(t, ns)
		viewerURL := startUI(t, viewer, ns)
		within(t, tab, chromedp.Navigate(viewerURL), chromedp.WaitVisible(chromedp.CSS(`tr[data-configsync="`+ns+`/web"]`)))
		within(t, tab, chromedp.Navigate(viewerURL+"cs/"+ns+"/web"))
		settled(t, tab)
		click(t, tab, "#action-reconcile")
		within(t, tab, chromedp.WaitVisible(chromedp.ID("confirm")))
		settled(t, tab)
		click(t, tab, "#confirm")
		within(t, tab, chromedp.WaitVisible(chromedp.ID("action-error")))
		msg := text(t, tab, "#action-error")
		for _, want := range []string{"forbidden", `cannot patch resource "configsyncs"`, "ui-viewer-" + ns} {
			if !strings.Contains(msg, want) {
				t.Errorf("the refusal %q lacks %q", msg, want)
			}
		}
		g.Expect(getCS(g, ns, "web").Annotations).NotTo(HaveKey(configsv1.AnnotationReconcileRequestedAt), "nothing was patched")
	})

	t.Run("no page's HTML holds a Secret value", func(t *testing.T) {
		cs := getCS(g, ns, "web")
		for _, name := range []string{"web", "broken", "paused"} {
			pages[url+"cs/"+ns+"/"+name] = true
			for _, action := range []string{"reconcile", "suspend", "resume", "clear"} {
				pages[url+"cs/"+ns+"/"+name+"/confirm/"+action] = true
			}
		}
		for _, h := range cs.Status.History {
			pages[url+"cs/"+ns+"/web/history/"+h.Revision] = true
		}
		pages[url+"?q=web"] = true
		pages[url+"static/app.js"] = true
		var forbidden []string
		for _, v := range secretValues {
			forbidden = append(forbidden, v, base64.StdEncoding.EncodeToString([]byte(v)))
		}
		for page := range pages {
			body := fetch(t, page)
			for _, v := range forbidden {
				if strings.Contains(body, v) {
					t.Errorf("%s shows the Secret value %q", page, v)
				}
			}
		}
		// The pages read without JavaScript: the fetched overview has
		// every ConfigSync in its state.
		overview := fetch(t, url+"?namespace="+ns)
		for name, state := range map[string]string{"web": ui.StateReady, "broken": ui.StateStalled, "paused": ui.StateSuspended} {
			if want := `data-configsync="` + ns + `/` + name + `" data-state="` + state + `"`; !strings.Contains(overview, want) {
				t.Errorf("the overview's HTML lacks %s", want)
			}
		}
		// The browser's own view too: the live-updated DOM of the ConfigSync.
		within(t, tab, chromedp.Navigate(detail+"/history/"+green), chromedp.WaitVisible(chromedp.ID("diff")))
		html, err := chromedp.Run(tab, chromedp.OuterHTML(chromedp.CSS("html")))
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range forbidden {
			if strings.Contains(html, v) {
				t.Errorf("the browser's DOM shows the Secret value %q", v)
			}
		}
	})
}

// addViewer adds a user who may read ConfigSyncs, Events and ConfigMaps in
// ns, and nothing else: no patch, no list across namespaces.
func addViewer(t *testing.T, ns string) *rest.Config {
	t.Helper()
	ctx := context.Background()
	name := "ui-viewer-" + ns
	user, err := env.AddUser(envtest.User{Name: name}, nil)
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "viewer"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{configsv1.GroupVersion.Group}, Resources: []string{"configsyncs"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"events", "configmaps"}, Verbs: []string{"get", "list", "watch"}},
	}}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "viewer"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "viewer"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}}}
	for _, o := range []client.Object{role, binding} {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	return user.Config()
}
