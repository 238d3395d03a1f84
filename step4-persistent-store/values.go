package main

import "github.com/gorilla/securecookie"

// A store that keeps sessions outside the process keeps their values as
// encoding/gob, through the encoder of gorilla's cookie store (its errors
// say "securecookie", and are gob's): encodeValues writes them at Save,
// decodeValues reads them at Get. Gob gives back the types that went in (an
// int stays an int), and refuses at Save a value whose type it does not know
// (gob.Register) rather than change it on the way back. The handlers store a
// user name, a visit count and flashes (gorilla registers their []any).

// encodeValues encodes a session's values: all of them but the user, whom
// each store keeps apart, and the facts that Get added (metaKey).
func encodeValues(values map[any]any) ([]byte, error) {
	rest := make(map[any]any, len(values))
	for k, v := range values {
		if _, meta := k.(metaKey); !meta && k != userKey {
			rest[k] = v
		}
	}
	if len(rest) == 0 {
		// Most sessions hold nothing else. Gob would spend about 150
		// allocations and 14 µs on every read to say so (BENCHMARKS.md).
		return []byte{}, nil
	}
	return securecookie.GobEncoder{}.Serialize(rest)
}

// decodeValues is the inverse of encodeValues.
func decodeValues(data []byte) (map[any]any, error) {
	values := make(map[any]any)
	if len(data) == 0 {
		return values, nil
	}
	return values, securecookie.GobEncoder{}.Deserialize(data, &values)
}
