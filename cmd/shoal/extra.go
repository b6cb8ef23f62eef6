package main

import "github.com/spf13/cobra"

// extraCommands are the service, plugin, image, secret, config and events commands.
func extraCommands() []*cobra.Command {
	return append([]*cobra.Command{newServiceCmd(), newPluginCmd(), newImageCmd(), newSecretCmd(), newConfigCmd(), newEventsCmd()}, autolockCommands()...)
}
