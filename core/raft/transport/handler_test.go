package transport_test

import (
	"context"
	"net"
	"net/http"
	"sync"
	"testing"

	"connectrpc.com/connect"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-project/shoal/core/raft"
	"github.com/shoal-project/shoal/core/raft/transport"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
)

type fakeNode struct {
	mu    sync.Mutex
	steps []*pb.Message
}

func (f *fakeNode) Step(_ context.Context, m *pb.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.steps = append(f.steps, m)
	return nil
}
func (f *fakeNode) AddMember(context.Context, string, string) (uint64, []raft.Member, error) {
	return 0, nil, raft.ErrNotLeader
}
func (f *fakeNode) RemoveMember(context.Context, uint64) error { return raft.ErrNotLeader }
func (f *fakeNode) Members() []raft.Member                     { return nil }
func (f *fakeNode) Leader() (uint64, string)                   { return 9, "leader:1" }
func (f *fakeNode) WasRemoved(uint64) bool                     { return false }

func (f *fakeNode) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.steps)
}

func TestHandlerRejectsBadChunkStreams(t *testing.T) {
	fn := &fakeNode{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(shoalv1connect.NewRaftServiceHandler(transport.NewHandler(fn, transport.HandlerOptions{MaxMessageSize: 1 << 16})))
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: mux, Protocols: &p}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	client := shoalv1connect.NewRaftServiceClient(transport.NewHTTPClient(nil), "http://"+ln.Addr().String())

	msg, _ := proto.Marshal(&pb.Message{Type: pb.MsgHeartbeat.Enum(), From: proto.Uint64(3), To: proto.Uint64(1), Context: make([]byte, 100)})
	good := transport.Split(3, msg, 16)
	send := func(chunks []*shoalv1.RaftMessageChunk) error {
		s := client.StreamRaftMessage(context.Background())
		for _, c := range chunks {
			if err := s.Send(c); err != nil {
				break
			}
		}
		_, err := s.CloseAndReceive()
		return err
	}
	if err := send(good); err != nil {
		t.Fatalf("good stream: %v", err)
	}
	if fn.count() != 1 {
		t.Fatalf("stepped %d messages, want 1", fn.count())
	}
	tests := map[string][]*shoalv1.RaftMessageChunk{
		"incomplete":   good[:len(good)-1],
		"out of order": append([]*shoalv1.RaftMessageChunk{good[1]}, good[0]),
		"wrong sender": transport.Split(4, msg, 16),
		"garbage":      transport.Split(3, []byte{0xff, 0xff, 0xff}, 16),
		"too large":    transport.Split(3, make([]byte, 1<<17), 1<<12),
	}
	for name, chunks := range tests {
		if err := send(chunks); connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("%s: got %v, want InvalidArgument", name, err)
		}
	}
	if fn.count() != 1 {
		t.Fatalf("bad streams stepped messages: %d", fn.count())
	}
	_, err = client.Join(context.Background(), connect.NewRequest(&shoalv1.JoinRequest{Addr: "x:1"}))
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("join without identity: %v", err)
	}
}
