package containerd

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/v2/core/images/archive"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"

	"github.com/shoal-project/shoal/runtime"
)

const httpdCmd = "echo hello-$TASK > /www/index.html && exec httpd -f -p 8080 -h /www"

func TestHTTPDReplicasOnOwnAddresses(t *testing.T) {
	e := newEnv(t)
	b := e.backend()
	var ctrls []runtime.Controller
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, id := range []string{"web-1", "web-2", "web-3"} {
		wg.Add(1)
		go func() { // concurrent Prepare: one pull for both
			defer wg.Done()
			s := spec(id, "sh", "-c", httpdCmd)
			s.Env = []string{"TASK=" + id}
			c := run(t, b, s)
			mu.Lock()
			ctrls = append(ctrls, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(ctrls) != 3 {
		t.FailNow()
	}
	if n := b.pulled.Load(); n != 1 {
		t.Fatalf("image pulled %d times for 3 concurrent tasks, want 1", n)
	}
	seen := map[string]bool{}
	for _, c := range ctrls {
		st, err := c.Inspect(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if st.State != "running" || st.Pid == 0 || len(st.Addresses) != 1 {
			t.Fatalf("status = %+v, want running with one address", st)
		}
		addr := st.Addresses[0]
		if seen[addr] {
			t.Fatalf("address %s handed out twice", addr)
		}
		seen[addr] = true
		body := httpGet(t, "http://"+addr+":8080/index.html")
		if !strings.HasPrefix(body, "hello-web-") {
			t.Fatalf("body = %q", body)
		}
	}
	for _, c := range ctrls {
		remove(t, c)
	}
}

func TestEnvDirUserHostnameAndLogs(t *testing.T) {
	e := newEnv(t)
	b := e.backend()
	s := spec("envtest", "sh", "-c", `echo "env=$FOO dir=$(pwd) uid=$(id -u) host=$(hostname)"; echo second; echo third`)
	s.Env = []string{"FOO=bar baz"}
	s.Dir = "/tmp"
	s.User = "nobody"
	s.Hostname = "myhost"
	s.ReadOnlyRootfs = true
	tmp := t.TempDir()
	os.WriteFile(tmp+"/f", []byte("x"), 0o644)
	s.Mounts = []runtime.Mount{{Type: "bind", Source: tmp, Target: "/data", ReadOnly: true}, {Type: "tmpfs", Target: "/scratch", SizeBytes: 1 << 20}}
	c := run(t, b, s)
	st, err := c.Wait(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.State != "exited" || st.ExitCode != 0 || st.OOMKilled {
		t.Fatalf("status = %+v", st)
	}
	logs := collectLogs(t, c, runtime.LogOptions{Tail: -1})
	if want := "env=bar baz dir=/tmp uid=65534 host=myhost\nsecond\nthird\n"; logs != want {
		t.Fatalf("logs = %q, want %q", logs, want)
	}
	if tail := collectLogs(t, c, runtime.LogOptions{Tail: 1}); tail != "third\n" {
		t.Fatalf("tail 1 = %q", tail)
	}
	if f := collectLogs(t, c, runtime.LogOptions{Tail: 2, Follow: true}); f != "second\nthird\n" {
		t.Fatalf("follow of an exited task = %q", f)
	}
	remove(t, c)
}

func TestMountsAndReadOnlyRootfs(t *testing.T) {
	e := newEnv(t)
	b := e.backend()
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/in", []byte("from-host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := spec("mounts", "sh", "-c", `cat /data/in; echo ok > /scratch/x && cat /scratch/x; touch /rootfile 2>/dev/null && echo rootfs-writable || echo rootfs-ro`)
	s.ReadOnlyRootfs = true
	s.Mounts = []runtime.Mount{{Type: "bind", Source: dir, Target: "/data", ReadOnly: true}, {Type: "tmpfs", Target: "/scratch", SizeBytes: 1 << 20}}
	c := run(t, b, s)
	if _, err := c.Wait(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if got, want := collectLogs(t, c, runtime.LogOptions{Tail: -1}), "from-host\nok\nrootfs-ro\n"; got != want {
		t.Fatalf("logs = %q, want %q", got, want)
	}
	remove(t, c)
}

func TestStopGraceThenKill(t *testing.T) {
	e := newEnv(t)
	b := e.backend()
	// busybox httpd as PID 1 ignores SIGTERM: Stop must fall back to SIGKILL.
	deaf := run(t, b, spec("deaf", "httpd", "-f", "-p", "8080"))
	// a shell that traps SIGTERM exits by itself with 3.
	polite := run(t, b, spec("polite", "sh", "-c", `trap "exit 3" TERM; echo ready; while true; do sleep 0.1; done`))
	waitLog(t, polite, "ready")

	start := time.Now()
	if err := deaf.Stop(ctxT(t), time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("deaf task stopped after %v, before its grace", d)
	}
	st, err := deaf.Wait(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.ExitCode != 137 || st.OOMKilled {
		t.Fatalf("deaf status = %+v, want exit 137 without OOM", st)
	}
	if err := polite.Stop(ctxT(t), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	st, err = polite.Wait(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.ExitCode != 3 {
		t.Fatalf("polite status = %+v, want exit 3", st)
	}
	if err := polite.Stop(ctxT(t), time.Second); err != nil { // idempotent
		t.Fatal(err)
	}
	remove(t, deaf)
	remove(t, polite)
}

func waitLog(t testing.TB, c runtime.Controller, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(collectLogs(t, c, runtime.LogOptions{Tail: -1}), want) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("log line %q never appeared", want)
}

func TestMemoryLimitOOM(t *testing.T) {
	e := newEnv(t)
	b := e.backend()
	// The shell keeps the command substitution's 64 MiB output in memory.
	s := spec("oom", "sh", "-c", `x=$(head -c 67108864 /dev/zero | tr "\0" a); echo survived ${#x}`)
	s.Resources.MemoryBytes = 16 << 20
	c := run(t, b, s)
	st, err := c.Wait(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if !st.OOMKilled || st.State != "exited" || st.ExitCode != 137 {
		t.Fatalf("status = %+v, want OOM-killed exit 137; logs: %q", st, collectLogs(t, c, runtime.LogOptions{Tail: -1}))
	}
	st2, err := c.Inspect(ctxT(t))
	if err != nil || !st2.OOMKilled {
		t.Fatalf("inspect after OOM = %+v, %v", st2, err)
	}
	remove(t, c)
}

func TestHealthcheckFailureMakesUnhealthy(t *testing.T) {
	e := newEnv(t)
	b := e.backend()
	s := spec("sick", "sh", "-c", "touch /tmp/ok; sleep 600")
	s.Healthcheck = &runtime.Healthcheck{
		Test:     []string{"CMD-SHELL", "test -f /tmp/ok && rm /tmp/ok || { echo probe-says-no; exit 1; }"},
		Interval: 200 * time.Millisecond, Timeout: 5 * time.Second, Retries: 2,
	}
	s.StopGrace = 500 * time.Millisecond // sleep as PID 1 ignores SIGTERM
	c := run(t, b, s)
	st, err := c.Wait(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	// Stopped, so that it does not run on next to its replacement.
	if !st.Unhealthy || st.State != "exited" {
		t.Fatalf("status = %+v, want unhealthy and stopped", st)
	}
	if !strings.HasPrefix(st.Message, "health check failed: exit 1") || !strings.Contains(st.Message, "probe-says-no") {
		t.Fatalf("message = %q", st.Message)
	}
	remove(t, c)
}

func TestHealthcheckPassingKeepsWaiting(t *testing.T) {
	e := newEnv(t)
	b := e.backend()
	s := spec("fine", "sh", "-c", "sleep 3; exit 4")
	s.Healthcheck = &runtime.Healthcheck{Test: []string{"CMD", "true"}, Interval: 100 * time.Millisecond, Timeout: 5 * time.Second, Retries: 1}
	c := run(t, b, s)
	st, err := c.Wait(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.Unhealthy || st.ExitCode != 4 {
		t.Fatalf("status = %+v, want healthy exit 4", st)
	}
	remove(t, c)
}

func TestPrepareErrors(t *testing.T) {
	e := newEnv(t)
	b := e.backend()
	missing := "/definitely/not/here"
	tests := []struct {
		name    string
		mutate  func(*runtime.TaskSpec)
		want    error
		mention string
	}{
		{"unknown image", func(s *runtime.TaskSpec) { s.Image = testRegistry() + "/nope:latest" }, runtime.ErrImageNotFound, testRegistry() + "/nope:latest"},
		{"malformed reference", func(s *runtime.TaskSpec) { s.Image = "Not A/Valid::ref" }, runtime.ErrInvalidSpec, "Not A/Valid::ref"},
		{"registry down", func(s *runtime.TaskSpec) { s.Image = "127.0.0.1:5999/busybox:latest" }, runtime.ErrRegistryDown, "127.0.0.1:5999/busybox:latest"},
		{"relative mount target", func(s *runtime.TaskSpec) {
			s.Mounts = []runtime.Mount{{Type: "bind", Source: "/tmp", Target: "data"}}
		}, runtime.ErrInvalidSpec, `"data"`},
		{"missing bind source", func(s *runtime.TaskSpec) {
			s.Mounts = []runtime.Mount{{Type: "bind", Source: missing, Target: "/data"}}
		}, runtime.ErrInvalidSpec, missing},
		{"memory below 4 MiB", func(s *runtime.TaskSpec) { s.Resources.MemoryBytes = 1 << 20 }, runtime.ErrInvalidSpec, "4 MiB"},
		{"unknown user", func(s *runtime.TaskSpec) { s.User = "nosuchuser" }, runtime.ErrInvalidSpec, "nosuchuser"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := spec("bad-"+strings.ReplaceAll(tc.name, " ", "-"), "true")
			tc.mutate(s)
			c, err := b.Controller(s)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Prepare(ctxT(t))
			if !errors.Is(err, tc.want) {
				t.Fatalf("case %d: Prepare error = %v, want %v", i, err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("error %q does not mention %q", err, tc.mention)
			}
			if _, err := c.Inspect(ctxT(t)); !errors.Is(err, runtime.ErrNotFound) {
				t.Fatalf("after failed Prepare, Inspect = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestControllerRejectsOtherKinds(t *testing.T) {
	e := newEnv(t)
	b := e.backend()
	_, err := b.Controller(&runtime.TaskSpec{TaskID: "p1", Kind: runtime.KindProcess, Command: []string{"true"}})
	if !errors.Is(err, runtime.ErrUnsupported) {
		t.Fatalf("err = %v", err)
	}
}

func TestReadoptAfterRestart(t *testing.T) {
	e := newEnv(t)
	b1 := e.backend()
	s := spec("long", "sh", "-c", "echo up; echo adopted > /www/index.html; exec httpd -f -p 8080 -h /www")
	c1 := run(t, b1, s)
	st1, err := c1.Inspect(ctxT(t))
	if err != nil || st1.State != "running" {
		t.Fatalf("inspect = %+v, %v", st1, err)
	}
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}

	b2 := e.backend() // the restarted agent
	ids, err := b2.List(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []string{"long"}) {
		t.Fatalf("List = %v", ids)
	}
	c2, err := b2.Controller(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.Prepare(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if err := c2.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	st2, err := c2.Inspect(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if st2.State != "running" || st2.Pid != st1.Pid || !slices.Equal(st2.Addresses, st1.Addresses) || !st2.StartedAt.Equal(st1.StartedAt) {
		t.Fatalf("after re-adoption %+v, before %+v", st2, st1)
	}
	if body := httpGet(t, "http://"+st2.Addresses[0]+":8080/"); body != "adopted\n" {
		t.Fatalf("body = %q", body)
	}
	// A new task on the restarted backend must not get the adopted task's address.
	c3 := run(t, b2, spec("other", "sleep", "600"))
	st3, _ := c3.Inspect(ctxT(t))
	if slices.Equal(st3.Addresses, st2.Addresses) {
		t.Fatalf("address %v reused", st3.Addresses)
	}
	waitCh := make(chan runtime.Status, 1)
	go func() { st, _ := c2.Wait(ctxT(t)); waitCh <- st }()
	if err := c2.Stop(ctxT(t), time.Second); err != nil {
		t.Fatal(err)
	}
	if st := <-waitCh; st.State != "exited" || st.ExitCode != 137 {
		t.Fatalf("wait after stop = %+v", st)
	}
	if got := collectLogs(t, c2, runtime.LogOptions{Tail: -1}); got != "up\n" {
		t.Fatalf("logs = %q", got)
	}
	remove(t, c2)
	remove(t, c3)
}

func TestRemoveLeavesNothing(t *testing.T) {
	e := newEnv(t)
	b := e.backend()
	c := run(t, b, spec("gone", "sleep", "600"))
	st, _ := c.Inspect(ctxT(t))
	netns, veth := b.net.names("gone")
	if _, err := os.Stat(netnsPath(netns)); err != nil {
		t.Fatalf("netns missing while running: %v", err)
	}
	if !linkExists(veth) {
		t.Fatal("veth missing while running")
	}
	// Remove without Stop: must kill the task too.
	if err := c.Remove(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(ctxT(t)); err != nil { // idempotent
		t.Fatal(err)
	}
	ctx := namespaces.WithNamespace(ctxT(t), e.ns)
	if _, err := b.client.LoadContainer(ctx, "gone"); !errdefs.IsNotFound(err) {
		t.Fatalf("container still there: %v", err)
	}
	tl, err := b.client.TaskService().List(ctx, &tasks.ListTasksRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range tl.Tasks {
		if p.ID == "gone" {
			t.Fatalf("task still there: %+v", p)
		}
	}
	if _, err := b.client.SnapshotService(e.cfg.Snapshotter).Stat(ctx, "gone"); !errdefs.IsNotFound(err) {
		t.Fatalf("snapshot still there: %v", err)
	}
	if _, err := os.Stat(netnsPath(netns)); !os.IsNotExist(err) {
		t.Fatalf("netns still there: %v", err)
	}
	if linkExists(veth) {
		t.Fatal("veth still there")
	}
	if _, err := os.Stat(b.taskDir("gone")); !os.IsNotExist(err) {
		t.Fatalf("state dir still there: %v", err)
	}
	data, _ := os.ReadFile(e.stateDir + "/ipam.json")
	if bytes.Contains(data, []byte(st.Addresses[0]+`"`)) {
		t.Fatalf("address still allocated: %s", data)
	}
	if ids, _ := b.List(ctx); len(ids) != 0 {
		t.Fatalf("List = %v", ids)
	}
	if _, err := c.Inspect(ctxT(t)); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("inspect after remove = %v", err)
	}
}

func TestImportArchive(t *testing.T) {
	src := newEnv(t)
	bs := src.backend()
	ctx := namespaces.WithNamespace(ctxT(t), src.ns)
	img, err := bs.image(ctx, busybox())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := bs.client.Export(ctx, &buf, archive.WithImage(bs.client.ImageService(), img.Name()), archive.WithPlatform(platforms.Default())); err != nil {
		t.Fatal(err)
	}
	dst := newEnv(t)
	bd := dst.backend()
	names, err := bd.ImportArchive(ctxT(t), &buf)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(names, img.Name()) {
		t.Fatalf("imported %v, want %s", names, img.Name())
	}
	// Runs without any registry access: point the task at the imported name only.
	c := run(t, bd, spec("imported", "echo", "from-archive"))
	if st, err := c.Wait(ctxT(t)); err != nil || st.ExitCode != 0 {
		t.Fatalf("wait = %+v, %v", st, err)
	}
	remove(t, c)
}

func TestLogsFollowRunningTask(t *testing.T) {
	e := newEnv(t)
	b := e.backend()
	c := run(t, b, spec("chatty", "sh", "-c", `for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 0.3; done`))
	// Each stream keeps its order and its name (the logger reads the two pipes
	// independently, so they may interleave).
	outs, errs := splitStreams(t, collectLines(t, c, runtime.LogOptions{Tail: -1, Follow: true}))
	if !slices.Equal(outs, []string{"out1", "out2", "out3"}) || !slices.Equal(errs, []string{"err1", "err2", "err3"}) {
		t.Fatalf("followed logs: stdout %q, stderr %q", outs, errs)
	}
	remove(t, c)
}

func TestStartRecreatesVanishedNetns(t *testing.T) {
	e := newEnv(t)
	b := e.backend()
	s := spec("reboot", "sh", "-c", "echo rebooted > /www/index.html; exec httpd -f -p 8080 -h /www")
	c, err := b.Controller(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Prepare(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	before, _ := c.Inspect(ctxT(t))
	// What a host reboot does to a prepared, not yet started container.
	netns, _ := b.net.names("reboot")
	if err := ip(ctxT(t), "netns", "delete", netns); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	after, _ := c.Inspect(ctxT(t))
	if !slices.Equal(before.Addresses, after.Addresses) || after.State != "running" {
		t.Fatalf("before %+v after %+v", before, after)
	}
	if body := httpGet(t, "http://"+after.Addresses[0]+":8080/"); body != "rebooted\n" {
		t.Fatalf("body = %q", body)
	}
	remove(t, c)
}
