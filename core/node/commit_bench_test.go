package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// commitSamples is how many serial writes (and as many fdatasyncs) one
// iteration of BenchmarkCommitVsFdatasync measures.
const commitSamples = 300

// BenchmarkCommitVsFdatasync measures, in one run and on the disk the
// managers keep their data on, the floor and what shoal makes of it:
//
//   - fdatasync-append: write 4 KiB at the end of a file, then fdatasync
//     (what any log append costs: the file grows);
//   - fdatasync-overwrite: overwrite 4 KiB of an already written file, then
//     fdatasync (no size change: the lowest cost of a durable 4 KiB write);
//   - fdatasync-pair: the same overwrite of two files at once, from two
//     goroutines, until both are durable: what two managers' logs on this
//     one disk pay at least, since a commit needs two durable copies and
//     the disk serializes their flushes (RATIONALE.md, "Writes near the
//     disk's floor");
//   - commit: one committed write (store.Update creating one object) on the
//     leader of 3 real managers (mutual TLS on loopback, Raft, on-disk
//     logs), one at a time;
//
// the four interleaved sample by sample so machine noise hits them alike,
// each reported as p50 and p99 in µs, plus the p50 ratio of commit to each
// floor; then writes/s with 64 concurrent writers (group commit). The
// issue's target is commit/overwrite-p50.
func BenchmarkCommitVsFdatasync(b *testing.B) {
	nodes := testCluster(b, 3)
	st := leaderOf(b, nodes).Manager().Store()
	ctx := context.Background()
	dir := filepath.Dir(nodes[0].cfg.DataDir) // the managers' data directories are beside it
	app, err := os.OpenFile(filepath.Join(dir, "floor-append"), os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer app.Close()
	over, err := os.OpenFile(filepath.Join(dir, "floor-overwrite"), os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer over.Close()
	page := make([]byte, 4096)
	for i := range page {
		page[i] = byte(i)
	}
	var pair [2]*os.File
	for i := range pair {
		if pair[i], err = os.OpenFile(filepath.Join(dir, fmt.Sprintf("floor-pair%d", i)), os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o600); err != nil {
			b.Fatal(err)
		}
		defer pair[i].Close()
	}
	for _, f := range []*os.File{over, pair[0], pair[1]} {
		if _, err := f.Write(make([]byte, commitSamples*len(page))); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	// overwritePair overwrites block i of both pair files at once and
	// returns when both are durable.
	overwritePair := func(i int) error {
		var errs [2]error
		var wg sync.WaitGroup
		for k, f := range pair {
			wg.Go(func() {
				if _, err := f.WriteAt(page, int64(i*len(page))); err != nil {
					errs[k] = err
					return
				}
				errs[k] = unix.Fdatasync(int(f.Fd()))
			})
		}
		wg.Wait()
		return errors.Join(errs[:]...)
	}
	write := func(id string) error {
		return st.Update(ctx, func(tx store.Tx) error {
			return tx.Create(&shoalv1.Network{Id: id, Spec: &shoalv1.NetworkSpec{Name: id}})
		})
	}
	// Warm up: connections, the leader's first entries.
	for i := range 20 {
		if err := write(fmt.Sprintf("warm%d", i)); err != nil {
			b.Fatal(err)
		}
	}
	var appD, overD, pairD, commitD []time.Duration
	b.ResetTimer()
	for it := range b.N {
		if _, err := app.Seek(0, 0); err != nil {
			b.Fatal(err)
		}
		if err := app.Truncate(0); err != nil {
			b.Fatal(err)
		}
		for i := range commitSamples {
			t0 := time.Now()
			if _, err := app.Write(page); err != nil {
				b.Fatal(err)
			}
			if err := unix.Fdatasync(int(app.Fd())); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if _, err := over.WriteAt(page, int64(i*len(page))); err != nil {
				b.Fatal(err)
			}
			if err := unix.Fdatasync(int(over.Fd())); err != nil {
				b.Fatal(err)
			}
			t2 := time.Now()
			if err := overwritePair(i); err != nil {
				b.Fatal(err)
			}
			t3 := time.Now()
			if err := write(fmt.Sprintf("s%d-%d", it, i)); err != nil {
				b.Fatal(err)
			}
			t4 := time.Now()
			appD = append(appD, t1.Sub(t0))
			overD = append(overD, t2.Sub(t1))
			pairD = append(pairD, t3.Sub(t2))
			commitD = append(commitD, t4.Sub(t3))
		}
	}
	b.StopTimer()
	p := func(d []time.Duration, q int) float64 {
		s := slices.Clone(d)
		slices.Sort(s)
		return float64(s[(len(s)-1)*q/100]) / float64(time.Microsecond)
	}
	b.ReportMetric(p(appD, 50), "fdatasync-append-p50-µs")
	b.ReportMetric(p(appD, 99), "fdatasync-append-p99-µs")
	b.ReportMetric(p(overD, 50), "fdatasync-overwrite-p50-µs")
	b.ReportMetric(p(overD, 99), "fdatasync-overwrite-p99-µs")
	b.ReportMetric(p(pairD, 50), "fdatasync-pair-p50-µs")
	b.ReportMetric(p(pairD, 99), "fdatasync-pair-p99-µs")
	b.ReportMetric(p(commitD, 50), "commit-p50-µs")
	b.ReportMetric(p(commitD, 99), "commit-p99-µs")
	b.ReportMetric(p(commitD, 50)/p(appD, 50), "commit/append-p50")
	b.ReportMetric(p(commitD, 50)/p(overD, 50), "commit/overwrite-p50")
	b.ReportMetric(p(commitD, 50)/p(pairD, 50), "commit/pair-p50")

	// Throughput with 64 concurrent writers. Store.Update serializes its
	// callers (one read-modify-write at a time), so they propose straight
	// to the leader's Raft node: what Batch, the dispatcher and the other
	// components that write side by side put on Raft.
	rn := leaderOf(b, nodes).Manager().Raft()
	const writers, perWriter = 64, 100
	payload, err := proto.Marshal(&shoalv1.StoreRequest{}) // applies as a no-op
	if err != nil {
		b.Fatal(err)
	}
	var failed atomic.Value
	var wg sync.WaitGroup
	t0 := time.Now()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perWriter {
				if err := rn.Propose(ctx, payload); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(writers*perWriter)/time.Since(t0).Seconds(), "writes/s-64-writers")
	b.ReportMetric(0, "ns/op")
}
