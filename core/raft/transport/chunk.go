package transport

import (
	"errors"
	"fmt"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// Chunking errors. The receiver rejects the whole stream on any of them.
var (
	ErrChunkOrder      = errors.New("transport: chunk out of order")
	ErrChunkIncomplete = errors.New("transport: stream ended inside a chunked message")
	ErrMessageTooLarge = errors.New("transport: message too large")
)

// Split cuts one marshalled message into chunks of at most size bytes
// (at least one chunk, even for empty data).
func Split(from uint64, data []byte, size int) []*shoalv1.RaftMessageChunk {
	if size <= 0 {
		size = DefaultChunkSize
	}
	total := max(1, (len(data)+size-1)/size)
	out := make([]*shoalv1.RaftMessageChunk, 0, total)
	for i := range total {
		end := min((i+1)*size, len(data))
		out = append(out, &shoalv1.RaftMessageChunk{
			Data:  data[i*size : end],
			Index: uint32(i),
			Total: uint32(total),
			From:  from,
		})
	}
	return out
}

// Reassembler joins the chunks of consecutive messages on one stream. The
// chunks of a message must arrive with index 0, 1, ... total-1, all with the
// same total and sender, before the next message starts.
type Reassembler struct {
	max   int
	from  uint64
	total uint32
	next  uint32
	buf   []byte
}

// NewReassembler returns a Reassembler that refuses messages larger than maxBytes.
func NewReassembler(maxBytes int) *Reassembler { return &Reassembler{max: maxBytes} }

// Add consumes one chunk. It returns the message bytes when c completes one.
func (r *Reassembler) Add(c *shoalv1.RaftMessageChunk) (msg []byte, complete bool, err error) {
	if r.next == 0 {
		if c.GetIndex() != 0 || c.GetTotal() == 0 {
			return nil, false, fmt.Errorf("%w: got chunk %d of %d, want the first", ErrChunkOrder, c.GetIndex(), c.GetTotal())
		}
		r.total, r.from = c.GetTotal(), c.GetFrom()
		r.buf = nil
	} else if c.GetIndex() != r.next || c.GetTotal() != r.total || c.GetFrom() != r.from {
		return nil, false, fmt.Errorf("%w: got chunk %d of %d from %x, want %d of %d from %x",
			ErrChunkOrder, c.GetIndex(), c.GetTotal(), c.GetFrom(), r.next, r.total, r.from)
	}
	if len(r.buf)+len(c.GetData()) > r.max {
		return nil, false, fmt.Errorf("%w: over %d bytes", ErrMessageTooLarge, r.max)
	}
	if r.total == 1 {
		r.next = 0
		return c.GetData(), true, nil
	}
	r.buf = append(r.buf, c.GetData()...)
	r.next++
	if r.next < r.total {
		return nil, false, nil
	}
	msg, r.buf, r.next = r.buf, nil, 0
	return msg, true, nil
}

// Pending reports whether a message has started but not finished.
func (r *Reassembler) Pending() bool { return r.next != 0 }

// From returns the sender of the message being (or last) assembled.
func (r *Reassembler) From() uint64 { return r.from }
