package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// A store that keeps sessions outside the process keeps their values as
// JSON: encodeValues writes it at Save, decodeValues reads it at Get.
//
// JSON rather than gob, gorilla's usual encoding: it can be read in the
// sqlite3 shell or redis-cli, and decoding it takes about a microsecond where
// gob, which sends the description of its types along with every value,
// takes 15. The price is that only what JSON gives back exactly is stored:
//
//   - keys: strings;
//   - values: string, int, bool, nil, and lists of those ([]any), which is
//     what gorilla's flashes are (AddFlash keeps them under "_flash").
//
// Anything else (a float, a time, a map, a struct) is refused at Save with an
// error that names the key and the type, rather than changed on the way back
// (an int would come back as a float64, a time as a string). The handlers
// store a user name, a visit count and flashes, all of which round-trip.

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
		if !storable(v) {
			return nil, fmt.Errorf("session value %q is a %T: only string, int, bool, nil and lists of them (flashes) can be stored", key, v)
		}
		out[key] = v
	}
	return json.Marshal(out)
}

// storable reports whether JSON gives v back exactly: a scalar, or a list of
// scalars.
func storable(v any) bool {
	if list, ok := v.([]any); ok {
		for _, item := range list {
			if !isScalar(item) {
				return false
			}
		}
		return true
	}
	return isScalar(v)
}

func isScalar(v any) bool {
	switch v.(type) {
	case string, int, bool, nil:
		return true
	}
	return false
}

// decodeValues is the inverse of encodeValues: numbers come back as ints,
// lists as []any.
func decodeValues(data []byte) (map[any]any, error) {
	var raw map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("decode session values: %w", err)
	}
	values := make(map[any]any, len(raw)+1)
	for k, v := range raw {
		v, err := decodeValue(v)
		if err != nil {
			return nil, fmt.Errorf("decode session value %q: %w", k, err)
		}
		values[k] = v
	}
	return values, nil
}

// decodeValue turns the numbers in v, or in the list v, into ints.
func decodeValue(v any) (any, error) {
	switch v := v.(type) {
	case json.Number:
		return strconv.Atoi(v.String())
	case []any:
		for i, item := range v {
			var err error
			if v[i], err = decodeValue(item); err != nil {
				return nil, err
			}
		}
	}
	return v, nil
}
