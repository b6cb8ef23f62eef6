package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"connectrpc.com/connect"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-project/shoal/core/raft"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
)

// LeaderHeader is the response metadata key carrying the leader's address
// when a leader-only RPC reaches a follower.
const LeaderHeader = "Shoal-Raft-Leader"

// RemovedHeader is set on the error answering a message from a removed member.
const RemovedHeader = "Shoal-Raft-Removed"

// DefaultMaxMessageSize bounds one reassembled message (a snapshot).
const DefaultMaxMessageSize = 1 << 30

// Node is what the Handler needs from the raft node; *raft.Node implements it.
type Node interface {
	Step(ctx context.Context, m *pb.Message) error
	AddMember(ctx context.Context, nodeID, addr string) (uint64, []raft.Member, error)
	RemoveMember(ctx context.Context, raftID uint64) error
	Members() []raft.Member
	Leader() (raftID uint64, addr string)
	// WasRemoved reports whether member raftID was removed from the group.
	WasRemoved(raftID uint64) bool
}

// HandlerOptions configures a Handler.
type HandlerOptions struct {
	// NodeID returns the verified node ID of the caller (from its client
	// certificate, put in the context by the HTTP layer). Join needs it;
	// Leave uses it to allow a member to remove only itself. Nil rejects Join.
	NodeID func(ctx context.Context) (string, error)
	// MaxMessageSize bounds one reassembled message (default 1 GiB).
	MaxMessageSize int
	Logger         *slog.Logger
}

// Handler implements shoalv1connect.RaftServiceHandler.
type Handler struct {
	node Node
	opts HandlerOptions
	log  *slog.Logger
	connState
}

var _ shoalv1connect.RaftServiceHandler = (*Handler)(nil)

// NewHandler returns the RaftService handler for node.
func NewHandler(node Node, opts HandlerOptions) *Handler {
	if opts.MaxMessageSize <= 0 {
		opts.MaxMessageSize = DefaultMaxMessageSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{node: node, opts: opts, log: opts.Logger}
}

// StreamRaftMessage reassembles chunks and steps each complete message.
// Out-of-order, mismatched, oversized or unfinished chunks fail the stream
// with InvalidArgument; messages completed before that were stepped.
func (h *Handler) StreamRaftMessage(ctx context.Context, stream *connect.ClientStream[shoalv1.RaftMessageChunk]) (*connect.Response[shoalv1.StreamRaftMessageResponse], error) {
	re := NewReassembler(h.opts.MaxMessageSize)
	for stream.Receive() {
		c := stream.Msg()
		data, complete, err := re.Add(c)
		if err != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, err)
		}
		if !complete {
			continue
		}
		m := &pb.Message{}
		if err := proto.Unmarshal(data, m); err != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("transport: bad raft message: %w", err))
		}
		if m.GetFrom() != re.From() {
			return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("transport: message from %x in chunks from %x", m.GetFrom(), re.From()))
		}
		if err := h.node.Step(ctx, m); err != nil {
			return nil, toConnect(err, h.node)
		}
	}
	if err := stream.Err(); err != nil {
		return nil, err
	}
	if re.Pending() {
		return nil, connect.NewError(connect.CodeInvalidArgument, ErrChunkIncomplete)
	}
	return connect.NewResponse(&shoalv1.StreamRaftMessageResponse{}), nil
}

// Join adds the calling manager (identified by HandlerOptions.NodeID) at
// req.Addr. Served by the leader; followers answer FailedPrecondition with
// the leader's address in the LeaderHeader metadata.
func (h *Handler) Join(ctx context.Context, req *connect.Request[shoalv1.JoinRequest]) (*connect.Response[shoalv1.JoinResponse], error) {
	if h.opts.NodeID == nil {
		return nil, connect.NewError(connect.CodePermissionDenied, errors.New("transport: join needs a caller identity"))
	}
	nodeID, err := h.opts.NodeID(ctx)
	if err != nil {
		return nil, connect.NewError(connect.CodePermissionDenied, err)
	}
	if req.Msg.GetAddr() == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("transport: join needs an address"))
	}
	id, members, err := h.node.AddMember(ctx, nodeID, req.Msg.GetAddr())
	if err != nil {
		return nil, toConnect(err, h.node)
	}
	resp := &shoalv1.JoinResponse{RaftId: id}
	for _, m := range members {
		resp.Members = append(resp.Members, &shoalv1.RaftMember{RaftId: m.RaftID, NodeId: m.NodeID, Addr: m.Addr})
	}
	h.log.Info("transport: member joined", "node_id", nodeID, "raft_id", id, "addr", req.Msg.GetAddr())
	return connect.NewResponse(resp), nil
}

// Leave removes req.Member (by Raft ID). With HandlerOptions.NodeID set, a
// caller may only remove itself.
func (h *Handler) Leave(ctx context.Context, req *connect.Request[shoalv1.LeaveRequest]) (*connect.Response[shoalv1.LeaveResponse], error) {
	id := req.Msg.GetMember().GetRaftId()
	if id == 0 {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("transport: leave needs a raft ID"))
	}
	if h.opts.NodeID != nil {
		caller, err := h.opts.NodeID(ctx)
		if err != nil {
			return nil, connect.NewError(connect.CodePermissionDenied, err)
		}
		for _, m := range h.node.Members() {
			if m.RaftID == id && m.NodeID != caller {
				return nil, connect.NewError(connect.CodePermissionDenied, fmt.Errorf("transport: node %s may not remove member %x (node %s)", caller, id, m.NodeID))
			}
		}
	}
	if err := h.node.RemoveMember(ctx, id); err != nil {
		return nil, toConnect(err, h.node)
	}
	return connect.NewResponse(&shoalv1.LeaveResponse{}), nil
}

// ResolveAddress returns a member's address; for a removed member it
// answers like Step does to its messages (PermissionDenied with
// RemovedHeader), which is how a member that hears from no one asks
// whether it was removed (Transport.ProbeRemoved).
func (h *Handler) ResolveAddress(_ context.Context, req *connect.Request[shoalv1.ResolveAddressRequest]) (*connect.Response[shoalv1.ResolveAddressResponse], error) {
	if id := req.Msg.GetRaftId(); h.node.WasRemoved(id) {
		return nil, toConnect(fmt.Errorf("%w: %x", raft.ErrRemovedMember, id), h.node)
	}
	for _, m := range h.node.Members() {
		if m.RaftID == req.Msg.GetRaftId() {
			return connect.NewResponse(&shoalv1.ResolveAddressResponse{Addr: m.Addr}), nil
		}
	}
	return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("%w: %x", raft.ErrMemberNotFound, req.Msg.GetRaftId()))
}

func toConnect(err error, n Node) error {
	code := connect.CodeInternal
	switch {
	case errors.Is(err, raft.ErrNotLeader):
		code = connect.CodeFailedPrecondition
	case errors.Is(err, raft.ErrCannotRemoveMember), errors.Is(err, raft.ErrCannotAddMember),
		errors.Is(err, raft.ErrLastManager), errors.Is(err, raft.ErrConfChangeInProgress),
		errors.Is(err, raft.ErrLearner):
		code = connect.CodeFailedPrecondition
	case errors.Is(err, raft.ErrRemovedMember):
		code = connect.CodePermissionDenied
	case errors.Is(err, raft.ErrMemberNotFound):
		code = connect.CodeNotFound
	case errors.Is(err, raft.ErrMemberExists):
		code = connect.CodeAlreadyExists
	case errors.Is(err, raft.ErrStopped), errors.Is(err, raft.ErrRemoved), errors.Is(err, raft.ErrLeadershipLost):
		code = connect.CodeUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		code = connect.CodeDeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = connect.CodeCanceled
	}
	ce := connect.NewError(code, err)
	if errors.Is(err, raft.ErrRemovedMember) {
		ce.Meta().Set(RemovedHeader, "1")
	}
	if errors.Is(err, raft.ErrNotLeader) {
		if _, addr := n.Leader(); addr != "" {
			ce.Meta().Set(LeaderHeader, addr)
		}
	}
	return ce
}

// JoinCluster calls Join on a manager and converts the answer for raft.Join.
// On ErrNotLeader-like answers the returned error carries the leader's
// address (LeaderFromError).
func JoinCluster(ctx context.Context, c shoalv1connect.RaftServiceClient, addr string) (raftID uint64, members []raft.Member, err error) {
	resp, err := c.Join(ctx, connect.NewRequest(&shoalv1.JoinRequest{Addr: addr}))
	if err != nil {
		return 0, nil, err
	}
	for _, m := range resp.Msg.GetMembers() {
		members = append(members, raft.Member{RaftID: m.GetRaftId(), NodeID: m.GetNodeId(), Addr: m.GetAddr()})
	}
	return resp.Msg.GetRaftId(), members, nil
}

// LeaderFromError returns the leader address a follower put in its error.
func LeaderFromError(err error) string {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Meta().Get(LeaderHeader)
	}
	return ""
}
