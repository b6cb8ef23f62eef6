package dashboard

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// upstream is a fake manager: it records what reached it and answers with
// the path it was asked for.
type upstream struct {
	srv  *httptest.Server
	seen chan *http.Request
}

func newUpstream(t *testing.T, h http.HandlerFunc) *upstream {
	u := &upstream{seen: make(chan *http.Request, 10)}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.seen <- r
		if h != nil {
			h(w, r)
			return
		}
		io.WriteString(w, "manager:"+r.URL.Path)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func newDashboard(t *testing.T, u *upstream, hosts ...string) *httptest.Server {
	base, err := url.Parse(u.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	h := Handler(Config{
		Assets:    fstest.MapFS{"index.html": {Data: []byte("<title>shoal</title>")}, "app.js": {Data: []byte("app")}},
		Manager:   base,
		Transport: u.srv.Client().Transport,
		Hosts:     hosts,
		Logger:    slog.New(slog.DiscardHandler),
	})
	d := httptest.NewServer(h)
	t.Cleanup(d.Close)
	return d
}

func do(t *testing.T, method, target string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, target, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestAPICallsAreForwardedAndAssetsServed(t *testing.T) {
	u := newUpstream(t, nil)
	d := newDashboard(t, u)
	tests := []struct {
		name, method, path string
		wantCode           int
		wantBody           string // prefix
	}{
		{"control service", "POST", "/shoal.v1.ControlService/ListNodes", 200, "manager:/shoal.v1.ControlService/ListNodes"},
		{"health for probes", "POST", "/grpc.health.v1.Health/Check", 200, "manager:/grpc.health.v1.Health/Check"},
		{"reflection", "POST", "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", 200, "manager:"},
		{"page", "GET", "/", 200, "<title>shoal</title>"},
		{"script", "GET", "/app.js", 200, "app"},
		{"raft is not forwarded", "POST", "/shoal.v1.RaftService/Step", 405, "the dashboard serves only GET"},
		{"CA is not forwarded", "GET", "/shoal.v1.CAService/GetRootCA", 404, "404"},
		{"no way out of the prefix", "POST", "/shoal.v1.ControlService/../shoal.v1.RaftService/Step", 405, "the dashboard serves only GET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := do(t, tt.method, d.URL+tt.path, nil)
			if code != tt.wantCode || !strings.HasPrefix(body, tt.wantBody) {
				t.Errorf("%s %s = %d %q, want %d %q...", tt.method, tt.path, code, body, tt.wantCode, tt.wantBody)
			}
		})
	}
	if n := len(u.seen); n != 3 {
		t.Errorf("manager saw %d requests, want the 3 API calls", n)
	}
}

func TestAManagerNotReachedIsABadGateway(t *testing.T) {
	u := newUpstream(t, nil)
	d := newDashboard(t, u)
	u.srv.Close()
	code, body := do(t, "POST", d.URL+"/shoal.v1.ControlService/ListNodes", nil)
	if code != http.StatusBadGateway || !strings.Contains(body, "manager not reached") {
		t.Errorf("with the manager gone: %d %q, want 502 saying the manager was not reached", code, body)
	}
}

func TestBrowserCookiesAndOriginDoNotReachTheManager(t *testing.T) {
	u := newUpstream(t, nil)
	d := newDashboard(t, u)
	host := strings.TrimPrefix(d.URL, "http://")
	code, body := do(t, "POST", d.URL+"/shoal.v1.ControlService/ListNodes",
		map[string]string{"Cookie": "a=b", "Origin": "http://" + host})
	if code != 200 {
		t.Fatalf("same-origin call = %d %s", code, body)
	}
	r := <-u.seen
	if r.Header.Get("Cookie") != "" || r.Header.Get("Origin") != "" {
		t.Errorf("forwarded headers %v carry the browser's Cookie or Origin", r.Header)
	}
}

func TestRequestsFromOtherHostsOrOriginsAreRefused(t *testing.T) {
	u := newUpstream(t, nil)
	d := newDashboard(t, u, "dash.example")
	port := d.URL[strings.LastIndex(d.URL, ":")+1:]
	tests := []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"127.0.0.1", map[string]string{"Host": "127.0.0.1:" + port}, 200},
		{"localhost", map[string]string{"Host": "localhost:" + port}, 200},
		{"::1", map[string]string{"Host": "[::1]:" + port}, 200},
		{"a configured host", map[string]string{"Host": "dash.example:" + port}, 200},
		{"a rebinding name", map[string]string{"Host": "evil.example:" + port}, 403},
		{"another site's page", map[string]string{"Origin": "http://evil.example"}, 403},
		{"another port on loopback", map[string]string{"Origin": "http://127.0.0.1:1"}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, body := do(t, "POST", d.URL+"/shoal.v1.ControlService/ListNodes", tt.header); code != tt.want {
				t.Errorf("status %d (%s), want %d", code, strings.TrimSpace(body), tt.want)
			}
		})
	}
}

// TestStreamsFlowAsTheyCome: a server stream's first message reaches the
// browser while the manager still holds the stream open (WatchEvents and
// logs --follow never end).
func TestStreamsFlowAsTheyCome(t *testing.T) {
	release := make(chan struct{})
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	d := newDashboard(t, u)
	res, err := http.Post(d.URL+"/shoal.v1.ControlService/WatchEvents", "application/connect+json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(res.Body).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		if s != "first\n" {
			t.Errorf("first line %q", s)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the stream's first message did not arrive while the stream was open")
	}
}

func TestCheckListen(t *testing.T) {
	tests := []struct {
		addr      string
		remote    bool
		wantHosts []string
		wantErr   string
	}{
		{"127.0.0.1:8080", false, nil, ""},
		{"[::1]:0", false, nil, ""},
		{"localhost:8080", false, nil, ""},
		{"10.0.0.5:8080", false, nil, "not a loopback address"},
		{"0.0.0.0:8080", false, nil, "not a loopback address"},
		{"10.0.0.5:8080", true, []string{"10.0.0.5"}, ""},
		{":8080", true, nil, "not every address"},
		{"0.0.0.0:8080", true, nil, "not every address"},
		{"8080", false, nil, "use host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			hosts, err := CheckListen(tt.addr, tt.remote)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("CheckListen(%q, %v) = %v, want error containing %q", tt.addr, tt.remote, err, tt.wantErr)
			}
			if strings.Join(hosts, ",") != strings.Join(tt.wantHosts, ",") {
				t.Errorf("hosts %v, want %v", hosts, tt.wantHosts)
			}
			if strings.Contains(tt.wantErr, "loopback") && !errors.Is(err, ErrNotLoopback) {
				t.Errorf("error %v is not ErrNotLoopback", err)
			}
		})
	}
}
