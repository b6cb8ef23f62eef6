package plugins_test

import "github.com/shoal-project/shoal/sdk"

// spinGuest is a scheduler plugin of a few hundred bytes, assembled here
// rather than built from Go: shoal_schedule spins forever on a request with
// a node table and answers empty (a valid answer to an empty request) to a
// request of under 16 bytes (empty but for ABI 1.1's generation).
// Tests that compile in-process under -race use it: wazero compiles a Go
// guest there in tens of seconds, this one at once.
func spinGuest() []byte {
	const (
		i32, i64, funcType  = 0x7f, 0x7e, 0x60
		secType, secFunc    = 1, 3
		secMem, secExport   = 5, 7
		secCode             = 10
		exportFn, exportMem = 0, 2
	)
	types := [][]byte{
		{funcType, 0, 0},                // 0: () -> ()
		{funcType, 0, 1, i32},           // 1: () -> i32
		{funcType, 1, i32, 1, i32},      // 2: i32 -> i32
		{funcType, 2, i32, i32, 1, i64}, // 3: (i32, i32) -> i64
	}
	funcs := []byte{0, 1, 1, 2, 3}
	bodies := [][]byte{
		{0, 0x0b},                               // _initialize: nothing
		{0, 0x41, byte(sdk.ABIVersion), 0x0b},   // shoal_abi_version: i32.const 1
		{0, 0x41, byte(sdk.CapScheduler), 0x0b}, // shoal_capabilities
		{0, 0x41, 0x80, 0x08, 0x0b},             // shoal_alloc: i32.const 1024
		{0,
			0x20, 0x01, 0x41, 0x10, 0x49, 0x04, 0x40, // if len < 16 (at most ABI 1.1's generation)
			0x42, 0x00, 0x0f, 0x0b, //   return 0 (an empty answer)
			0x03, 0x40, 0x0c, 0x00, 0x0b, // loop: br 0
			0x42, 0x00, 0x0b}, // i64.const 0 (unreachable)
	}
	exports := []struct {
		name      string
		kind, idx byte
	}{
		{"memory", exportMem, 0},
		{sdk.ExportInitialize, exportFn, 0},
		{sdk.ExportABIVersion, exportFn, 1},
		{sdk.ExportCapabilities, exportFn, 2},
		{sdk.ExportAlloc, exportFn, 3},
		{sdk.ExportSchedule, exportFn, 4},
	}
	wasm := []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	wasm = section(wasm, secType, vector(types))
	wasm = section(wasm, secFunc, append([]byte{byte(len(funcs))}, funcs...))
	wasm = section(wasm, secMem, []byte{1, 0, 1}) // one memory, at least 1 page
	var ex [][]byte
	for _, e := range exports {
		ex = append(ex, append(append([]byte{byte(len(e.name))}, e.name...), e.kind, e.idx))
	}
	wasm = section(wasm, secExport, vector(ex))
	var code [][]byte
	for _, b := range bodies {
		code = append(code, append([]byte{byte(len(b))}, b...))
	}
	return section(wasm, secCode, vector(code))
}

// vector is a count followed by the items (all counts and sizes here are
// below 128, so one byte of LEB128 each).
func vector(items [][]byte) []byte {
	out := []byte{byte(len(items))}
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}

func section(wasm []byte, id byte, body []byte) []byte {
	return append(append(wasm, id, byte(len(body))), body...)
}
