// Package filter owns scheduling feasibility: parsing placement
// constraints, deciding whether a task of a group may go on a node given the
// resources and counts left in the current batch, and explaining why a group
// found no node. Schedulers use it to choose; the plugin host uses it to
// check a plugin's answer. Kept holds a Cluster between the calls of a
// guest that keeps its node table (sdk.RegisterKeptScheduler), refreshing
// only the rows that changed. It is pure: no I/O, clocks or randomness.
package filter
