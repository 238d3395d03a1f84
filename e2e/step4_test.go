package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Step 4: sessions in SQLite survive a restart, and a user sees and ends
// every session they have.
func TestStep4PersistentStore(t *testing.T) {
	dir := stepDir(t, "step4-persistent-store")
	tab := newBrowser(t)
	db := filepath.Join(t.TempDir(), "app.db")
	srv := startServer(t, buildStep(t, dir), "-bcrypt-cost", "4", "-db", db)
	const password = "a long enough passphrase"

	navigate(t, tab, srv.URL+"/")
	wantSignedOut(t, tab, "first visit")
	screenshot(t, tab, "step4-home-anonymous")
	signup(t, tab, srv.URL, "alice", password)

	// A deploy: the process stops and a new one starts on the same file.
	srv.Restart()
	if st := reload(t, tab); st != http.StatusOK {
		t.Fatalf("reload after the restart: status %d", st)
	}
	wantSignedIn(t, tab, "alice", "after the server restarted")
	screenshot(t, tab, "step4-home-signed-in")

	// A second browser (its own cookie jar) signs in as alice too.
	phone := newBrowserContext(t, tab)
	setUserAgent(t, phone, phoneUA)
	login(t, phone, srv.URL, "alice", password)
	wantSignedIn(t, phone, "alice", "second browser, after login")

	click(t, tab, "sessions-link")
	rows := sessionRows(t, tab)
	if len(rows) != 2 {
		t.Fatalf("the sessions page lists %d sessions, want 2 (this browser and the phone):\n%s", len(rows), strings.Join(rowTexts(rows), "\n"))
	}
	var current, other sessionRow
	for _, r := range rows {
		if r.Current {
			current = r
		} else {
			other = r
		}
	}
	if !strings.Contains(current.Text, "X11; Linux") {
		t.Errorf("the row marked as this browser is %q, want the desktop browser's", current.Text)
	}
	if !strings.Contains(other.Text, "iPhone") {
		t.Errorf("the other row is %q, want the phone's session", other.Text)
	}
	screenshot(t, tab, "step4-sessions")

	// Revoke the phone's session from this browser: the phone is signed
	// out, this browser is not. Then the phone signs in again.
	status(t, tab, "click Revoke on the phone's row", chromedp.Click(chromedp.CSS(`#sessions tbody tr:not(#current-session) button.revoke`)))
	if rows := sessionRows(t, tab); len(rows) != 1 || !rows[0].Current {
		t.Errorf("after revoking the phone, the sessions page lists %q, want only this browser's", rowTexts(rows))
	}
	reload(t, phone)
	wantSignedOut(t, phone, "second browser, after its session was revoked")
	login(t, phone, srv.URL, "alice", password)

	// Change the password on the sessions page. A wrong current password is
	// the error page; the right one signs the phone out, not this browser.
	const newPassword = "a brand new passphrase"
	fill(t, tab, "current_password", "not the password", "new_password", newPassword)
	if st := click(t, tab, "change-password"); st != http.StatusUnauthorized {
		t.Errorf("password change with a wrong current password: status %d, want 401", st)
	}
	if p := page(t, tab); !strings.Contains(p.Error, "current password is incorrect") {
		t.Errorf("a refused password change does not say why:%s", describe(tab))
	}
	navigate(t, tab, srv.URL+"/sessions")
	fill(t, tab, "current_password", password, "new_password", newPassword)
	if st := click(t, tab, "change-password"); st != http.StatusOK {
		t.Errorf("password change: status %d, want 200 (the sessions page)", st)
	}
	if rows := sessionRows(t, tab); len(rows) != 1 || !rows[0].Current {
		t.Errorf("after the password change, the sessions page lists %q, want only this browser's", rowTexts(rows))
	}
	reload(t, phone)
	wantSignedOut(t, phone, "second browser, after the password change")
	login(t, phone, srv.URL, "alice", newPassword)

	// Sign out everywhere: this browser and the phone.
	click(t, tab, "logout-all")
	navigate(t, tab, srv.URL+"/")
	wantSignedOut(t, tab, "after signing out everywhere")
	reload(t, phone)
	wantSignedOut(t, phone, "second browser, after signing out everywhere in the first")
}

// sessionRow is one row of the sessions page.
type sessionRow struct {
	Text    string `json:"text"`
	Current bool   `json:"current"` // marked as this browser's
}

func sessionRows(t *testing.T, tab context.Context) []sessionRow {
	t.Helper()
	return run(t, tab, "read the sessions table", chromedp.Evaluate[[]sessionRow](`
		Array.from(document.querySelectorAll("#sessions tbody tr"), tr => ({
			text: tr.innerText.replace(/\s+/g, " ").trim(),
			current: tr.id === "current-session",
		}))`))
}

func rowTexts(rows []sessionRow) []string {
	var s []string
	for _, r := range rows {
		s = append(s, r.Text)
	}
	return s
}
