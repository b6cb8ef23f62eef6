// Command shoal is the shoal daemon (init, join, run) and its CLI. Only this
// package prints: it turns API answers into tables, JSON and progress, and
// errors into one line on stderr with a non-zero exit.
package main
