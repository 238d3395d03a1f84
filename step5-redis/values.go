package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
)

// A store that keeps sessions outside the process keeps their values as
// JSON, which the sqlite3 shell and redis-cli show as it is: encodeValues
// writes it at Save, decodeValues reads it at Get. JSON has numbers but no
// ints, so decodeValues turns whole numbers back into ints. A value that
// would not come back as it went in (a float, a time, a struct) is refused at
// Save, rather than changed on the way back. The handlers store a user name,
// a visit count and flashes (lists of strings), all of which come back.

// encodeValues turns a session's values into JSON: all of them but the user,
// whom each store keeps apart, and the facts that Get added (metaKey).
func encodeValues(values map[any]any) ([]byte, error) {
	out := make(map[string]any, len(values))
	for k, v := range values {
		if _, meta := k.(metaKey); meta || k == userKey {
			continue
		}
		key, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("session value key %v is a %T: only string keys can be stored", k, k)
		}
		out[key] = v
	}
	data, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode session values: %w", err)
	}
	back, err := decodeValues(data)
	for k, v := range out {
		if err != nil || !reflect.DeepEqual(back[k], v) {
			return nil, fmt.Errorf("session value %q is a %T, which would not come back as it is: store strings, ints, bools, nil or lists of them", k, v)
		}
	}
	return data, nil
}

// decodeValues is the inverse of encodeValues.
func decodeValues(data []byte) (map[any]any, error) {
	var raw map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // a number stays as written, for wholeToInt to read
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("decode session values: %w", err)
	}
	values := make(map[any]any, len(raw)+1)
	for k, v := range raw {
		values[k] = wholeToInt(v)
	}
	return values, nil
}

// wholeToInt turns the whole numbers in v, or in the lists in v, into ints.
func wholeToInt(v any) any {
	switch v := v.(type) {
	case json.Number:
		if n, err := strconv.Atoi(v.String()); err == nil {
			return n
		}
	case []any:
		for i, item := range v {
			v[i] = wholeToInt(item)
		}
	}
	return v
}
