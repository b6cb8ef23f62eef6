package main

import "github.com/spf13/cobra"

// extraCommands are the service, plugin, image and events commands.
func extraCommands() []*cobra.Command {
	return []*cobra.Command{newServiceCmd(), newPluginCmd(), newImageCmd(), newEventsCmd()}
}
