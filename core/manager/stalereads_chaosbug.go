//go:build chaosbug

package manager

// staleReads, built only with -tags chaosbug (e2e/chaos builds such a
// binary), makes every manager answer reads from its own store without the
// leader's ReadIndex: the planted bug that proves the chaos suite's checker
// can fail (TestPlantedStaleReadsAreCaught).
const staleReads = true
