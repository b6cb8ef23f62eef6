package layering

// Rule says what the packages under From (a module-relative path: the
// package itself and everything below it) may depend on besides their own
// subtree. A package follows the rule with the longest matching From.
type Rule struct {
	From  string
	Allow []string // module-relative path prefixes
	Why   string   // shown when the rule is broken
}

// everything below core that core may use.
var belowCore = []string{"plugins", "runtime", "network", "sdk", "gen", "internal"}

// Rules are shoal's layers; ARCHITECTURE.md ("Imports") says the same in
// prose. Nothing allows cmd, bench or e2e: nothing imports them.
var Rules = []Rule{
	{From: "cmd", Allow: append([]string{"core", "web"}, belowCore...),
		Why: "the binary may use everything; nothing imports it"},
	{From: "core", Allow: belowCore,
		Why: "the manager and node build on the plugin host, runtimes, network, sdk, gen and internal helpers"},
	{From: "plugins", Allow: []string{"sdk", "internal"},
		Why: "the Wasm host speaks sdk types; it must not pull in the manager or a runtime"},
	{From: "plugins/builtin", Allow: []string{"sdk"},
		Why: "the built-in guests are plugins like any other: they import only the sdk"},
	{From: "sdk", Allow: nil,
		Why: "plugin authors import the sdk; it must not pull in the manager, a runtime or the host"},
	{From: "runtime", Allow: []string{"internal", "gen"},
		Why: "node-local plumbing: it imports nothing of core"},
	{From: "network", Allow: []string{"internal", "gen"},
		Why: "node-local plumbing: it imports nothing of core"},
	{From: "internal", Allow: []string{"gen"},
		Why: "small shared helpers below core"},
	{From: "gen", Allow: nil,
		Why: "generated code imports only generated code"},
	{From: "web", Allow: nil,
		Why: "the web view's built assets, embedded; served by the CLI's dashboard"},
	{From: "bench", Allow: append([]string{"core"}, belowCore...),
		Why: "the scale program may use everything but cmd and the tests"},
	{From: "e2e", Allow: append([]string{"core"}, belowCore...),
		Why: "end-to-end tests run the shoal binary; they may use everything but cmd and bench"},
}
