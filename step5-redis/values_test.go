package main

import (
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Flashes (gorilla's AddFlash and Flashes) go through the store and come
// back once.
func TestFlashesRoundTrip(t *testing.T) {
	st, _ := newTestStore(t, 10*time.Minute, time.Hour)
	ck := newSession(t, st, map[any]any{userKey: "alice"})

	s := must(st.Get(requestWith(ck), cookieName))
	s.AddFlash("Welcome back, alice!")
	if err := st.Save(requestWith(ck), httptest.NewRecorder(), s); err != nil {
		t.Fatal(err)
	}

	s = must(st.Get(requestWith(ck), cookieName))
	if got := s.Flashes(); len(got) != 1 || got[0] != "Welcome back, alice!" {
		t.Fatalf("flashes read back: %#v, want the one added", got)
	}
	if err := st.Save(requestWith(ck), httptest.NewRecorder(), s); err != nil {
		t.Fatal(err)
	}
	if got := must(st.Get(requestWith(ck), cookieName)).Flashes(); len(got) != 0 {
		t.Fatalf("flashes after they were read and saved: %#v, want none", got)
	}
}

// What gob knows comes back exactly as it went in, flashes included;
// anything else is refused at Save, naming the type.
func TestValuesRoundTripOrAreRefused(t *testing.T) {
	in := map[any]any{"visits": 41, "name": "x", "ok": true, "none": nil, "big": 1<<62 + 1, "ratio": 1.5, "n": int64(7),
		"tags": []string{"a"}, 3: "int key", "_flash": []any{"saved", 2, false, nil, []any{"nested", -7}}}
	out := must(decodeValues(must(encodeValues(in))))
	if !reflect.DeepEqual(out, in) {
		t.Fatalf("%#v came back as %#v", in, out)
	}
	for _, tc := range []struct {
		values map[any]any
		want   string
	}{
		{map[any]any{"when": time.Time{}}, `time.Time`},
		{map[any]any{"m": map[string]any{"n": 1}}, `map[string]interface {}`},
		{map[any]any{"_flash": []any{struct{ X int }{1}}}, `struct`},
	} {
		_, err := encodeValues(tc.values)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("encodeValues(%#v) = %v, want an error saying %s", tc.values, err, tc.want)
		}
	}
	// What is not gob (such as the JSON of an earlier version of step 4) is
	// an error, which Get takes for no session.
	if _, err := decodeValues([]byte(`{"visits":3}`)); err == nil {
		t.Error("decodeValues of JSON returned no error")
	}
}

// A session that holds nothing but its user (and what Get adds) stores no
// bytes, and reads back as no values: most signed-in sessions are such, and
// gob would spend about 150 allocations on every read to say "nothing".
func TestNoValuesStoreNoBytes(t *testing.T) {
	data := must(encodeValues(map[any]any{userKey: "alice", createdAtKey: time.Now()}))
	if len(data) != 0 {
		t.Fatalf("a session with only its user encodes to %d bytes, want 0", len(data))
	}
	if values := must(decodeValues(data)); len(values) != 0 {
		t.Fatalf("no bytes decode to %v, want no values", values)
	}
}
