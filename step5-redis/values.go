package main

import (
	"bytes"
	"encoding/gob"
	"fmt"
)

// A store that keeps sessions outside the process keeps their values as
// encoding/gob, as gorilla's cookie store does: encodeValues writes them at
// Save, decodeValues reads them at Get. Gob gives back the types that went
// in (an int stays an int), and refuses at Save a value whose type it does
// not know (gob.Register) rather than change it on the way back. The
// handlers store a user name, a visit count and flashes (gorilla registers
// their []any).

// encodeValues encodes a session's values: all of them but the user, whom
// each store keeps apart, and the facts that Get added (metaKey).
func encodeValues(values map[any]any) ([]byte, error) {
	rest := make(map[any]any, len(values))
	for k, v := range values {
		if _, meta := k.(metaKey); !meta && k != userKey {
			rest[k] = v
		}
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(rest); err != nil {
		return nil, fmt.Errorf("encode session values: %w", err)
	}
	return buf.Bytes(), nil
}

// decodeValues is the inverse of encodeValues.
func decodeValues(data []byte) (map[any]any, error) {
	values := make(map[any]any)
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&values); err != nil {
		return nil, fmt.Errorf("decode session values: %w", err)
	}
	return values, nil
}
