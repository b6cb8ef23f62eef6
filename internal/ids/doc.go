// Package ids makes random object identifiers (125 bits, base32). It owns
// no state.
package ids
