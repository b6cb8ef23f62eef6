// Package logfile owns the on-disk format of a task's output log and the code
// that writes, rotates and reads it. Both runtime backends that keep task
// output on the node (runtime/process through its shim, runtime/containerd
// through its logging binary) use it, so `shoal service logs` sees the same
// records from either.
//
// A log is a Set: the current file <Dir>/<Name> and up to Keep old files
// <Name>.1 (the newest old one) ... <Name>.<Keep>. Each file holds records, one
// per line:
//
//	2006-01-02T15:04:05.000000000Z stdout <data>\n
//
// the time (UTC, RFC 3339 with nine fraction digits) the line was written, the
// stream ("stdout" or "stderr") and the line without its newline. Output is
// cut into records at newlines, and lines longer than MaxLineBytes are cut
// into several records, so data never holds '\n'.
//
// A Writer appends records and rotates by size (rename current -> .1 -> .2 ...,
// dropping the oldest). Stream reads a Set back: history (with a tail limit
// and a since filter) and, when following, new records as they are written,
// across rotations.
//
// This package only touches the files of the Sets it is given. It starts no
// processes and knows nothing of tasks, shims or containerd: callers say when
// the writer of a followed log has finished (the exited callback of Stream).
package logfile
