package main

import "github.com/spf13/cobra"

// extraCommands are the service, plugin and image commands.
func extraCommands() []*cobra.Command {
	return append([]*cobra.Command{newServiceCmd(), newPluginCmd(), newImageCmd()}, autolockCommands()...)
}
