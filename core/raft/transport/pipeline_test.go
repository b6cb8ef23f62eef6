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

// slowAnswer is a RaftService that reports each message the moment it
// arrives but answers a stream (after the sender closed it) only when the
// test lets it: the round trip a sender would wait for.
type slowAnswer struct {
	shoalv1connect.UnimplementedRaftServiceHandler
	got    chan uint64 // Commit of each message, as it arrives
	answer chan struct{}
}

func (s *slowAnswer) StreamRaftMessage(ctx context.Context, stream *connect.ClientStream[shoalv1.RaftMessageChunk]) (*connect.Response[shoalv1.StreamRaftMessageResponse], error) {
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
		s.got <- m.GetCommit()
	}
	select {
	case <-s.answer:
	case <-ctx.Done():
	}
	return connect.NewResponse(&shoalv1.StreamRaftMessageResponse{}), nil
}

// TestSendsDoNotWaitForThePeersAnswer shows a peer's messages are not
// serialised behind the answer to earlier ones: messages queued one at a
// time, each after the previous one arrived, all reach a peer that has not
// answered anything yet. (A sender that opens a stream per batch and awaits
// its answer delivers only the first until the answer comes.)
func TestSendsDoNotWaitForThePeersAnswer(t *testing.T) {
	const n = 20
	svc := &slowAnswer{got: make(chan uint64, n), answer: make(chan struct{})}
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
	// SendTimeout is far above the test's limit, so a sender that waits for
	// answers cannot pass by giving up and resending on a new stream.
	tr := transport.New(transport.Options{SendTimeout: time.Minute, Client: func(addr string) shoalv1connect.RaftServiceClient {
		return shoalv1connect.NewRaftServiceClient(hc, "http://"+addr)
	}})
	tr.Start(&recorder{})
	tr.SetPeers(map[uint64]string{1: ln.Addr().String()})
	t.Cleanup(func() {
		close(svc.answer)
		tr.Stop()
		_ = srv.Close()
		hc.CloseIdleConnections()
	})
	const limit = 20 * time.Second
	deadline := time.After(limit)
	for seq := uint64(1); seq <= n; seq++ {
		tr.Send([]*pb.Message{{Type: pb.MsgApp.Enum(), From: proto.Uint64(2), To: proto.Uint64(1), Commit: proto.Uint64(seq)}})
		select {
		case got := <-svc.got:
			if got != seq {
				t.Fatalf("message %d arrived when %d was expected", got, seq)
			}
		case <-deadline:
			t.Fatalf("message %d of %d not delivered within %v while the peer withheld its answer to earlier messages", seq, n, limit)
		}
	}
}

// stuckReader is a RaftService that reads the first chunk of a stream and
// then stops reading, as a peer wedged in Step does; its connection stays
// healthy (it answers pings).
type stuckReader struct {
	shoalv1connect.UnimplementedRaftServiceHandler
	streams chan struct{}
}

func (s *stuckReader) StreamRaftMessage(ctx context.Context, stream *connect.ClientStream[shoalv1.RaftMessageChunk]) (*connect.Response[shoalv1.StreamRaftMessageResponse], error) {
	stream.Receive()
	s.streams <- struct{}{}
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestStalledStreamIsCancelledAndRetried shows a send that a peer's full
// flow-control window blocks gives up after SendTimeout: raft hears the
// peer is unreachable and the sender starts a new stream, though the
// connection itself is healthy.
func TestStalledStreamIsCancelledAndRetried(t *testing.T) {
	svc := &stuckReader{streams: make(chan struct{}, 100)}
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
	rec := &recorder{}
	tr := transport.New(transport.Options{SendTimeout: 300 * time.Millisecond, Client: func(addr string) shoalv1connect.RaftServiceClient {
		return shoalv1connect.NewRaftServiceClient(hc, "http://"+addr)
	}})
	tr.Start(rec)
	tr.SetPeers(map[uint64]string{1: ln.Addr().String()})
	t.Cleanup(func() {
		tr.Stop()
		_ = srv.Close()
		hc.CloseIdleConnections()
	})
	// 16 MiB in 256 KiB messages: far more than HTTP/2's windows hold.
	entry := make([]byte, 256<<10)
	for i := range uint64(64) {
		tr.Send([]*pb.Message{{Type: pb.MsgApp.Enum(), From: proto.Uint64(2), To: proto.Uint64(1), Commit: proto.Uint64(i), Entries: []*pb.Entry{{Data: entry}}}})
	}
	within(t, "unreachable report after a stalled send", 30*time.Second, func() bool { return rec.count() > 0 })
	for range 2 { // the first stream and the one after the retry
		select {
		case <-svc.streams:
		case <-time.After(30 * time.Second):
			t.Fatal("no new stream after the stalled one was given up")
		}
	}
}
