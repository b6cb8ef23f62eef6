package transport_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-project/shoal/core/raft/transport"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
)

// slowApps is a RaftService that reports the type of each message as it
// arrives and then, for a MsgApp, stops reading that stream until the test
// releases it: a peer still busy receiving a large append.
type slowApps struct {
	shoalv1connect.UnimplementedRaftServiceHandler
	got     chan pb.MessageType
	release chan struct{}
}

func (s *slowApps) StreamRaftMessage(ctx context.Context, stream *connect.ClientStream[shoalv1.RaftMessageChunk]) (*connect.Response[shoalv1.StreamRaftMessageResponse], error) {
	re := transport.NewReassembler(transport.DefaultMaxMessageSize)
	for stream.Receive() {
		data, complete, err := re.Add(stream.Msg())
		if err != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, err)
		}
		if !complete {
			continue
		}
		m := &pb.Message{}
		if err := proto.Unmarshal(data, m); err != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, err)
		}
		s.got <- m.GetType()
		if m.GetType() == pb.MsgApp {
			select {
			case <-s.release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	return connect.NewResponse(&shoalv1.StreamRaftMessageResponse{}), nil
}

// TestHeartbeatsDoNotWaitBehindAppends shows a heartbeat queued after an
// append that the peer is slow to take still arrives: heartbeats and
// appends travel on separate streams (lanes). On one stream per peer the
// heartbeat waits until the append is through, which under load was long
// enough for a follower to time its leader out (issue 14).
func TestHeartbeatsDoNotWaitBehindAppends(t *testing.T) {
	svc := &slowApps{got: make(chan pb.MessageType, 16), release: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(shoalv1connect.NewRaftServiceHandler(svc))
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: mux, Protocols: &p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	hc := transport.NewHTTPClient(nil)
	// SendTimeout is far above the test's limit: the stuck stream is not
	// given up and retried within it.
	tr := transport.New(transport.Options{SendTimeout: time.Minute, Client: func(addr string) shoalv1connect.RaftServiceClient {
		return shoalv1connect.NewRaftServiceClient(hc, "http://"+addr)
	}})
	tr.Start(&recorder{})
	tr.SetPeers(map[uint64]string{1: ln.Addr().String()})
	t.Cleanup(func() {
		close(svc.release)
		tr.Stop()
		_ = srv.Close()
		hc.CloseIdleConnections()
	})
	const limit = 20 * time.Second
	tr.Send([]*pb.Message{{Type: pb.MsgApp.Enum(), From: proto.Uint64(2), To: proto.Uint64(1), Entries: []*pb.Entry{{Data: make([]byte, 64<<10)}}}})
	expect(t, svc.got, pb.MsgApp, limit)
	tr.Send([]*pb.Message{
		{Type: pb.MsgApp.Enum(), From: proto.Uint64(2), To: proto.Uint64(1)},
		{Type: pb.MsgHeartbeat.Enum(), From: proto.Uint64(2), To: proto.Uint64(1)},
	})
	expect(t, svc.got, pb.MsgHeartbeat, limit)
}

func expect(t *testing.T, got <-chan pb.MessageType, want pb.MessageType, limit time.Duration) {
	t.Helper()
	select {
	case typ := <-got:
		if typ != want {
			t.Fatalf("got %v, want %v", typ, want)
		}
	case <-time.After(limit):
		t.Fatalf("no %v within %v while the peer was still taking an append", want, limit)
	}
}
